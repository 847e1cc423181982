"""Pure rating rules: segments, minutes, plan versions, graduated tiers, bands, grant sizing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openability.charging import rules

T0 = datetime(2026, 11, 1, tzinfo=UTC)
LIST = {("national", "list"): ((0, Decimal("0.0500")), (1000, Decimal("0.0400")), (5000, Decimal("0.0300")))}


def plan(
    pid: str, version: int, start: datetime, end: datetime | None = None, tiers: dict | None = None
) -> rules.PlanVersion:  # type: ignore[type-arg]
    return rules.PlanVersion(pid, version, start, end, tiers or LIST)


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM7", 1),
        ("a" * 161, "GSM7", 2),
        ("a" * 306, "GSM7", 2),
        ("a" * 307, "GSM7", 3),
        ("€" * 80, "GSM7", 1),  # extension characters take two septets
        ("€" * 81, "GSM7", 2),
        ("短" * 70, "UCS2", 1),
        ("短" * 71, "UCS2", 2),
        ("短" * 134, "UCS2", 2),
        ("短" * 135, "UCS2", 3),
        ("a" * 159 + "短", "UCS2", 3),  # one Chinese character makes the whole text UCS-2
    ],
)
def test_r_charge_05_sms_segments(text: str, encoding: str, segments: int) -> None:
    enc, seg, qty = rules.sms_quantity(text, 3)
    assert (enc, seg) == (encoding, segments)
    assert qty == segments * 3  # segments x recipients


def test_r_charge_05_voice_per_started_minute() -> None:
    assert [rules.started_minutes(s) for s in (0, 1, 60, 61, 120, 121)] == [0, 1, 1, 2, 2, 3]
    # the reservation estimate is never below the simulated platform's real call time
    from openability.connectors.voice_sim import call_duration_seconds

    for text in ("x", "验证码" * 50, "y" * 500):
        for repeat in (1, 2, 3):
            assert rules.voice_estimate_seconds(text, repeat) >= call_duration_seconds(text, repeat)


def test_r_price_03_version_valid_at_the_moment_of_use() -> None:
    switch = T0 + timedelta(days=10)
    v1 = plan("pp1", 1, T0 - timedelta(days=30), switch)
    v2 = plan("pp2", 2, switch, tiers={("national", "list"): ((0, Decimal("0.0200")),)})
    before = rules.rate(
        [v1, v2], switch - timedelta(seconds=1), scope="national", band="list", mtd_before=0, quantity=1
    )
    after = rules.rate([v1, v2], switch, scope="national", band="list", mtd_before=0, quantity=1)
    assert (before.plan_id, before.amount) == ("pp1", Decimal("0.0500"))
    assert (after.plan_id, after.amount) == ("pp2", Decimal("0.0200"))
    with pytest.raises(rules.NoPrice):
        rules.rate([v1, v2], T0 - timedelta(days=31), scope="national", band="list", mtd_before=0, quantity=1)


def test_r_price_01_graduated_crossing_splits_units_between_tiers() -> None:
    p = [plan("pp", 1, T0)]
    r = rules.rate(p, T0, scope="national", band="list", mtd_before=998, quantity=4)
    assert r.amount == Decimal("0.0500") * 2 + Decimal("0.0400") * 2
    r = rules.rate(p, T0, scope="national", band="list", mtd_before=999, quantity=4002)
    assert r.amount == Decimal("0.0500") + Decimal("0.0400") * 4000 + Decimal("0.0300")


@given(st.integers(0, 8000), st.lists(st.integers(0, 300), min_size=1, max_size=20))
def test_r_price_01_graduated_tiers_split_into_calls_cost_the_same_as_one(
    start: int, calls: list[int]
) -> None:
    p = [plan("pp", 1, T0)]
    total, mtd = Decimal(0), start
    for q in calls:
        total += rules.rate(p, T0, scope="national", band="list", mtd_before=mtd, quantity=q).amount
        mtd += q
    whole = rules.rate(p, T0, scope="national", band="list", mtd_before=start, quantity=sum(calls)).amount
    assert total == whole


def test_r_price_02_band_by_tier_and_scope_fallback() -> None:
    assert rules.band_for("AP", None) == "list"
    assert rules.band_for("SI", None) == "certified"
    assert rules.band_for("SI", "strategic") == "strategic"
    tiers = {
        ("national", "certified"): ((0, Decimal("0.0450")),),
        ("local", "certified"): ((0, Decimal("0.0420")),),
        ("national", "strategic"): ((0, Decimal("0.0300")),),
    }
    p = [plan("pp", 1, T0, tiers=tiers)]
    assert rules.rate(p, T0, scope="local", band="certified", mtd_before=0, quantity=1).amount == Decimal(
        "0.0420"
    )
    # no local list for the band: the national one applies
    assert rules.rate(p, T0, scope="local", band="strategic", mtd_before=0, quantity=1).amount == Decimal(
        "0.0300"
    )
    with pytest.raises(rules.NoPrice):
        rules.rate(p, T0, scope="national", band="close", mtd_before=0, quantity=1)


def test_grant_target_adapts_to_rate_and_min_calls() -> None:
    c = Decimal("0.0500")
    assert rules.grant_target(
        rate_per_second=Decimal(0), window_seconds=5, min_calls=20, call_amount=c
    ) == Decimal("1.0000")
    assert rules.grant_target(
        rate_per_second=Decimal("2"), window_seconds=5, min_calls=20, call_amount=c
    ) == Decimal("10.0000")


@given(
    st.decimals(0, 100, places=4),
    st.decimals("0.0001", 10, places=4),
    st.decimals(0, 10, places=4),
    st.decimals(0, 100, places=4),
)
def test_r_charge_02_grant_refill_never_exceeds_available(
    target: Decimal, need: Decimal, remaining: Decimal, available: Decimal
) -> None:
    x = rules.grant_refill(target=target, need=need, remaining=remaining, available=available)
    if remaining + available < need:
        assert x is None
    else:
        assert x is not None
        assert 0 <= x <= available
        assert remaining + x >= need
        assert x == x.quantize(Decimal("0.0001"))  # storable as exact money units
        # fair share: never more than half the available money unless this call needs more
        assert x <= max(need - remaining, available / 2)


def test_grant_target_is_whole_money_units() -> None:
    # an observed rate is a quotient (19 calls x 0.05 in 1.3 s); the ledger needs exact 0.0001 units
    rate = Decimal(19) * Decimal("0.05") / Decimal("1.3")
    t = rules.grant_target(rate_per_second=rate, window_seconds=4, min_calls=20, call_amount=Decimal("0.05"))
    assert t == t.quantize(Decimal("0.0001"))
    assert t >= rate * 4


def test_near_depletion_grant_is_half_in_whole_calls() -> None:
    c = Decimal("0.0500")
    # 0.15 left: half is 0.075, cut to one whole call; the other worker can still take the rest
    assert (
        rules.grant_refill(target=Decimal("1.0000"), need=c, remaining=Decimal(0), available=Decimal("0.15"))
        == c
    )
    # plenty left: the target is taken
    assert rules.grant_refill(
        target=Decimal("1.0000"), need=c, remaining=Decimal(0), available=Decimal("100")
    ) == Decimal("1.0000")
    # the very last call's money is taken whole
    assert rules.grant_refill(target=Decimal("1.0000"), need=c, remaining=Decimal(0), available=c) == c
