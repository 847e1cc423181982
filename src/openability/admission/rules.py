"""Admission rules: pure functions, no I/O (R-ADMIT-01..05, R-PARTNER-02/03/04, R-EXIT-03, R-BILL-01).

The automatic checks return every failure at once (`CheckFailure`: a stable code, the rule and a reason
the applicant can act on) rather than stopping at the first, so one submission shows all that is missing.
Validation of single inputs (a file, a document's fields, contract terms) raises the kernel's errors."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from openability.admission.types import (
    CERTIFICATES,
    ApplicationFacts,
    ApplicationState,
    BanFacts,
    CheckFailure,
    ChecklistItem,
    DocumentFacts,
    DocumentKind,
)
from openability.kernel.errors import Conflict, InvalidArgument, PayloadTooLarge, RuleViolation
from openability.partners.rules import find_brand_word, fold_name

S = ApplicationState

CERTIFICATE_NAMES = {
    DocumentKind.BUSINESS_LICENCE: "business licence (营业执照)",
    DocumentKind.BANK_ACCOUNT_PERMIT: "bank account permit (开户许可证)",
    DocumentKind.TAX_REGISTRATION: "tax registration certificate (税务登记证)",
    DocumentKind.ORG_CODE_CERTIFICATE: "organization code certificate (组织机构代码证)",
}
# Kinds of which only the latest upload counts (a new upload replaces the earlier one); the others
# (resource authorizations, evidence) accumulate.
SINGLE_KINDS = frozenset({*CERTIFICATES, DocumentKind.BUSINESS_PLAN})

# ---- files -------------------------------------------------------------------------------------

# Magic bytes of the only accepted types: the client's Content-Type header is not trusted.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
ALLOWED_TYPES = frozenset(t for _, t in _MAGIC)
FILENAME_MAX = 120


def sniff_content_type(data: bytes) -> str | None:
    """The file's type by its first bytes: PDF, PNG or JPEG; None for anything else."""
    for magic, ctype in _MAGIC:
        if data.startswith(magic):
            return ctype
    return None


def check_file(data: bytes, max_bytes: int) -> str:
    """An uploaded document: not empty, at most `max_bytes`, a PDF, PNG or JPEG by content. Returns the
    sniffed content type."""
    if not data:
        raise InvalidArgument("the file is empty", code="DOCUMENT_EMPTY")
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"the file is larger than the limit of {max_bytes} bytes", code="DOCUMENT_TOO_LARGE"
        )
    ctype = sniff_content_type(data)
    if ctype is None:
        raise InvalidArgument(
            "only PDF, PNG and JPEG files are accepted (judged by the file's content)", code="DOCUMENT_TYPE"
        )
    return ctype


def check_filename(name: str) -> str:
    """The client's file name, kept as metadata only (the stored file gets a generated name). A name
    with a path in it (separators, '..'), control characters or nothing printable is refused."""
    raw = unicodedata.normalize("NFC", name or "")
    if not raw.strip():
        raise InvalidArgument("the file needs a name", code="DOCUMENT_NAME")
    if "/" in raw or "\\" in raw or ".." in raw or raw.strip().startswith("."):
        raise InvalidArgument(f"the file name {name[:80]!r} contains a path", code="DOCUMENT_NAME")
    if any(unicodedata.category(ch).startswith("C") for ch in raw):
        raise InvalidArgument("the file name contains control characters", code="DOCUMENT_NAME")
    cleaned = re.sub(r"\s+", " ", raw).strip()
    if len(cleaned) > FILENAME_MAX:
        raise InvalidArgument(f"the file name is longer than {FILENAME_MAX} characters", code="DOCUMENT_NAME")
    return cleaned


# ---- documents ---------------------------------------------------------------------------------


def check_document_fields(
    kind: DocumentKind, number: str, issuer: str, valid_from: date | None, valid_to: date | None
) -> tuple[str, str]:
    """R-ADMIT-01: a certificate has a number, an issuer and a validity period (from ≤ to). Other
    materials may leave them empty; dates given must still be in order. Returns (number, issuer)."""
    number = " ".join((number or "").split())
    issuer = " ".join((issuer or "").split())
    if len(number) > 80 or len(issuer) > 120:
        raise InvalidArgument("number: at most 80 characters, issuer: at most 120", code="DOCUMENT_FIELDS")
    if kind in CERTIFICATES:
        missing = [
            n
            for n, v in (
                ("number", number),
                ("issuer", issuer),
                ("validFrom", valid_from),
                ("validTo", valid_to),
            )
            if not v
        ]
        if missing:
            raise InvalidArgument(
                f"a {CERTIFICATE_NAMES[kind]} needs its {', '.join(missing)} (R-ADMIT-01)",
                code="DOCUMENT_FIELDS",
                details={"missing": missing},
            )
    if valid_from and valid_to and valid_to < valid_from:
        raise InvalidArgument("validTo is before validFrom", code="DOCUMENT_FIELDS")
    return number, issuer


def effective_documents(docs: Sequence[DocumentFacts]) -> list[DocumentFacts]:
    """The documents that count, in upload order (`docs` oldest first): the latest of each single kind
    (a renewed certificate replaces the old one), every one of the others."""
    latest: dict[DocumentKind, DocumentFacts] = {}
    many: list[DocumentFacts] = []
    for d in docs:
        if d.kind in SINGLE_KINDS:
            latest[d.kind] = d
        else:
            many.append(d)
    return [*latest.values(), *many]


def certificate_failures(docs: Sequence[DocumentFacts], on: date) -> list[CheckFailure]:
    """R-ADMIT-01: each of the four certificates present and valid on `on` (a certificate is valid
    through the end of its validTo day)."""
    have = {d.kind: d for d in effective_documents(docs) if d.kind in CERTIFICATES}
    out: list[CheckFailure] = []
    for kind in CERTIFICATES:
        name = CERTIFICATE_NAMES[kind]
        d = have.get(kind)
        if d is None:
            out.append(
                CheckFailure(
                    "CERTIFICATE_MISSING",
                    "R-ADMIT-01",
                    f"the {name} is missing: upload it with its number, issuer and validity dates",
                    {"kind": kind.value},
                )
            )
        elif d.valid_to is not None and d.valid_to < on:
            out.append(
                CheckFailure(
                    "CERTIFICATE_EXPIRED",
                    "R-ADMIT-01",
                    f"the {name} no. {d.number} expired on {d.valid_to.isoformat()}: upload the renewed one",
                    {"kind": kind.value, "documentId": d.id, "validTo": d.valid_to.isoformat()},
                )
            )
        elif d.valid_from is not None and d.valid_from > on:
            out.append(
                CheckFailure(
                    "CERTIFICATE_NOT_YET_VALID",
                    "R-ADMIT-01",
                    f"the {name} no. {d.number} is valid only from {d.valid_from.isoformat()}",
                    {"kind": kind.value, "documentId": d.id, "validFrom": d.valid_from.isoformat()},
                )
            )
    return out


def capital_failures(capital: Decimal | None, minimum: Decimal) -> list[CheckFailure]:
    """R-ADMIT-02: registered capital at least the minimum (a setting), the figures in the reason."""
    if capital is None:
        return [
            CheckFailure(
                "CAPITAL_MISSING",
                "R-ADMIT-02",
                f"state the registered capital (at least CNY {minimum:,.2f})",
                {"minimum": f"{minimum:.2f}"},
            )
        ]
    if capital < minimum:
        return [
            CheckFailure(
                "CAPITAL_TOO_LOW",
                "R-ADMIT-02",
                f"registered capital CNY {capital:,.2f} is below the minimum of CNY {minimum:,.2f}",
                {"registeredCapital": f"{capital:.2f}", "minimum": f"{minimum:.2f}"},
            )
        ]
    return []


def material_failures(facts: ApplicationFacts) -> list[CheckFailure]:
    """R-ADMIT-03: the product business plan, and resource authorization proofs where the business
    needs them (the application says whether it does)."""
    kinds = {d.kind for d in facts.documents}
    out: list[CheckFailure] = []
    if DocumentKind.BUSINESS_PLAN not in kinds:
        out.append(
            CheckFailure(
                "BUSINESS_PLAN_MISSING",
                "R-ADMIT-03",
                "the product business plan (《产品商业计划书》) is missing: upload it",
            )
        )
    if facts.needs_resource_authorization and DocumentKind.RESOURCE_AUTHORIZATION not in kinds:
        out.append(
            CheckFailure(
                "RESOURCE_AUTHORIZATION_MISSING",
                "R-ADMIT-03",
                "the business needs resources of others: upload their authorization proofs or agreements "
                "(content licences, authorization letters)",
            )
        )
    if not facts.intended_products:
        out.append(
            CheckFailure(
                "PRODUCTS_MISSING", "R-ADMIT-03", "name the capability products the business intends to use"
            )
        )
    return out


def brand_failures(name: str, branches: Iterable[str], words: Sequence[str]) -> list[CheckFailure]:
    """R-PARTNER-04: the company's and its branches' names carry no protected brand word."""
    out: list[CheckFailure] = []
    for what, n in (("company name", name), *(("branch name", b) for b in branches)):
        word = find_brand_word(n, words)
        if word is not None:
            out.append(
                CheckFailure(
                    "BRAND_WORD",
                    "R-PARTNER-04",
                    f"the {what} {n!r} contains the protected brand word {word!r}: rename it",
                    {"word": word, "field": what},
                )
            )
    return out


def classification_failures(facts: ApplicationFacts) -> list[CheckFailure]:
    """R-PARTNER-03: an industry SI names its industry field; a local SI declares its local fixed
    customer resources and local promotion resources, each with evidence (rulebook §3.2)."""
    out: list[CheckFailure] = []
    if facts.product_kind == "industry" and not (facts.industry or "").strip():
        out.append(
            CheckFailure(
                "INDUSTRY_REQUIRED",
                "R-PARTNER-03",
                "an industry SI names its industry field (e-government, logistics, banking, …)",
            )
        )
    if facts.scope == "local":
        kinds = {d.kind for d in facts.documents}
        for text, kind, what in (
            (facts.local_customer_resources, DocumentKind.LOCAL_CUSTOMER_EVIDENCE, "local fixed customer"),
            (facts.local_promotion_resources, DocumentKind.LOCAL_PROMOTION_EVIDENCE, "local promotion"),
        ):
            if not text.strip():
                out.append(
                    CheckFailure(
                        "LOCAL_RESOURCES_MISSING",
                        "R-PARTNER-03",
                        f"a local SI describes its {what} resources (rulebook §3.2)",
                        {"kind": kind.value},
                    )
                )
            if kind not in kinds:
                out.append(
                    CheckFailure(
                        "LOCAL_EVIDENCE_MISSING",
                        "R-PARTNER-03",
                        f"a local SI uploads evidence of its {what} resources (rulebook §3.2)",
                        {"kind": kind.value},
                    )
                )
    return out


def business_category(product_kind: str, industry: str | None) -> str:
    """The business category an exit ban may name (R-EXIT-03): 'standard' or 'industry:<field>'."""
    if product_kind == "industry" and (industry or "").strip():
        return f"industry:{fold_name(industry or '')}"
    return product_kind


def _same_company(ban: BanFacts, credit_code: str | None, name: str) -> bool:
    if ban.credit_code and credit_code and ban.credit_code.upper() == credit_code.upper():
        return True
    return bool(ban.company_name) and fold_name(ban.company_name or "") == fold_name(name)


def ban_failures(
    bans: Iterable[BanFacts], credit_code: str | None, name: str, category: str, on: date
) -> list[CheckFailure]:
    """R-EXIT-03: a company exited for failing assessment may not apply again for a year; nor may it
    apply again for a business category it was exited from (**Interpretation:** a category ban names the
    company and the category; a ban without a category bars the company from every category). The
    company is matched by its unified social credit code, or by its name (folded like brand words)."""
    out: list[CheckFailure] = []
    for b in bans:
        if b.until < on or not _same_company(b, credit_code, name):
            continue
        if b.business_category is None:
            out.append(
                CheckFailure(
                    "EXIT_BANNED",
                    "R-EXIT-03",
                    f"the company was exited for failing assessment and may apply again after "
                    f"{b.until.isoformat()} ({b.reason})",
                    {"banId": b.id, "until": b.until.isoformat()},
                )
            )
        elif b.business_category == category:
            out.append(
                CheckFailure(
                    "CATEGORY_BANNED",
                    "R-EXIT-03",
                    f"the business category {category} was exited for failing assessment and may be applied "
                    f"for again after {b.until.isoformat()} ({b.reason})",
                    {"banId": b.id, "until": b.until.isoformat(), "category": category},
                )
            )
    return out


def ban_until(since: date, days: int | None = None) -> date:
    """R-EXIT-03: the ban lasts one year (the same day a year later; 29 Feb → 28 Feb), or `days`."""
    if days is not None:
        return since + timedelta(days=days)
    try:
        return since.replace(year=since.year + 1)
    except ValueError:
        return since.replace(year=since.year + 1, day=28)


def submission_failures(
    facts: ApplicationFacts,
    *,
    on: date,
    minimum_capital: Decimal,
    brand_words: Sequence[str],
    bans: Iterable[BanFacts],
) -> list[CheckFailure]:
    """Every automatic check of a submission (R-ADMIT-05): certificates (R-ADMIT-01), capital
    (R-ADMIT-02), materials (R-ADMIT-03), brand words (R-PARTNER-04), classification and local
    resources (R-PARTNER-03), exit bans (R-EXIT-03)."""
    category = business_category(facts.product_kind, facts.industry)
    return [
        *certificate_failures(facts.documents, on),
        *capital_failures(facts.registered_capital, minimum_capital),
        *material_failures(facts),
        *brand_failures(facts.company_name, facts.branches, brand_words),
        *classification_failures(facts),
        *ban_failures(bans, facts.credit_code, facts.company_name, category, on),
    ]


# ---- the workflow ------------------------------------------------------------------------------

TRANSITIONS: Mapping[ApplicationState, frozenset[ApplicationState]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.SUBMITTED: frozenset({S.UNDER_REVIEW}),
    S.UNDER_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.RETURNED}),
    S.RETURNED: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.CONTRACTED, S.REJECTED}),
    S.CONTRACTED: frozenset({S.ACTIVE}),
    S.REJECTED: frozenset(),
    S.ACTIVE: frozenset(),
    S.WITHDRAWN: frozenset(),
}


def check_transition(current: ApplicationState, target: ApplicationState) -> None:
    """R-ADMIT-05: only the flow's steps; anything else is a 409 naming the current state."""
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"the application is {current.value}: it cannot become {target.value} (R-ADMIT-05)",
            code="INVALID_STATE",
            details={"state": current.value, "target": target.value},
        )


def checklist_gaps(items: Mapping[ChecklistItem, tuple[bool, str]]) -> list[str]:
    """R-ADMIT-04: approval needs every checklist item judged passed, each with a comment. Returns the
    items that are missing, failed or uncommented (empty: complete)."""
    gaps: list[str] = []
    for item in ChecklistItem:
        got = items.get(item)
        if got is None:
            gaps.append(f"{item.value}: not judged")
        elif not got[0]:
            gaps.append(f"{item.value}: judged not passed")
        elif not got[1].strip():
            gaps.append(f"{item.value}: no comment")
    return gaps


def check_decision_reason(reason: str, needed: bool) -> str:
    text = " ".join((reason or "").split())
    if needed and not text:
        raise InvalidArgument(
            "a rejection or a return states its reason (what is wrong, what to add)", code="REASON_REQUIRED"
        )
    if len(text) > 1000:
        raise InvalidArgument("reason: at most 1000 characters")
    return text


# ---- the contract and activation ---------------------------------------------------------------


def check_contract_terms(
    *,
    billing_mode: str,
    deposit: Decimal | None,
    agreed_payment: Decimal | None,
    valid_from: date,
    valid_to: date,
    today: date,
) -> tuple[Decimal, Decimal]:
    """R-PARTNER-02: one billing mode per contract, prepaid or postpaid. A postpaid contract names the
    deposit (> 0) that must be received before activation; a prepaid one holds no deposit and may name
    the agreed first payment (R-BILL-01; none: any confirmed payment). The contract runs forward from
    valid_from to valid_to and has not ended already. Returns (deposit, agreed payment)."""
    if billing_mode not in ("prepaid", "postpaid"):
        raise InvalidArgument(
            f"billing mode must be 'prepaid' or 'postpaid', exactly one (R-PARTNER-02), got {billing_mode!r}",
            code="INVALID_BILLING_MODE",
        )
    check_contract_dates(valid_from, valid_to, today)
    zero = Decimal("0")
    if billing_mode == "postpaid":
        if deposit is None or deposit <= zero:
            raise RuleViolation(
                "a postpaid contract names the deposit to be received before activation (R-ADMIT-05)",
                code="DEPOSIT_REQUIRED",
            )
        if agreed_payment not in (None, zero):
            raise RuleViolation(
                "a postpaid contract has no prepaid first payment (R-PARTNER-02)", code="ONE_BILLING_MODE"
            )
        return deposit, zero
    if deposit not in (None, zero):
        raise RuleViolation(
            "a prepaid contract holds no deposit: prepaid or postpaid, never both (R-PARTNER-02)",
            code="ONE_BILLING_MODE",
        )
    if agreed_payment is not None and agreed_payment < zero:
        raise InvalidArgument("the agreed payment cannot be negative")
    return zero, agreed_payment or zero


def check_contract_dates(valid_from: date, valid_to: date, today: date) -> None:
    """A contract (or its renewal) runs forward and has not ended already."""
    if valid_to <= valid_from:
        raise InvalidArgument("the contract's validTo must be after its validFrom", code="CONTRACT_DATES")
    if valid_to < today:
        raise RuleViolation("the contract has already ended", code="CONTRACT_DATES")


def activation_blockers(
    *,
    billing_mode: str,
    deposit_required: Decimal,
    deposit_held: Decimal,
    agreed_payment: Decimal,
    paid_with_invoice: Decimal,
    payments_with_invoice: int,
    payments_without_invoice: int,
    certificate_problems: Sequence[CheckFailure],
) -> list[CheckFailure]:
    """R-ADMIT-05 / R-BILL-01: what still stands between a contracted SI and its activation. Prepaid:
    a payment confirmed after the contract with its invoice issued (reaching the agreed amount, if any).
    Postpaid: the deposit received in the ledger's deposit account. Either way the four certificates
    valid on the day (R-ADMIT-01)."""
    out: list[CheckFailure] = list(certificate_problems)
    if billing_mode == "prepaid":
        if payments_with_invoice == 0:
            msg = "no payment confirmed with its invoice issued since the contract (R-BILL-01)"
            if payments_without_invoice:
                msg = "the confirmed payment's invoice has not been issued (R-BILL-01)"
            out.append(CheckFailure("PAYMENT_PENDING", "R-BILL-01", msg))
        elif paid_with_invoice < agreed_payment:
            out.append(
                CheckFailure(
                    "PAYMENT_SHORT",
                    "R-BILL-01",
                    f"CNY {paid_with_invoice:,.2f} confirmed of the agreed CNY {agreed_payment:,.2f}",
                    {"paid": f"{paid_with_invoice:.2f}", "agreed": f"{agreed_payment:.2f}"},
                )
            )
    elif deposit_held < deposit_required:
        out.append(
            CheckFailure(
                "DEPOSIT_PENDING",
                "R-ADMIT-05",
                f"deposit CNY {deposit_held:,.2f} received of the contract's CNY {deposit_required:,.2f}",
                {"held": f"{deposit_held:.2f}", "required": f"{deposit_required:.2f}"},
            )
        )
    return out


# ---- the certificate watch ---------------------------------------------------------------------


def expiry_status(valid_to: date | None, today: date, notice_days: int) -> str:
    """'expired' after valid_to, 'expiring' within `notice_days` of it, else 'ok' (no expiry: 'ok')."""
    if valid_to is None:
        return "ok"
    if valid_to < today:
        return "expired"
    if valid_to <= today + timedelta(days=notice_days):
        return "expiring"
    return "ok"


# ---- obligations (R-OBLIG-01..04) --------------------------------------------------------------

CHANGE_KINDS = frozenset({"product_upgrade", "bank_account"})
# R-OBLIG-03: reports the operator requests; the last three are the standing ones of rulebook §8
# (periodic security check, emergency plan, the 7×24 contact channel), requested again every period.
REPORT_KINDS = frozenset(
    {
        "customer_development",
        "customer_classification",
        "usage_habits",
        "business_analysis",
        "security_check",
        "emergency_plan",
        "contact_channel",
        "other",
    }
)


def check_lead_time(
    filed_at: datetime, effective_at: datetime, lead_days: int, *, rule: str, code: str, what: str
) -> None:
    """A change is notified at least `lead_days` days (a setting) before it takes effect: less lead
    time is refused with both figures (R-OBLIG-01 for a contact change, R-OBLIG-02 for a product upgrade
    or a bank-account change)."""
    lead = effective_at - filed_at
    if lead < timedelta(days=lead_days):
        days = lead.total_seconds() / 86400
        raise RuleViolation(
            f"{what} takes effect in {max(days, 0):.1f} day(s): it must be notified at least {lead_days} "
            f"day(s) before ({rule})",
            code=code,
            details={"leadDays": lead_days, "effectiveAt": effective_at.isoformat()},
        )


def add_months(at: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it has fewer days)."""
    total = at.month - 1 + months
    year, month = at.year + total // 12, total % 12 + 1
    for day in (at.day, 30, 29, 28):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")  # pragma: no cover


def report_overdue(state: str, due_at: datetime, now: datetime) -> bool:
    """R-OBLIG-03: a requested report not submitted by its due time is overdue."""
    return state == "open" and due_at < now
