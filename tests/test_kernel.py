from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from openability.kernel import money
from openability.kernel.calendar import WorkingCalendar
from openability.kernel.clock import end_of_business_day, month_bounds, month_key


def test_money_units_roundtrip() -> None:
    assert money.to_units(Decimal("0.0450")) == 450
    assert money.from_units(450) == Decimal("0.0450")
    assert money.round_fen(Decimal("1.005")) == Decimal("1.01")  # ROUND_HALF_UP, not banker's
    assert money.round_fen(Decimal("1.0049")) == Decimal("1.00")


def test_money_refuses_float_and_excess_precision() -> None:
    with pytest.raises(money.MoneyError):
        money.to_decimal(0.05)
    with pytest.raises(money.MoneyError):
        money.to_decimal("0.00001")
    with pytest.raises(money.MoneyError):
        money.to_decimal("abc")
    assert money.to_decimal("12.5") == Decimal("12.5000")


def test_month_bounds_are_shanghai() -> None:
    start, end = month_bounds("2026-11")
    assert start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert month_key(datetime(2026, 10, 31, 16, 30, tzinfo=UTC)) == "2026-11"


def test_r_cs_04_calendar_make_up_days_2026() -> None:
    cal = WorkingCalendar(confirmed_years=[2026])
    assert cal.is_working_day(date(2026, 10, 10))  # Saturday 调休 make-up day
    assert not cal.is_working_day(date(2026, 10, 7))
    assert cal.nth_working_day_after(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert end_of_business_day(date(2026, 10, 10)) == datetime(2026, 10, 10, 16, 0, tzinfo=UTC)


def test_r_cs_04_override_adds_a_holiday() -> None:
    cal = WorkingCalendar({date(2026, 11, 3): False}, confirmed_years=[2026])
    assert cal.nth_working_day_after(date(2026, 11, 2), 1) == date(2026, 11, 4)
