"""Money: Decimal in code, integer 0.0001-CNY units in storage, fen rounding ROUND_HALF_UP."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

UNIT = Decimal("0.0001")
FEN = Decimal("0.01")
UNITS_PER_YUAN = 10_000


class MoneyError(ValueError):
    pass


def to_decimal(value: object) -> Decimal:
    """Parse a money value from str/int/Decimal. Floats are refused: they are not exact."""
    if isinstance(value, (bool, float)):
        raise MoneyError("money must be given as a decimal string, not a float")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation as exc:
            raise MoneyError(f"not a decimal amount: {value!r}") from exc
    else:
        raise MoneyError(f"not a money value: {value!r}")
    if not d.is_finite():
        raise MoneyError("amount must be finite")
    if d != d.quantize(UNIT):
        raise MoneyError(f"amount {value} has more than 4 decimal places")
    return d.quantize(UNIT)


def to_units(amount: Decimal) -> int:
    q = amount.quantize(UNIT)
    if q != amount:
        raise MoneyError(f"amount {amount} has more than 4 decimal places")
    return int(q * UNITS_PER_YUAN)


def from_units(units: int) -> Decimal:
    return (Decimal(units) / UNITS_PER_YUAN).quantize(UNIT)


def round_fen(amount: Decimal) -> Decimal:
    """Round to the fen once, 四舍五入 (ROUND_HALF_UP)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal) -> str:
    """JSON representation of money: a string with 4 decimals."""
    return str(amount.quantize(UNIT))
