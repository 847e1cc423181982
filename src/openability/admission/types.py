"""The admission domain's enums and value objects (no ORM, no framework)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any


class ApplicationState(enum.StrEnum):
    """R-ADMIT-05: draft → submitted → underReview → approved | rejected | returned → contracted → active
    (returned goes back to submitted when the applicant resubmits; withdrawn ends a draft or a returned one)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "underReview"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"
    CONTRACTED = "contracted"
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


# States in which the applicant may still change the application and its materials.
EDITABLE = frozenset({ApplicationState.DRAFT, ApplicationState.RETURNED})
# States of an application that is still going somewhere (one per partner at a time).
OPEN = frozenset(
    {
        ApplicationState.DRAFT,
        ApplicationState.SUBMITTED,
        ApplicationState.UNDER_REVIEW,
        ApplicationState.RETURNED,
        ApplicationState.APPROVED,
        ApplicationState.CONTRACTED,
    }
)


class DocumentKind(enum.StrEnum):
    # R-ADMIT-01: the four certificates
    BUSINESS_LICENCE = "business_licence"  # 营业执照
    BANK_ACCOUNT_PERMIT = "bank_account_permit"  # 开户许可证
    TAX_REGISTRATION = "tax_registration"  # 税务登记证 (国税 or 地税)
    ORG_CODE_CERTIFICATE = "org_code_certificate"  # 组织机构代码证
    # R-ADMIT-03: the other materials
    BUSINESS_PLAN = "business_plan"  # 《产品商业计划书》
    RESOURCE_AUTHORIZATION = "resource_authorization"  # 资源授权证明或协议
    # seed §3.2: a local SI's local fixed customer and promotion resources
    LOCAL_CUSTOMER_EVIDENCE = "local_customer_evidence"
    LOCAL_PROMOTION_EVIDENCE = "local_promotion_evidence"


CERTIFICATES: tuple[DocumentKind, ...] = (
    DocumentKind.BUSINESS_LICENCE,
    DocumentKind.BANK_ACCOUNT_PERMIT,
    DocumentKind.TAX_REGISTRATION,
    DocumentKind.ORG_CODE_CERTIFICATE,
)


class ChecklistItem(enum.StrEnum):
    """R-ADMIT-04: the reviewer's judgements."""

    COMPLIANCE = "compliance"  # the business complies with information-service regulations
    INDUSTRY_EXPERTISE = "industry_expertise"  # industry understanding, technical and management team
    SERVICE_SYSTEM = "service_system"  # pre-, in- and after-sales service system


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"


class ContractState(enum.StrEnum):
    SIGNED = "signed"  # recorded, the SI not active yet
    IN_FORCE = "inForce"  # the SI is active under it
    SUPERSEDED = "superseded"  # renewed: a later contract replaced it
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the rules need of an uploaded document."""

    id: str
    kind: DocumentKind
    number: str
    issuer: str
    valid_from: date | None
    valid_to: date | None  # None: no expiry (e.g. a business plan)


@dataclass(frozen=True, slots=True)
class BanFacts:
    """An exit ban (R-EXIT-03) as the rules see it."""

    id: str
    credit_code: str | None
    company_name: str | None
    business_category: str | None  # None: the company itself is banned
    until: date
    reason: str


@dataclass(frozen=True, slots=True)
class ApplicationFacts:
    """What the automatic checks look at."""

    company_name: str
    branches: tuple[str, ...]
    credit_code: str | None
    registered_capital: Decimal | None
    product_kind: str  # standard | industry
    industry: str | None
    scope: str  # national | local
    intended_products: tuple[str, ...]
    needs_resource_authorization: bool
    local_customer_resources: str
    local_promotion_resources: str
    documents: tuple[DocumentFacts, ...]


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """One failed check: a stable code, the rule, and a reason the applicant can act on."""

    code: str
    rule: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "rule": self.rule, "message": self.message, **self.details}
