"""Pure invoice rules: the VAT split of a tax-inclusive amount, numbers, the unified social credit code,
the invoice profile, 大写 (capital numerals), the fapiao number and its CSV, consumption coverage."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openability.billing import invoice_rules as r
from openability.billing.types import InvoiceType
from openability.kernel.errors import InvalidArgument

D = Decimal

fen_amounts = st.integers(min_value=-(10**14), max_value=10**14).map(lambda n: D(n) / 100)
rates = st.integers(min_value=0, max_value=5000).map(lambda n: D(n) / 10_000)


@given(gross=fen_amounts, rate=rates)
def test_vat_split_net_plus_tax_is_the_gross_to_the_fen(gross: Decimal, rate: Decimal) -> None:
    s = r.vat_split(gross, rate)
    assert s.net + s.tax == gross
    assert s.net == s.net.quantize(D("0.01")) and s.tax == s.tax.quantize(D("0.01"))
    # the tax is the exact tax share rounded once: net × rate is within a rounding of it
    assert abs(s.net * rate - s.tax) <= D("0.0075")


def test_vat_split_examples() -> None:
    assert r.vat_split(D("106.00"), D("0.06")) == r.VatSplit(D("106.00"), D("100.00"), D("6.00"), D("0.06"))
    assert r.vat_split(D("1.00"), D("0.06")) == r.VatSplit(D("1.00"), D("0.94"), D("0.06"), D("0.06"))
    assert r.vat_split(D("64.00"), D("0.06")).tax == D("3.62")  # 64 × 6 / 106 = 3.6226…
    assert r.vat_split(D("0.00"), D("0.06")).tax == D("0.00")
    assert r.vat_split(D("100.00"), D("0")).net == D("100.00")


def test_vat_split_rounds_the_tax_half_up() -> None:
    # at 20%, the tax of 0.03 is 0.03 / 6 = 0.005 exactly: 四舍五入 gives 0.01 (banker's rounding 0.00)
    assert r.vat_split(D("0.03"), D("0.2")) == r.VatSplit(D("0.03"), D("0.02"), D("0.01"), D("0.2"))
    assert r.vat_split(D("-0.03"), D("0.2")).tax == D("-0.01")


def test_vat_split_refuses_part_fen_and_bad_rates() -> None:
    with pytest.raises(ValueError, match="whole fen"):
        r.vat_split(D("1.005"), D("0.06"))
    for bad in (D("-0.01"), D("0.6"), D("0.06001"), D("NaN")):
        with pytest.raises(ValueError):
            r.vat_split(D("1.00"), bad)
    assert r.rate_label(D("0.06")) == "6%" and r.rate_label(D("0.065")) == "6.5%"


def test_invoice_numbers_per_month() -> None:
    assert r.invoice_number("2026-11", 123) == "INV-202611-000123"
    assert r.month_of_number("INV-202611-000123") == "2026-11"
    with pytest.raises(ValueError):
        r.month_of_number("INV-2026-1")


VALID_CODES = ["91350100M000100Y43", "91110000100010433L", "91440300708461136T"]


def test_unified_social_credit_codes_with_their_check_character() -> None:
    for code in VALID_CODES:
        assert r.credit_code_valid(code), code
    assert not r.credit_code_valid("91350100M000100Y44")  # wrong check character
    assert not r.credit_code_valid("91350100M000100Y4")  # 17 characters
    assert not r.credit_code_valid("91350100O000100Y43")  # O is not in the code alphabet


@given(st.sampled_from(VALID_CODES), st.integers(0, 17), st.sampled_from(r.CREDIT_ALPHABET))
def test_any_single_changed_character_breaks_the_check(code: str, pos: int, ch: str) -> None:
    changed = code[:pos] + ch + code[pos + 1 :]
    assert r.credit_code_valid(changed) == (changed == code)


def profile(**kw: object) -> r.ProfileInput:
    base: dict[str, object] = {
        "buyer_name": "示例科技有限公司",
        "credit_code": "",
        "bank_name": "",
        "bank_account": "",
        "address": "",
        "phone": "",
        "invoice_type": InvoiceType.GENERAL,
    }
    return r.ProfileInput(**(base | kw))  # type: ignore[arg-type]


def test_a_special_invoice_needs_code_bank_address_and_phone() -> None:
    with pytest.raises(InvalidArgument) as exc:
        r.check_profile(profile(invoice_type=InvoiceType.SPECIAL))
    assert exc.value.code == "INVALID_INVOICE_PROFILE"
    for name in ("creditCode", "bankName", "bankAccount", "address", "phone"):
        assert name in exc.value.message
    ok = r.check_profile(
        profile(
            invoice_type=InvoiceType.SPECIAL,
            credit_code=" 91350100m000100y43 ",
            bank_name="工商银行 北京分行",
            bank_account="6222 0200-1234 5678",
            address="北京市西城区  金融大街 1 号",
            phone="010-66668888",
        )
    )
    assert ok.credit_code == "91350100M000100Y43" and ok.bank_account == "6222020012345678"
    assert ok.address == "北京市西城区 金融大街 1 号"


def test_a_general_invoice_needs_the_name_and_checks_what_is_given() -> None:
    assert r.check_profile(profile()).buyer_name == "示例科技有限公司"
    with pytest.raises(InvalidArgument) as exc:
        r.check_profile(profile(buyer_name=" ", credit_code="91350100M000100Y44", bank_account="12ab"))
    msg = exc.value.message
    assert "buyerName" in msg and "creditCode" in msg and "bankAccount" in msg


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "零元整"),
        ("0.30", "叁角"),
        ("0.05", "伍分"),
        ("10", "壹拾元整"),
        ("100", "壹佰元整"),
        ("10.50", "壹拾元伍角"),
        ("1000.05", "壹仟元零伍分"),
        ("1010", "壹仟零壹拾元整"),
        ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("20000.07", "贰万元零柒分"),
        ("100100", "壹拾万零壹佰元整"),
        ("100000001", "壹亿零壹元整"),
        ("100100000", "壹亿零壹拾万元整"),
        ("-5", "负伍元整"),
        ("64.004", "陆拾肆元整"),
        ("64.005", "陆拾肆元零壹分"),
    ],
)
def test_amount_in_capital_numerals(amount: str, words: str) -> None:
    assert r.amount_in_words(D(amount)) == words


def test_fapiao_numbers_and_dates() -> None:
    today = date(2026, 12, 10)
    assert r.check_fapiao(" 12345678 ", date(2026, 12, 10), today) == ("12345678", date(2026, 12, 10))
    assert r.check_fapiao("2" * 20, date(2026, 1, 1), today)[0] == "2" * 20
    for number, day in (
        ("1234567", today),
        ("1" * 21, today),
        ("1234567A", today),
        ("12345678", date(2026, 12, 11)),
    ):
        with pytest.raises(InvalidArgument) as exc:
            r.check_fapiao(number, day, today)
        assert exc.value.code == "INVALID_FAPIAO"


def test_fapiao_csv_names_every_bad_line() -> None:
    text = (
        "发票号,税务发票号码,开票日期\n"
        "INV-202611-000001,12345678,2026-11-20\n"
        "inv-202611-000002,26112000000000000002,2026/11/21\n"
        "INV-202611-000003,123,2026-11-21\n"
        "nonsense,12345679,2026-11-21\n"
        "INV-202611-000004,12345680,2026-13-01\n"
        "INV-202611-000001,12345681,2026-11-22\n"
        "INV-202611-000005,12345682\n"
        "\n"
    )
    rows, problems = r.parse_fapiao_csv(text, date(2026, 12, 1))
    assert [(x.line, x.invoice_number, x.fapiao_number, x.fapiao_date) for x in rows] == [
        (2, "INV-202611-000001", "12345678", date(2026, 11, 20)),
        (3, "INV-202611-000002", "26112000000000000002", date(2026, 11, 21)),
    ]
    assert [p.split(":")[0] for p in problems] == ["line 4", "line 5", "line 6", "line 7", "line 8"]
    assert "also on line 2" in problems[3]


def test_consumption_is_invoiced_less_what_was_invoiced_in_advance() -> None:
    assert r.consumption_to_invoice(D("64.00"), D("0")) == (D("0.00"), D("64.00"))
    assert r.consumption_to_invoice(D("64.00"), D("50.00")) == (D("50.00"), D("14.00"))
    assert r.consumption_to_invoice(D("64.00"), D("100.00")) == (D("64.00"), D("0.00"))
    assert r.consumption_to_invoice(D("-4.00"), D("100.00")) == (D("0.00"), D("0.00"))
    assert r.consumption_to_invoice(D("10.00"), D("-3.00")) == (D("0.00"), D("10.00"))
