"""Pure statement rules: exact re-rating from rollups, the statement's figures, the month's calendar and
the dispute threshold (hypothesis property tests where a property is the rule)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from openability.billing.statement_rules import (
    Usage,
    UsageLine,
    confirm_deadline,
    dispute_carries,
    figures,
    issue_deadline,
    parse_record_ids,
    rerate,
)
from openability.catalog.rules import graduated_amount
from openability.catalog.types import PlanVersion
from openability.kernel.money import round_fen

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIERS = ((0, D("0.0500")), (1000, D("0.0400")), (5000, D("0.0310")))
V1 = PlanVersion(
    "pp_v1", 1, T0, None, {("national", "list"): TIERS, ("national", "certified"): ((0, D("0.0450")),)}
)


def usage(day: int, quantity: int, plan: str = "pp_v1", band: str = "list", amount: str = "0") -> Usage:
    return Usage("prd_sms", date(2026, 11, day), plan, band, "national", quantity, D(amount))


splits = st.lists(
    st.tuples(st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=3000)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(splits)
def test_r_charge_06_re_rating_is_independent_of_how_the_usage_was_split(
    parts: list[tuple[int, int]],
) -> None:
    """The same month's volume split any way over days (and so over calls, workers and CDR batches,
    which the rollups sum) with one price version rates to the same exact amount: the graduated
    price of the whole volume."""
    total = sum(q for _, q in parts)
    by_day: dict[int, int] = {}
    for day, q in parts:  # rollups: one row per day (two calls of a day are one row)
        by_day[day] = by_day.get(day, 0) + q
    lines = rerate([usage(day, q) for day, q in by_day.items()], {"pp_v1": V1})
    assert sum((ln.amount for ln in lines), D(0)) == graduated_amount(TIERS, 0, total)
    assert sum(ln.units for ln in lines) == total
    for ln in lines:  # each line: its units at its tier's unit price
        assert ln.amount == ln.units * ln.unit_price


def test_r_charge_06_re_rating_applies_each_versions_tiers_to_the_running_month_volume() -> None:
    """A price change on the 16th: days before it at version 1, from it at version 2, the tiers running
    on over the month's volume across both (R-CHARGE-06 re-rates with the version each use had)."""
    v2 = PlanVersion("pp_v2", 2, T0, None, {("national", "list"): ((0, D("0.0600")), (1000, D("0.0300")))})
    lines = rerate([usage(20, 500, "pp_v2"), usage(3, 800)], {"pp_v1": V1, "pp_v2": v2})
    got = [(ln.plan_version, ln.tier_from, ln.units, ln.unit_price, ln.amount) for ln in lines]
    # v1: units 0..799 at 0.05; v2: units 800..999 at 0.06, 1000..1299 at 0.03
    assert got == [
        (1, 0, 800, D("0.0500"), D("40.0000")),
        (2, 0, 200, D("0.0600"), D("12.0000")),
        (2, 1000, 300, D("0.0300"), D("9.0000")),
    ]


amounts = st.decimals(
    min_value=D("-500"), max_value=D("5000"), places=4, allow_nan=False, allow_infinity=False
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=999_999)),
        max_size=8,
    ),
    st.lists(amounts, max_size=3),
    st.decimals(min_value=D("0"), max_value=D("9999"), places=4, allow_nan=False, allow_infinity=False),
)
def test_r_bill_06_statement_total_is_the_sum_of_its_lines_to_the_fen(
    raw: list[tuple[int, int]], adjustments: list[Decimal], provisional: Decimal
) -> None:
    """Usage lines + carried adjustment lines + the rounding line sum to the total, which is a whole fen
    (ROUND_HALF_UP of the lines before it)."""
    lines = [
        UsageLine(
            "p", "pp", 1, "list", "national", 0, None, D(price) / 10_000, units, D(price) / 10_000 * units
        )
        for units, price in raw
    ]
    f = figures(lines, provisional, adjustments)
    line_sum = sum((ln.amount for ln in lines), D(0)) + sum(adjustments, D(0)) + f.rounding
    assert f.total == line_sum
    assert f.total == round_fen(f.total)
    assert f.total == round_fen(f.exact + f.adjustments)
    assert abs(f.rounding) <= D("0.005")


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=D("0"), max_value=D("99999"), places=4, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=D("0"), max_value=D("99999"), places=4, allow_nan=False, allow_infinity=False),
)
def test_r_charge_06_the_partner_never_pays_more_than_the_exact_price(
    provisional: Decimal, exact: Decimal
) -> None:
    """Real time's provisional charge less the true-up credit is the smaller of the two prices: above the
    exact price the difference is credited back; below it nothing more is charged (only noted)."""
    line = UsageLine("p", "pp", 1, "list", "national", 0, None, exact, 1, exact)
    f = figures([line], provisional, [])
    assert f.true_up >= 0 and f.undercharge >= 0
    assert provisional - f.true_up == min(provisional, exact)
    assert f.undercharge == max(exact - provisional, D(0))


def test_r_bill_03_statements_are_issued_before_the_tenth_asia_shanghai() -> None:
    # November's statements: before 00:00 on 10 December, Beijing time (16:00 on the 9th, UTC)
    assert issue_deadline("2026-11", 10) == datetime(2026, 12, 9, 16, tzinfo=UTC)
    assert issue_deadline("2026-12", 10) == datetime(2027, 1, 9, 16, tzinfo=UTC)


def test_r_bill_04_the_confirmation_window_closes_when_the_fifteenth_ends() -> None:
    assert confirm_deadline("2026-11", 15) == datetime(2026, 12, 15, 16, tzinfo=UTC)


def test_r_bill_06_a_difference_is_carried_only_above_five_percent() -> None:
    five = D("5")
    assert not dispute_carries(D("100.00"), D("95.00"), five)  # exactly 5%: stands
    assert dispute_carries(D("100.00"), D("94.99"), five)
    assert dispute_carries(D("100.00"), D("105.01"), five)
    assert not dispute_carries(D("0.00"), D("0.00"), five)
    assert dispute_carries(D("0.00"), D("0.01"), five)


def test_r_bill_05_a_record_list_is_one_id_a_row_with_an_optional_header() -> None:
    assert parse_record_ids("requestId\r\nreq-1\r\n\r\nmsg-2,extra\r\n") == ["req-1", "msg-2"]
    assert parse_record_ids("cdr_1\ncdr_2\n") == ["cdr_1", "cdr_2"]
