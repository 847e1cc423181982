"""Money: Decimal in code, integer 0.0001-CNY units in storage, fen rounding ROUND_HALF_UP.

The one parse path (`parse_money`, and `to_decimal` for values that are already numbers in code)
and the one format path (`fmt`, `fmt_fen`, `format_fen`). Every schema, the catalog's price parser and
the console go through them, so a money string means the same thing everywhere."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

UNIT = Decimal("0.0001")
FEN = Decimal("0.01")
UNITS_PER_YUAN = 10_000
PLACES = 4  # money units: 0.0001 CNY
# Digits before the point: 10^14 CNY is 10^18 units, inside the 64-bit storage integer.
MAX_INTEGER_DIGITS = 14

# Plain decimal notation, ASCII digits only ([0-9], not \d: \d also matches full-width digits).
# No exponent ("1e3"), no "+", no "_" separators, no spaces, no "NaN"/"Infinity".
_PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


class MoneyError(ValueError):
    pass


def _example(places: int) -> str:
    return "100." + "0" * places if places else "100"


def _where(field: str | None) -> str:
    return f"{field}: " if field else ""


def parse_money(
    value: object,
    *,
    field: str | None = None,
    places: int = PLACES,
    noun: str = "amount",
    example: str | None = None,
) -> Decimal:
    """Parse a money string: a plain decimal like "100.00" (optional "-", ASCII digits, optional "."
    and at most `places` decimals). Anything else is refused with a message naming `field` and the
    expected format. Only strings are money here: JSON money is a string (a JSON number is refused).

    Sign and range (> 0, >= 0, a maximum) are the caller's rule; this only reads the notation."""
    where, like = _where(field), example or _example(places)
    if not isinstance(value, str):
        kind = "a JSON number" if isinstance(value, (int, float)) else type(value).__name__
        raise MoneyError(f'{where}money must be a decimal string like "{like}", not {kind}')
    if not _PLAIN.fullmatch(value):
        raise MoneyError(
            f'{where}not a decimal {noun}: {value!r}; expected a plain decimal like "{like}" '
            f'(digits 0-9, an optional "." and at most {places} decimals; no exponent, "+", "_" or spaces)'
        )
    integer, _, fraction = value.lstrip("-").partition(".")
    if len(fraction) > places:
        raise MoneyError(f"{where}{noun} {value} has more than {places} decimals")
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise MoneyError(
            f"{where}{noun} {value} is too large (at most {MAX_INTEGER_DIGITS} digits before the point)"
        )
    return Decimal(value).quantize(UNIT)


def to_decimal(value: object, *, field: str | None = None) -> Decimal:
    """A money value given in code: a Decimal or int as is, a string through `parse_money`. Floats are
    refused: they are not exact. The result has 4 decimals."""
    if isinstance(value, str):
        return parse_money(value, field=field)
    where = _where(field)
    if isinstance(value, (bool, float)):
        raise MoneyError(f"{where}money must be given as a decimal string, not a float")
    if isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, Decimal):
        d = value
    else:
        raise MoneyError(f"{where}not a money value: {value!r}")
    if not d.is_finite():
        raise MoneyError(f"{where}amount must be finite")
    if d != d.quantize(UNIT):
        raise MoneyError(f"{where}amount {value} has more than {PLACES} decimals")
    return d.quantize(UNIT)


def to_units(amount: Decimal) -> int:
    q = amount.quantize(UNIT)
    if q != amount:
        raise MoneyError(f"amount {amount} has more than {PLACES} decimals")
    return int(q * UNITS_PER_YUAN)


def from_units(units: int) -> Decimal:
    return (Decimal(units) / UNITS_PER_YUAN).quantize(UNIT)


def round_fen(amount: Decimal) -> Decimal:
    """Round to the fen once, 四舍五入 (ROUND_HALF_UP)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal) -> str:
    """JSON representation of money: a string with 4 decimals."""
    return str(amount.quantize(UNIT, rounding=ROUND_HALF_UP))


def fmt_fen(amount: Decimal) -> str:
    """JSON representation of a whole-fen amount (payments, invoices): "100.00", 四舍五入."""
    return str(round_fen(amount))


def format_fen(value: Decimal | int | str) -> str:
    """A figure for people, in fen: "¥1,234.57", 四舍五入 (ROUND_HALF_UP, never banker's rounding).
    `value` comes from code (a Decimal, or a string the code formatted), not from a user."""
    d = value if isinstance(value, Decimal) else Decimal(value)
    return f"¥{round_fen(d):,.2f}"
