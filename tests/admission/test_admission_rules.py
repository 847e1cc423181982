"""The admission rules, one failing case per rule with the reason it must give (admission/rules.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from openability.admission import rules
from openability.admission.types import (
    ApplicationFacts,
    ApplicationState,
    BanFacts,
    CheckFailure,
    ChecklistItem,
    DocumentFacts,
    DocumentKind,
)
from openability.kernel.errors import AppError, Conflict, InvalidArgument, RuleViolation

TODAY = date(2026, 11, 2)
K = DocumentKind
CERTS = (K.BUSINESS_LICENCE, K.BANK_ACCOUNT_PERMIT, K.TAX_REGISTRATION, K.ORG_CODE_CERTIFICATE)
WORDS = ["天翼应用工厂", "电信公司"]
CODE = "91310000MA1K000013"


def doc(
    kind: DocumentKind,
    n: int = 1,
    *,
    valid_from: date | None = date(2020, 1, 1),
    valid_to: date | None = date(2030, 1, 1),
) -> DocumentFacts:
    return DocumentFacts(f"doc_{kind.value}_{n}", kind, f"NO-{n}", "某市市场监督管理局", valid_from, valid_to)


def complete(**over: object) -> ApplicationFacts:
    facts = ApplicationFacts(
        company_name="星河系统集成有限公司",
        branches=("星河系统集成有限公司上海分公司",),
        credit_code=CODE,
        registered_capital=Decimal("5000000"),
        product_kind="standard",
        industry=None,
        scope="national",
        intended_products=("sms-standard",),
        needs_resource_authorization=False,
        local_customer_resources="",
        local_promotion_resources="",
        documents=(*(doc(k) for k in CERTS), doc(K.BUSINESS_PLAN)),
    )
    return dataclasses.replace(facts, **over)  # type: ignore[arg-type]


def check(
    facts: ApplicationFacts, bans: list[BanFacts] | None = None, on: date = TODAY
) -> list[CheckFailure]:
    return rules.submission_failures(
        facts, on=on, minimum_capital=Decimal("1000000"), brand_words=WORDS, bans=bans or []
    )


def codes(failures: list[CheckFailure]) -> list[str]:
    return [f.code for f in failures]


def test_a_complete_application_passes_every_check() -> None:
    assert check(complete()) == []


# ---- R-ADMIT-01: the four certificates, present and unexpired ---------------------------------


@pytest.mark.parametrize("missing", CERTS)
def test_r_admit_01_each_missing_certificate_fails_with_its_name(missing: DocumentKind) -> None:
    facts = complete(documents=tuple(doc(k) for k in (*CERTS, K.BUSINESS_PLAN) if k != missing))
    (f,) = check(facts)
    assert f.code == "CERTIFICATE_MISSING" and f.rule == "R-ADMIT-01"
    assert f.details["kind"] == missing.value and rules.CERTIFICATE_NAMES[missing] in f.message


def test_r_admit_01_an_expired_certificate_fails_with_its_expiry_date() -> None:
    expired = doc(K.TAX_REGISTRATION, valid_to=date(2026, 11, 1))
    facts = complete(
        documents=(*(doc(k) for k in CERTS if k != K.TAX_REGISTRATION), expired, doc(K.BUSINESS_PLAN))
    )
    (f,) = check(facts)
    assert f.code == "CERTIFICATE_EXPIRED" and "2026-11-01" in f.message and "renewed" in f.message
    # valid through the end of its last day
    assert check(facts, on=date(2026, 11, 1)) == []


def test_r_admit_01_a_renewed_certificate_replaces_the_expired_one() -> None:
    old = doc(K.BUSINESS_LICENCE, 1, valid_to=date(2025, 1, 1))
    new = doc(K.BUSINESS_LICENCE, 2, valid_to=date(2031, 1, 1))
    others = tuple(doc(k) for k in CERTS[1:])
    assert codes(check(complete(documents=(old, *others, doc(K.BUSINESS_PLAN))))) == ["CERTIFICATE_EXPIRED"]
    assert check(complete(documents=(old, new, *others, doc(K.BUSINESS_PLAN)))) == []


def test_r_admit_01_a_certificate_not_yet_valid_fails() -> None:
    future = doc(K.BANK_ACCOUNT_PERMIT, valid_from=date(2026, 12, 1))
    facts = complete(
        documents=(*(doc(k) for k in CERTS if k != K.BANK_ACCOUNT_PERMIT), future, doc(K.BUSINESS_PLAN))
    )
    assert codes(check(facts)) == ["CERTIFICATE_NOT_YET_VALID"]


def test_r_admit_01_a_certificate_needs_number_issuer_and_validity() -> None:
    with pytest.raises(InvalidArgument) as e:
        rules.check_document_fields(K.BUSINESS_LICENCE, "", "某局", date(2020, 1, 1), None)
    assert e.value.code == "DOCUMENT_FIELDS" and e.value.details["missing"] == ["number", "validTo"]
    with pytest.raises(InvalidArgument):
        rules.check_document_fields(K.BUSINESS_LICENCE, "N1", "某局", date(2021, 1, 1), date(2020, 1, 1))
    # a business plan has no number or validity
    assert rules.check_document_fields(K.BUSINESS_PLAN, "", "", None, None) == ("", "")


# ---- R-ADMIT-02: registered capital -------------------------------------------------------------


def test_r_admit_02_capital_below_the_minimum_fails_with_the_figures() -> None:
    (f,) = check(complete(registered_capital=Decimal("100")))
    assert f.code == "CAPITAL_TOO_LOW" and f.rule == "R-ADMIT-02"
    assert "CNY 100.00" in f.message and "CNY 1,000,000.00" in f.message
    assert check(complete(registered_capital=Decimal("1000000"))) == []


def test_r_admit_02_capital_not_stated_fails() -> None:
    assert codes(check(complete(registered_capital=None))) == ["CAPITAL_MISSING"]


# ---- R-ADMIT-03: materials ----------------------------------------------------------------------


def test_r_admit_03_the_business_plan_is_required() -> None:
    (f,) = check(complete(documents=tuple(doc(k) for k in CERTS)))
    assert f.code == "BUSINESS_PLAN_MISSING" and f.rule == "R-ADMIT-03"


def test_r_admit_03_resource_authorization_when_the_business_needs_it() -> None:
    assert codes(check(complete(needs_resource_authorization=True))) == ["RESOURCE_AUTHORIZATION_MISSING"]
    with_proof = complete(
        needs_resource_authorization=True, documents=(*complete().documents, doc(K.RESOURCE_AUTHORIZATION))
    )
    assert check(with_proof) == []


def test_r_admit_03_the_intended_products_are_named() -> None:
    assert codes(check(complete(intended_products=()))) == ["PRODUCTS_MISSING"]


# ---- R-PARTNER-04: brand words -----------------------------------------------------------------


def test_r_partner_04_brand_word_in_the_company_or_a_branch_name_fails() -> None:
    (f,) = check(complete(company_name="星河電信公司"))  # traditional form folds to the word
    assert f.code == "BRAND_WORD" and f.rule == "R-PARTNER-04" and f.details["word"] == "电信公司"
    (g,) = check(complete(branches=("天翼应用工厂合作部",)))
    assert g.code == "BRAND_WORD" and g.details["field"] == "branch name"


# ---- R-PARTNER-03: classification and local resources (rulebook §3.2) -------------------------


def test_r_partner_03_an_industry_si_names_its_field() -> None:
    assert codes(check(complete(product_kind="industry"))) == ["INDUSTRY_REQUIRED"]
    assert check(complete(product_kind="industry", industry="物流")) == []


def test_r_partner_03_a_local_si_declares_local_resources_with_evidence() -> None:
    failures = check(complete(scope="local"))
    assert codes(failures) == ["LOCAL_RESOURCES_MISSING", "LOCAL_EVIDENCE_MISSING"] * 2
    assert all(f.rule == "R-PARTNER-03" for f in failures)
    ok = complete(
        scope="local",
        local_customer_resources="本市 30 家政企客户",
        local_promotion_resources="本地渠道 12 个",
        documents=(*complete().documents, doc(K.LOCAL_CUSTOMER_EVIDENCE), doc(K.LOCAL_PROMOTION_EVIDENCE)),
    )
    assert check(ok) == []


# ---- R-EXIT-03: exit bans ------------------------------------------------------------------------


def ban(**over: object) -> BanFacts:
    b = BanFacts("ban_1", CODE, None, None, date(2027, 6, 30), "考核不合格")
    return dataclasses.replace(b, **over)  # type: ignore[arg-type]


def test_r_exit_03_a_company_exited_within_a_year_cannot_apply() -> None:
    (f,) = check(complete(), [ban()])
    assert f.code == "EXIT_BANNED" and f.rule == "R-EXIT-03" and "2027-06-30" in f.message
    # by name when the ban has no credit code (folded: spacing and width do not matter)
    (g,) = check(complete(credit_code=None), [ban(credit_code=None, company_name="星河 系统集成有限公司")])
    assert g.code == "EXIT_BANNED"
    # the ban is over the day after `until`
    assert check(complete(), [ban()], on=date(2027, 7, 1)) == []
    # another company is not concerned
    assert check(complete(credit_code="91110000MA00000001", company_name="别的公司"), [ban()]) == []


def test_r_exit_03_a_business_category_exited_cannot_be_applied_for() -> None:
    cat = ban(business_category=rules.business_category("industry", "物流"))
    (f,) = check(complete(product_kind="industry", industry="物流"), [cat])
    assert f.code == "CATEGORY_BANNED" and f.rule == "R-EXIT-03"
    assert check(complete(product_kind="industry", industry="银行"), [cat]) == []
    assert check(complete(), [cat]) == []


def test_r_exit_03_a_ban_lasts_one_year() -> None:
    assert rules.ban_until(date(2026, 11, 2)) == date(2027, 11, 2)
    assert rules.ban_until(date(2028, 2, 29)) == date(2029, 2, 28)


# ---- R-ADMIT-05: the flow ----------------------------------------------------------------------


def test_r_admit_05_only_the_flows_steps_are_allowed() -> None:
    S = ApplicationState
    rules.check_transition(S.DRAFT, S.SUBMITTED)
    rules.check_transition(S.RETURNED, S.SUBMITTED)
    rules.check_transition(S.APPROVED, S.CONTRACTED)
    for current, target in (
        (S.DRAFT, S.APPROVED),  # no review skipped
        (S.SUBMITTED, S.CONTRACTED),
        (S.APPROVED, S.ACTIVE),  # no activation without a contract
        (S.REJECTED, S.SUBMITTED),  # a rejection is final
        (S.ACTIVE, S.DRAFT),
    ):
        with pytest.raises(Conflict) as e:
            rules.check_transition(current, target)
        assert e.value.code == "INVALID_STATE"


# ---- R-ADMIT-04: the reviewer's checklist ------------------------------------------------------


def test_r_admit_04_approval_needs_every_item_passed_with_a_comment() -> None:
    full = {item: (True, "符合") for item in ChecklistItem}
    assert rules.checklist_gaps(full) == []
    assert rules.checklist_gaps({**full, ChecklistItem.SERVICE_SYSTEM: (False, "无售后")}) == [
        "service_system: judged not passed"
    ]
    assert rules.checklist_gaps({ChecklistItem.COMPLIANCE: (True, " ")}) == [
        "compliance: no comment",
        "industry_expertise: not judged",
        "service_system: not judged",
    ]


# ---- R-PARTNER-02: one billing mode per contract ----------------------------------------------


def terms(**over: object) -> tuple[Decimal, Decimal]:
    kw: dict[str, object] = {
        "billing_mode": "prepaid",
        "deposit": None,
        "agreed_payment": None,
        "valid_from": date(2026, 11, 1),
        "valid_to": date(2027, 10, 31),
        "today": TODAY,
    }
    kw.update(over)
    return rules.check_contract_terms(**kw)  # type: ignore[arg-type]


def test_r_partner_02_a_contract_has_exactly_one_billing_mode() -> None:
    assert terms() == (Decimal("0"), Decimal("0"))
    assert terms(billing_mode="postpaid", deposit=Decimal("50000")) == (Decimal("50000"), Decimal("0"))
    cases: list[tuple[dict[str, object], str]] = [
        ({"billing_mode": "both"}, "INVALID_BILLING_MODE"),
        ({"deposit": Decimal("1000")}, "ONE_BILLING_MODE"),  # prepaid holding a deposit
        (
            {"billing_mode": "postpaid", "deposit": Decimal("1"), "agreed_payment": Decimal("5")},
            "ONE_BILLING_MODE",
        ),
        ({"billing_mode": "postpaid"}, "DEPOSIT_REQUIRED"),
        ({"valid_to": date(2026, 10, 1)}, "CONTRACT_DATES"),
    ]
    for over, code in cases:
        with pytest.raises(AppError) as e:
            terms(**over)
        assert e.value.code == code, over


# ---- R-BILL-01 / R-ADMIT-05: activation ---------------------------------------------------------


def blockers(**over: object) -> list[str]:
    kw: dict[str, object] = {
        "billing_mode": "prepaid",
        "deposit_required": Decimal("0"),
        "deposit_held": Decimal("0"),
        "agreed_payment": Decimal("0"),
        "paid_with_invoice": Decimal("0"),
        "payments_with_invoice": 0,
        "payments_without_invoice": 0,
        "certificate_problems": [],
    }
    kw.update(over)
    return codes(rules.activation_blockers(**kw))  # type: ignore[arg-type]


def test_r_bill_01_prepaid_opens_only_after_a_confirmed_payment_with_its_invoice() -> None:
    assert blockers() == ["PAYMENT_PENDING"]
    assert blockers(payments_without_invoice=1) == ["PAYMENT_PENDING"]
    assert blockers(payments_with_invoice=1, paid_with_invoice=Decimal("500")) == []
    assert blockers(
        payments_with_invoice=1, paid_with_invoice=Decimal("500"), agreed_payment=Decimal("1000")
    ) == ["PAYMENT_SHORT"]


def test_r_admit_05_postpaid_opens_only_after_the_deposit_is_received() -> None:
    pp = {"billing_mode": "postpaid", "deposit_required": Decimal("50000")}
    assert blockers(**pp, deposit_held=Decimal("49999.99")) == ["DEPOSIT_PENDING"]
    assert blockers(**pp, deposit_held=Decimal("50000")) == []


def test_r_admit_01_an_expired_certificate_blocks_activation() -> None:
    expired = rules.certificate_failures([doc(k, valid_to=date(2026, 1, 1)) for k in CERTS], TODAY)
    assert (
        blockers(payments_with_invoice=1, paid_with_invoice=Decimal("1"), certificate_problems=expired)
        == ["CERTIFICATE_EXPIRED"] * 4
    )


# ---- uploads ------------------------------------------------------------------------------------


def test_uploads_are_pdf_png_or_jpeg_by_content() -> None:
    assert rules.check_file(b"%PDF-1.7\n...", 1024) == "application/pdf"
    assert rules.check_file(b"\x89PNG\r\n\x1a\n....", 1024) == "image/png"
    assert rules.check_file(b"\xff\xd8\xff\xe0....", 1024) == "image/jpeg"
    for data in (b"GIF89a....", b"MZ\x90\x00", b"<html><script>", b"PK\x03\x04"):
        with pytest.raises(InvalidArgument) as e:
            rules.check_file(data, 1024)
        assert e.value.code == "DOCUMENT_TYPE"
    with pytest.raises(AppError) as big:
        rules.check_file(b"%PDF-" + b"x" * 2000, 1024)
    assert big.value.code == "DOCUMENT_TOO_LARGE" and big.value.status == 413
    with pytest.raises(InvalidArgument):
        rules.check_file(b"", 1024)


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd.pdf",
        "a/b.pdf",
        "..\\boot.ini.pdf",
        "x\x00.pdf",
        ".htaccess",
        "   ",
        "证\u202e照.pdf",
    ],
)
def test_uploads_with_a_path_or_control_characters_in_the_name_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        rules.check_filename(name)
    assert e.value.code == "DOCUMENT_NAME"


def test_a_plain_file_name_is_kept_as_metadata() -> None:
    assert rules.check_filename(" 营业执照  副本.pdf ") == "营业执照 副本.pdf"


def test_certificate_expiry_status() -> None:
    assert rules.expiry_status(date(2026, 12, 2), TODAY, 30) == "expiring"
    assert rules.expiry_status(date(2026, 12, 3), TODAY, 30) == "ok"
    assert rules.expiry_status(date(2026, 11, 1), TODAY, 30) == "expired"
    assert rules.expiry_status(None, TODAY, 30) == "ok"


def test_decisions_other_than_approval_state_their_reason() -> None:
    with pytest.raises(InvalidArgument):
        rules.check_decision_reason("  ", needed=True)
    assert rules.check_decision_reason("", needed=False) == ""


# ---- R-OBLIG-01..03 -----------------------------------------------------------------------------


def test_r_oblig_02_a_change_notified_less_than_the_lead_time_ahead_is_refused() -> None:
    filed = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    kw = {"rule": "R-OBLIG-02", "code": "NOTICE_TOO_LATE", "what": "the bank-account change"}
    rules.check_lead_time(filed, filed + timedelta(days=5), 5, **kw)
    with pytest.raises(RuleViolation) as e:
        rules.check_lead_time(filed, filed + timedelta(days=4, hours=12), 5, **kw)
    assert (
        e.value.code == "NOTICE_TOO_LATE"
        and "4.5 day(s)" in e.value.message
        and "at least 5" in e.value.message
    )


def test_r_oblig_01_a_contact_change_in_the_past_is_refused() -> None:
    filed = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    with pytest.raises(RuleViolation) as e:
        rules.check_lead_time(
            filed, filed - timedelta(days=1), 1, rule="R-OBLIG-01", code="X", what="the change"
        )
    assert "0.0 day(s)" in e.value.message


def test_r_oblig_03_reports_past_due_and_the_next_period() -> None:
    due = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert rules.report_overdue("open", due, datetime(2026, 11, 30, 16, 1, tzinfo=UTC))
    assert not rules.report_overdue("open", due, due)
    assert not rules.report_overdue("submitted", due, datetime(2027, 1, 1, tzinfo=UTC))
    assert rules.add_months(due, 3) == datetime(2027, 2, 28, 16, 0, tzinfo=UTC)  # 30 Nov + 3 months
    assert rules.add_months(due, 12) == datetime(2027, 11, 30, 16, 0, tzinfo=UTC)
