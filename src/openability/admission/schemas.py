"""Commands (requests) and views (responses) of admission. Shape checks here; business checks in rules.py.
JSON is camelCase (kernel.schemas.ApiModel); money is a plain decimal string."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StringConstraints,
    field_serializer,
    field_validator,
)

from openability.admission.types import (
    ApplicationState,
    CheckFailure,
    ChecklistItem,
    Decision,
    DocumentKind,
)
from openability.kernel.money import fmt, parse_money, to_decimal
from openability.kernel.schemas import ApiModel
from openability.partners.types import BillingMode, ProductKind, Scope, Tier

Str60 = Annotated[str, StringConstraints(max_length=60)]
Str100 = Annotated[str, StringConstraints(max_length=100)]
Str200 = Annotated[str, StringConstraints(max_length=200)]
Str300 = Annotated[str, StringConstraints(max_length=300)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]
BillingModeIn = Annotated[
    str,
    StringConstraints(max_length=20),
    Field(json_schema_extra={"enum": [m.value for m in BillingMode]}),  # the rule answers a bad value
]


def _money(v: Any, example: str = "1000000.00") -> Decimal | None:
    if v is None:
        return None
    d = to_decimal(v) if isinstance(v, Decimal) else parse_money(v, example=example)
    if d < 0:
        raise ValueError("cannot be negative")
    return d


class ApplicationFields(ApiModel):
    """The application's fields; on a PATCH only the ones given change."""

    credit_code: Str60 | None = None
    registered_capital: Decimal | None = None
    legal_representative: Str100 | None = None
    address: Str300 | None = None
    product_kind: ProductKind | None = None
    industry: Str60 | None = None
    scope: Scope | None = None
    intended_products: list[Str60] | None = Field(default=None, max_length=30)
    billing_mode: BillingModeIn | None = None
    needs_resource_authorization: StrictBool | None = None
    local_customer_resources: Text | None = None
    local_promotion_resources: Text | None = None

    @field_validator("registered_capital", mode="before")
    @classmethod
    def _capital(cls, v: Any) -> Decimal | None:
        return _money(v)


class ApplicationIn(ApplicationFields):
    """A new application of an applicant partner (operators name it)."""

    partner_id: Id | None = None


class RegisterApplicantIn(ApplicationFields):
    """SI applicant self-registration: the company name, the first (admin) user, the contact, and the
    application's fields so far."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    username: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    display_name: Str100 = ""
    contact_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    contact_email: Str200
    contact_phone: Annotated[str, StringConstraints(max_length=40)]

    def application_fields(self) -> ApplicationFields:
        names = set(ApplicationFields.model_fields) & self.model_fields_set
        return ApplicationFields.model_validate({n: getattr(self, n) for n in names})


class ChecklistIn(ApiModel):
    item: ChecklistItem
    passed: StrictBool
    comment: Annotated[str, StringConstraints(max_length=1000)] = ""


class ChecklistBody(ApiModel):
    items: list[ChecklistIn] = Field(min_length=1, max_length=10)


class DecisionIn(ApiModel):
    decision: Decision
    reason: Annotated[str, StringConstraints(max_length=1000)] = ""
    checklist: list[ChecklistIn] = Field(default_factory=list, max_length=10)


class ContractIn(ApiModel):
    number: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    billing_mode: BillingModeIn
    scope: Scope | None = None
    price_band: Tier = Tier.CERTIFIED
    deposit: Decimal | None = None
    agreed_payment: Decimal | None = None
    valid_from: date
    valid_to: date

    @field_validator("deposit", "agreed_payment", mode="before")
    @classmethod
    def _amount(cls, v: Any) -> Decimal | None:
        return _money(v, "50000.00")


class RenewIn(ApiModel):
    number: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    valid_from: date | None = None
    valid_to: date
    price_band: Tier | None = None


class BanIn(ApiModel):
    partner_id: Id | None = None
    credit_code: Str60 | None = None
    company_name: Str200 | None = None
    business_category: Str60 | None = None
    since: date | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=300)]


class TerminateIn(ApiModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    failed_assessment: StrictBool = False
    business_category: Str60 | None = None


class ReasonIn(ApiModel):
    reason: Annotated[str, StringConstraints(max_length=300)] = ""


# ---- views -------------------------------------------------------------------------------------


class View(ApiModel):
    model_config = ConfigDict(from_attributes=True)


class ApplicationOut(View):
    id: str
    partner_id: str
    state: ApplicationState
    company_name: str
    credit_code: str | None
    registered_capital: Decimal | None
    legal_representative: str
    address: str
    product_kind: str
    industry: str | None
    scope: str
    intended_products: list[str]
    billing_mode: str
    needs_resource_authorization: bool
    local_customer_resources: str
    local_promotion_resources: str
    reviewer_id: str | None
    decision: str | None
    decision_reason: str
    decided_by: str | None
    decided_at: datetime | None
    submitted_at: datetime | None
    activated_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @field_serializer("registered_capital")
    def _capital(self, v: Decimal | None) -> str | None:
        return fmt(v) if v is not None else None


class DocumentOut(View):
    id: str
    kind: DocumentKind | None
    number: str
    issuer: str
    valid_from: date | None
    valid_to: date | None
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    effective: bool = True


class CheckOut(ApiModel):
    code: str
    rule: str
    message: str
    details: dict[str, JsonValue] = Field(default_factory=dict)

    @classmethod
    def of(cls, f: CheckFailure) -> CheckOut:
        return cls(code=f.code, rule=f.rule, message=f.message, details=dict(f.details))


class ChecklistOut(View):
    item: ChecklistItem
    passed: bool
    comment: str
    reviewer_id: str
    reviewer_name: str
    at: datetime


class ContractOut(View):
    id: str
    number: str
    application_id: str
    partner_id: str
    state: str
    scope: str
    product_kind: str
    industry: str | None
    billing_mode: str
    price_band: str
    deposit: Decimal
    agreed_payment: Decimal
    valid_from: date
    valid_to: date
    renewed_from_id: str | None
    created_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None
    end_reason: str

    @field_serializer("deposit", "agreed_payment")
    def _amounts(self, v: Decimal) -> str:
        return fmt(v)


class HistoryOut(ApiModel):
    at: datetime
    action: str
    actor: str
    before: dict[str, JsonValue] | None
    after: dict[str, JsonValue] | None
    note: str | None


class ApplicationDetailOut(ApplicationOut):
    documents: list[DocumentOut]
    # the automatic checks on the application as it stands now (empty: all pass)
    checks: list[CheckOut]
    checklist: list[ChecklistOut]
    contracts: list[ContractOut]
    # contracted: what still stands between it and activation
    activation_blockers: list[CheckOut]
    history: list[HistoryOut]


class RegisteredApplicantOut(ApiModel):
    partner_id: str
    user_id: str
    application: ApplicationOut


class BanOut(View):
    id: str
    credit_code: str | None
    company_name: str | None
    business_category: str | None
    partner_id: str | None
    since: date
    until: date
    reason: str
    recorded_by: str
    created_at: datetime


class TerminatedOut(ApiModel):
    partner_id: str
    orders_cancelled: int


# ---- obligations (R-OBLIG-01..04) --------------------------------------------------------------


class ContactChangeIn(ApiModel):
    """The first interface contact (designated at once), or a change filed in advance."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    phone: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    email: Str200 = ""
    effective_at: AwareDatetime | None = None
    reason: Str300 = ""


class HandoverIn(ApiModel):
    note: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class ChangeNoticeIn(ApiModel):
    kind: Annotated[
        str,
        StringConstraints(max_length=30),
        Field(json_schema_extra={"enum": ["bank_account", "product_upgrade"]}),
    ]
    summary: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    effective_at: AwareDatetime


class ReportRequestIn(ApiModel):
    kind: Annotated[
        str,
        StringConstraints(max_length=40),
        Field(
            json_schema_extra={
                "enum": [
                    "business_analysis",
                    "contact_channel",
                    "customer_classification",
                    "customer_development",
                    "emergency_plan",
                    "other",
                    "security_check",
                    "usage_habits",
                ]
            }
        ),
    ]
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    due_at: AwareDatetime
    recurrence_months: int | None = Field(default=None, ge=1, le=24)


class PublicityDecisionIn(ApiModel):
    approve: StrictBool
    comment: Annotated[str, StringConstraints(max_length=1000)] = ""


class ContactOut(View):
    id: str
    partner_id: str
    state: str
    name: str
    phone: str
    email: str
    reason: str
    effective_at: datetime
    filed_at: datetime
    handover_note: str
    handover_at: datetime | None


class ChangeNoticeOut(View):
    id: str
    partner_id: str
    kind: str
    summary: str
    effective_at: datetime
    filed_at: datetime


class ReportOut(View):
    id: str
    partner_id: str
    kind: str
    title: str
    due_at: datetime
    recurrence_months: int | None
    state: str
    created_at: datetime
    submitted_at: datetime | None
    note: str
    overdue: bool = False
    late: bool = False


class PublicityOut(View):
    id: str
    partner_id: str
    title: str
    channel: str
    state: str
    filed_at: datetime
    decided_at: datetime | None
    comment: str


class ObligationsOut(ApiModel):
    contacts: list[ContactOut]
    change_notices: list[ChangeNoticeOut]
    reports: list[ReportOut]
    publicity: list[PublicityOut]
