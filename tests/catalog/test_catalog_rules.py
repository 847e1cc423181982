"""Pure pricing rules: R-PRICE-01 (graduated tiers), R-PRICE-02 (bands), R-PRICE-03 (versions, scope)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openability.catalog import rules
from openability.kernel.errors import InvalidArgument, RuleViolation

D = Decimal
SMS_LIST = [(0, D("0.0500")), (100_000, D("0.0450")), (1_000_000, D("0.0400"))]


# ---- R-PRICE-01 graduated amounts ----


def test_r_price_01_within_first_tier() -> None:
    assert rules.graduated_amount(SMS_LIST, 0, 1) == D("0.0500")
    assert rules.graduated_amount(SMS_LIST, 500, 10) == D("0.5000")


def test_r_price_01_zero_quantity_costs_nothing() -> None:
    assert rules.graduated_amount(SMS_LIST, 123_456, 0) == 0


def test_r_price_01_last_unit_before_boundary_and_first_after() -> None:
    # positions are 0-based: the unit at position 99,999 is the 100,000th of the month
    assert rules.graduated_amount(SMS_LIST, 99_999, 1) == D("0.0500")
    assert rules.graduated_amount(SMS_LIST, 100_000, 1) == D("0.0450")
    assert rules.graduated_amount(SMS_LIST, 999_999, 1) == D("0.0450")
    assert rules.graduated_amount(SMS_LIST, 1_000_000, 1) == D("0.0400")


def test_r_price_01_call_crossing_a_boundary_is_split() -> None:
    # 3 units below 100,000 at 0.05, 2 units from 100,000 at 0.045
    assert rules.graduated_amount(SMS_LIST, 99_997, 5) == D("0.1500") + D("0.0900")


def test_r_price_01_call_crossing_two_boundaries() -> None:
    amount = rules.graduated_amount(SMS_LIST, 99_999, 900_003)
    assert amount == D("0.0500") * 1 + D("0.0450") * 900_000 + D("0.0400") * 2


def test_r_price_01_whole_month_from_zero() -> None:
    total = rules.graduated_amount(SMS_LIST, 0, 1_200_000)
    assert total == D("0.05") * 100_000 + D("0.045") * 900_000 + D("0.04") * 200_000
    assert total == D("53500.0000")


def test_r_price_01_unsorted_tiers_are_sorted() -> None:
    assert rules.graduated_amount(list(reversed(SMS_LIST)), 99_999, 2) == D("0.0950")


def test_r_price_01_single_tier_is_linear() -> None:
    assert rules.graduated_amount([(0, D("0.3000"))], 10**9, 7) == D("2.1000")


def test_r_price_01_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError):
        rules.graduated_amount(SMS_LIST, -1, 1)
    with pytest.raises(ValueError):
        rules.graduated_amount(SMS_LIST, 0, -1)
    with pytest.raises(ValueError):
        rules.graduated_amount([(10, D("0.1"))], 0, 1)
    with pytest.raises(ValueError):
        rules.graduated_amount([], 0, 1)


def test_unit_price_at_positions() -> None:
    assert rules.unit_price_at(SMS_LIST, 0) == D("0.0500")
    assert rules.unit_price_at(SMS_LIST, 99_999) == D("0.0500")
    assert rules.unit_price_at(SMS_LIST, 100_000) == D("0.0450")
    assert rules.unit_price_at(SMS_LIST, 5_000_000) == D("0.0400")


prices = st.decimals(min_value=D("0"), max_value=D("10"), places=4, allow_nan=False, allow_infinity=False)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[tuple[int, Decimal]]:
    starts = draw(st.lists(st.integers(min_value=1, max_value=2000), max_size=5, unique=True))
    return [(v, draw(prices)) for v in [0, *sorted(starts)]]


volumes = st.integers(min_value=0, max_value=3000)


@given(tier_lists(), volumes, volumes, volumes)
def test_r_price_01_property_additive(tiers: list[tuple[int, Decimal]], m: int, a: int, b: int) -> None:
    """Splitting usage into calls never changes the month's total (what makes re-rating exact)."""
    assert rules.graduated_amount(tiers, m, a) + rules.graduated_amount(tiers, m + a, b) == (
        rules.graduated_amount(tiers, m, a + b)
    )


@given(tier_lists(), volumes, volumes, volumes)
def test_r_price_01_property_monotone_in_quantity(
    tiers: list[tuple[int, Decimal]], m: int, a: int, extra: int
) -> None:
    assert rules.graduated_amount(tiers, m, a) <= rules.graduated_amount(tiers, m, a + extra)


@given(tier_lists(), st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=60))
def test_r_price_01_property_equals_sum_of_unit_prices(
    tiers: list[tuple[int, Decimal]], m: int, q: int
) -> None:
    expected = sum((rules.unit_price_at(tiers, m + i) for i in range(q)), D(0))
    assert rules.graduated_amount(tiers, m, q) == expected


@given(tier_lists(), volumes, volumes)
def test_r_price_01_property_exact_four_decimals(tiers: list[tuple[int, Decimal]], m: int, q: int) -> None:
    amount = rules.graduated_amount(tiers, m, q)
    assert amount == amount.quantize(D("0.0001"))
    assert amount >= 0


# ---- tier list validation ----


def test_validate_tiers_normalizes_strings() -> None:
    assert rules.validate_tiers([["0", "0.05"], [100000, "0.045"]]) == [
        (0, D("0.0500")),
        (100000, D("0.0450")),
    ]


def test_r_price_01_a_tier_list_whose_unit_price_rises_is_refused() -> None:
    """Graduated tiers: the unit price falls (or stays) as the month's volume rises."""
    assert rules.validate_tiers([(0, "0.05"), (1000, "0.05"), (5000, "0.04")])[2] == (5000, D("0.0400"))
    with pytest.raises(
        InvalidArgument, match=r"tiers\[2\]: unit price 0.0600 is above the previous tier's 0.0400"
    ):
        rules.validate_tiers([(0, "0.05"), (1000, "0.04"), (5000, "0.06")])


@pytest.mark.parametrize(
    ("tiers", "fragment"),
    [
        ([], "at least one"),
        ([(1, "0.05")], "start at volume 0"),
        ([(0, "0.05"), (0, "0.04")], "greater than"),
        ([(0, "0.05"), (10, "0.04"), (5, "0.03")], "greater than"),
        ([(0, "-0.01")], ">= 0"),
        ([(0, "0.00001")], "more than 4 decimals"),
        ([(0, 0.05)], "decimal string"),
        ([(0, "abc")], "not a decimal"),
        ([(0, "NaN")], "not a decimal price"),
        ([(0, D("NaN"))], "finite"),  # a Decimal given in code
        # Only plain decimal strings are prices (the one money path, kernel.money.parse_money).
        ([(0, "5E-2")], "tiers[0]: not a decimal price: '5E-2'"),
        ([(0, "0.0_4")], "not a decimal price"),
        ([(0, " 0.05")], "not a decimal price"),
        ([(0, "+0.05")], "not a decimal price"),
        ([(0, "０.05")], "not a decimal price"),  # full-width zero
        ([(0, "0.05"), (10, 1)], 'tiers[1]: money must be a decimal string like "0.0500"'),
        ([(True, "0.05")], "whole number"),
        ([(-1, "0.05")], ">= 0"),
        ([(0.5, "0.05")], "whole number"),
        ([(0, "0.05", 1)], "[from_volume, unit_price]"),
        ([(0, "1000000")], "above"),
    ],
)
def test_validate_tiers_refuses(tiers: list[tuple[object, ...]], fragment: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        rules.validate_tiers(tiers)  # type: ignore[arg-type]
    assert fragment in exc.value.message
    assert exc.value.code == "INVALID_TIERS"


def _plan(**overrides: list[tuple[int, str]]) -> dict[tuple[str, str], list[tuple[int, str]]]:
    base = {
        ("national", "list"): [(0, "0.0500"), (100000, "0.0450")],
        ("national", "certified"): [(0, "0.0480"), (100000, "0.0430")],
        ("national", "close"): [(0, "0.0460"), (100000, "0.0410")],
        ("national", "strategic"): [(0, "0.0440"), (100000, "0.0390")],
    }
    for k, v in overrides.items():
        scope, band = k.split("__")
        base[(scope, band)] = v
    return base


def test_validate_plan_accepts_complete_national() -> None:
    out = rules.validate_plan_tiers(_plan())
    assert out[("national", "strategic")][1] == (100000, D("0.0390"))


def test_validate_plan_requires_national_and_every_band() -> None:
    plan = _plan()
    del plan[("national", "close")]
    with pytest.raises(InvalidArgument, match="close"):
        rules.validate_plan_tiers(plan)
    with pytest.raises(InvalidArgument, match="national"):
        rules.validate_plan_tiers({("local", b): [(0, "0.01")] for b in rules.BANDS})
    partial_local = _plan(local__list=[(0, "0.0490")])
    with pytest.raises(InvalidArgument, match="local lacks"):
        rules.validate_plan_tiers(partial_local)


def test_validate_plan_refuses_unknown_scope_or_band() -> None:
    with pytest.raises(InvalidArgument, match="scope"):
        rules.validate_plan_tiers(_plan(province__list=[(0, "0.01")]))
    with pytest.raises(InvalidArgument, match="band"):
        rules.validate_plan_tiers(_plan(national__gold=[(0, "0.01")]))


def test_r_price_02_band_order_refused_when_better_band_pays_more() -> None:
    with pytest.raises(RuleViolation) as exc:
        rules.validate_plan_tiers(_plan(national__strategic=[(0, "0.0470"), (100000, "0.0390")]))
    assert exc.value.code == "BAND_ORDER"
    assert "strategic" in exc.value.message


def test_r_price_02_band_order_checked_at_every_boundary() -> None:
    # close breaks later than certified: from 100,000 to 199,999 close (0.0460) > certified (0.0430)
    plan = _plan(national__close=[(0, "0.0460"), (200000, "0.0410")])
    with pytest.raises(RuleViolation, match="volume 100000"):
        rules.validate_plan_tiers(plan)


def test_r_price_02_equal_prices_allowed() -> None:
    same = [(0, "0.0500")]
    rules.validate_plan_tiers({("national", b): same for b in rules.BANDS})


# ---- R-PRICE-02 bands ----


def test_r_price_02_ap_pays_list_price() -> None:
    assert rules.band_for("AP", None) == "list"
    assert rules.band_for("AP", "strategic") == "list"


def test_r_price_02_si_pays_its_tier_band() -> None:
    assert rules.band_for("SI", None) == "certified"
    assert rules.band_for("SI", "close") == "close"
    assert rules.band_for("SI", "strategic") == "strategic"
    with pytest.raises(ValueError):
        rules.band_for("SI", "gold")


# ---- R-PRICE-03 versions and scope ----

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_r_price_03_version_at_picks_window() -> None:
    v1 = rules.PlanWindow(1, T0, T0 + timedelta(days=30))
    v2 = rules.PlanWindow(2, T0 + timedelta(days=30))
    vs = [v1, v2]
    assert rules.version_at(vs, T0 - timedelta(seconds=1)) is None
    assert rules.version_at(vs, T0) is v1
    assert rules.version_at(vs, T0 + timedelta(days=30) - timedelta(microseconds=1)) is v1
    assert rules.version_at(vs, T0 + timedelta(days=30)) is v2  # valid_to is exclusive
    assert rules.version_at(vs, T0 + timedelta(days=3000)) is v2


def test_r_price_03_overlap_highest_version_wins() -> None:
    vs = [rules.PlanWindow(1, T0), rules.PlanWindow(2, T0 + timedelta(days=1))]
    assert rules.version_at(vs, T0 + timedelta(days=2)).version == 2  # type: ignore[union-attr]


def test_r_price_03_new_version_start_checks() -> None:
    now = T0 + timedelta(days=10)
    assert rules.new_version_start(now, now, T0) == now
    assert rules.new_version_start(None, now, T0) == now  # None: from the moment of creation
    later = now + timedelta(days=1)
    assert rules.new_version_start(later, now, T0) == later
    # a "now" that took a moment to arrive is recorded as now, never earlier
    assert rules.new_version_start(now - timedelta(seconds=1), now, None) == now
    assert rules.new_version_start(now - rules.VALID_FROM_SKEW + timedelta(microseconds=1), now, None) == now
    for past in (now - rules.VALID_FROM_SKEW, now - timedelta(days=1)):
        with pytest.raises(RuleViolation) as exc:
            rules.new_version_start(past, now, None)
        assert exc.value.code == "VALID_FROM_IN_PAST"
    assert timedelta(seconds=60) == rules.VALID_FROM_SKEW
    with pytest.raises(RuleViolation) as exc:
        rules.new_version_start(now + timedelta(days=5), now, now + timedelta(days=5))
    assert exc.value.code == "VALID_FROM_BEFORE_LATEST"
    with pytest.raises(RuleViolation) as exc:  # "now" cannot precede a version scheduled later
        rules.new_version_start(None, now, now + timedelta(days=5))
    assert exc.value.code == "VALID_FROM_BEFORE_LATEST"
    with pytest.raises(InvalidArgument):
        rules.new_version_start(datetime(2027, 1, 1), now, None)


def test_r_price_03_scope_falls_back_to_national() -> None:
    plan = {("national", "list"): [(0, D("0.05"))], ("local", "list"): [(0, D("0.049"))]}
    assert rules.tiers_for(plan, "local", "list") == [(0, D("0.049"))]
    assert rules.tiers_for({("national", "list"): [(0, D("0.05"))]}, "local", "list") == [(0, D("0.05"))]
    with pytest.raises(KeyError):
        rules.tiers_for(plan, "national", "close")
