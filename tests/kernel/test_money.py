"""The one money parse and format path (kernel/money.py): which strings are money, and fen rounding.

No rule ID covers parse strictness: it is the DESIGN.md "Money" convention (JSON money is a plain
decimal string; fen figures round ROUND_HALF_UP, 四舍五入)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from openability.kernel import money

ACCEPTED = [
    ("0", D("0")),
    ("1", D("1")),
    ("100.00", D("100")),
    ("0.0500", D("0.05")),
    ("0.045", D("0.045")),
    ("12.5", D("12.5")),
    ("-5.00", D("-5")),  # the sign is the caller's rule (> 0, >= 0), not the notation's
    ("007.50", D("7.5")),
    ("99999999999999.9999", D("99999999999999.9999")),  # 14 digits before the point
]

REFUSED = [
    ("1e3", "not a decimal amount"),
    ("1E+2", "not a decimal amount"),
    ("5E-2", "not a decimal amount"),
    ("1_000.00", "not a decimal amount"),
    ("0.0_4", "not a decimal amount"),
    ("１.00", "not a decimal amount"),  # full-width digit one
    ("1.０0", "not a decimal amount"),  # full-width zero in the fraction
    ("١٢.00", "not a decimal amount"),  # Arabic-Indic digits
    (" 2.00", "not a decimal amount"),
    ("2.00 ", "not a decimal amount"),
    ("2.00\n", "not a decimal amount"),
    ("+3.00", "not a decimal amount"),
    ("--3", "not a decimal amount"),
    (".5", "not a decimal amount"),
    ("5.", "not a decimal amount"),
    ("", "not a decimal amount"),
    ("abc", "not a decimal amount"),
    ("NaN", "not a decimal amount"),
    ("Infinity", "not a decimal amount"),
    ("-Infinity", "not a decimal amount"),
    ("1,000.00", "not a decimal amount"),
    ("0.00001", "more than 4 decimals"),
    ("1.00000", "more than 4 decimals"),
    ("100000000000000", "too large"),  # 15 digits: past the 64-bit storage integer's safe range
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_parse_money_accepts_plain_decimals(text: str, expected: D) -> None:
    got = money.parse_money(text)
    assert got == expected
    assert got.as_tuple().exponent == -4  # always 4 decimals


@pytest.mark.parametrize(("text", "fragment"), REFUSED)
def test_parse_money_refuses_anything_else(text: str, fragment: str) -> None:
    with pytest.raises(money.MoneyError) as exc:
        money.parse_money(text, field="amount")
    msg = str(exc.value)
    assert msg.startswith("amount: ") and fragment in msg
    if fragment == "not a decimal amount":
        assert 'like "100.0000"' in msg  # the message shows the expected format


@pytest.mark.parametrize("value", [1000, 10.5, True, None, D("1"), ["1"]])
def test_parse_money_takes_strings_only(value: object) -> None:
    # JSON money is a string: a JSON number (int or float) is refused with the expected format.
    with pytest.raises(
        money.MoneyError, match=r'^amount: money must be a decimal string like "100\.00", not '
    ):
        money.parse_money(value, field="amount", places=2)


def test_parse_money_places_field_and_noun() -> None:
    assert money.parse_money("10.25", places=2) == D("10.25")
    with pytest.raises(money.MoneyError, match=r"^amount: amount 10\.255 has more than 2 decimals$"):
        money.parse_money("10.255", field="amount", places=2)
    with pytest.raises(money.MoneyError, match=r"^national\.list\[0\]: not a decimal price: '5E-2'"):
        money.parse_money("5E-2", field="national.list[0]", noun="price", example="0.0500")


@pytest.mark.parametrize("text", [t for t, _ in REFUSED])
def test_to_decimal_refuses_the_same_strings(text: str) -> None:
    # The compatibility helper reads strings through the same path.
    with pytest.raises(money.MoneyError):
        money.to_decimal(text)


def test_to_decimal_code_values() -> None:
    assert money.to_decimal(D("0.05")) == D("0.0500")
    assert money.to_decimal(3) == D("3.0000")
    assert money.to_decimal("12.5") == D("12.5000")
    for bad in (0.05, True, D("NaN"), D("Infinity"), D("0.00001"), object()):
        with pytest.raises(money.MoneyError):
            money.to_decimal(bad)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (D("0.125"), "¥0.13"),  # half-even would give ¥0.12
        (D("0.135"), "¥0.14"),
        (D("2.345"), "¥2.35"),  # half-even would give ¥2.34
        (D("1234.5678"), "¥1,234.57"),
        (D("1000000"), "¥1,000,000.00"),
        (D("-0.125"), "¥-0.13"),  # half away from zero
        ("0.1250", "¥0.13"),
        (0, "¥0.00"),
    ],
)
def test_format_fen_rounds_half_up(value: D | str | int, shown: str) -> None:
    assert money.format_fen(value) == shown


def test_fmt_and_fmt_fen() -> None:
    assert money.fmt(D("0.05")) == "0.0500"
    assert money.fmt_fen(D("100")) == "100.00"
    assert money.fmt_fen(D("0.125")) == "0.13"
    assert money.fmt_fen(D("2.345")) == "2.35"


def test_console_fen_filter_rounds_half_up() -> None:
    # The console's `fen` filter is the one format path, not f"{Decimal(v):,.2f}" (half-even).
    from openability.console.web import env

    fen = env().filters["fen"]
    assert [fen(D("0.125")), fen(D("0.135")), fen(D("2.345"))] == ["¥0.13", "¥0.14", "¥2.35"]
    assert fen("1234.5678") == "¥1,234.57" and fen(None) == ""
