"""Rating in integer money units (charging/rules.py) agrees with the Decimal graduated rule
(catalog.rules.graduated_amount) for any tier list, position and quantity."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openability.catalog.rules import graduated_amount
from openability.charging import rules

AT = datetime(2026, 5, 1, tzinfo=UTC)

prices = st.integers(min_value=0, max_value=1_000_000_000).map(lambda u: Decimal(u).scaleb(-4))
tier_lists = st.lists(
    st.tuples(st.integers(min_value=1, max_value=10_000), prices),
    min_size=0,
    max_size=5,
    unique_by=lambda t: t[0],
).flatmap(lambda rest: prices.map(lambda p0: [(0, p0), *rest]))


@given(tier_lists, st.integers(min_value=0, max_value=20_000), st.integers(min_value=0, max_value=5_000))
def test_integer_units_agree_with_the_decimal_rule(
    tiers: list[tuple[int, Decimal]], mtd: int, q: int
) -> None:
    units = rules.unit_tiers(tiers)
    assert units is not None
    assert Decimal(rules.graduated_units(units, mtd, q)).scaleb(-4) == graduated_amount(tiers, mtd, q)


def _plan(tiers: dict[tuple[str, str], tuple[tuple[int, Decimal], ...]]) -> rules.PlanVersion:
    return rules.PlanVersion("plan_1", 1, datetime(2026, 1, 1, tzinfo=UTC), None, tiers)


def test_rate_has_four_places_and_the_scope_fallback() -> None:
    plan = _plan({("national", "list"): ((0, Decimal("0.0500")), (100, Decimal("0.0400")))})
    r = rules.rate((plan,), AT, scope="local", band="list", mtd_before=99, quantity=2)
    assert r.amount == Decimal("0.0900") and str(r.amount) == "0.0900"
    assert (r.quantity, r.plan_id, r.band, r.scope) == (2, "plan_1", "list", "local")
    assert rules.rate((plan,), AT, scope="national", band="list", mtd_before=5, quantity=0).amount == 0


def test_no_list_for_the_band_is_no_price() -> None:
    plan = _plan({("national", "list"): ((0, Decimal("0.0500")),)})
    with pytest.raises(rules.NoPrice):
        rules.rate((plan,), AT, scope="national", band="close", mtd_before=0, quantity=1)
    with pytest.raises(rules.NoPrice):
        rules.rate((plan,), AT, scope="national", band="close", mtd_before=0, quantity=0)


def test_a_price_with_more_places_is_rated_in_decimal() -> None:
    plan = _plan({("national", "list"): ((0, Decimal("0.00005")),)})
    assert rules.rate((plan,), AT, scope="national", band="list", mtd_before=0, quantity=3).amount == Decimal(
        "0.00015"
    )
