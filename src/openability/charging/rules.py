"""Pure charging rules (no I/O): rating a call, SMS segments, voice minutes, grant sizing.

Pricing semantics (graduated tiers, price bands, plan versions) belong to the catalog; rating
delegates to `catalog.rules` so the real-time price and the bill run's exact re-rating
(R-CHARGE-06) can never disagree about what a tier means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from openability.catalog.rules import band_for, graduated_amount, tiers_for, version_at
from openability.catalog.types import PlanVersion
from openability.connectors.sms_codec import count_segments

MONEY_UNIT = Decimal("0.0001")

__all__ = [
    "NoPrice",
    "PlanVersion",
    "Rating",
    "band_for",
    "grant_refill",
    "grant_target",
    "rate",
    "sms_quantity",
    "started_minutes",
    "voice_estimate_seconds",
]

ZERO = Decimal(0)


class NoPrice(LookupError):
    """No price plan version (or no tier list for the partner's band) is valid for the call."""


@dataclass(frozen=True, slots=True)
class Rating:
    amount: Decimal
    quantity: int
    plan_id: str
    band: str
    scope: str


def rate(
    plans: Sequence[PlanVersion], at: datetime, *, scope: str, band: str, mtd_before: int, quantity: int
) -> Rating:
    """Price `quantity` units used at instant `at` after `mtd_before` units this month.

    R-PRICE-03: the version valid at the moment of use; R-PRICE-02: the partner's band, in its scope's
    list (falling back to the national list when the plan has no list for the scope); R-PRICE-01:
    graduated over the month-to-date volume."""
    plan = version_at(plans, at)
    if plan is None:
        raise NoPrice("no price plan version is valid at this moment")
    unit_tiers = _unit_tiers(plan, scope, band)
    if not quantity:
        amount = ZERO
    elif unit_tiers is not None:
        if mtd_before < 0 or quantity < 0:
            raise ValueError("volumes must be >= 0")
        amount = Decimal(graduated_units(unit_tiers, mtd_before, quantity)).scaleb(-4)
    else:  # a price with more than 4 decimals (the catalog does not store one): exact Decimal rating
        amount = graduated_amount(tiers_for(plan.tiers, scope, band), mtd_before, quantity)
    return Rating(amount, quantity, plan.plan_id, band, scope)


# ---- prices as integer units --------------------------------------------------------------------
# Rating a call in Decimal cost more than the rest of the rules together. Each plan version's tier
# lists are turned once into exact integers of the smallest money unit (0.0001 CNY, kernel/money.py)
# per (scope, band) — never floats — and a call is rated in int arithmetic; the amount becomes a
# Decimal (4 places) only at the edge. Same tiers, same graduated semantics as catalog.rules
# (`graduated_amount`; the property test checks both agree).

UnitTiers = tuple[tuple[int, ...], tuple[int, ...]]  # (from_volumes ascending, unit prices in units)
_MAX_CACHED_PLANS = 4096
# id(plan) -> (plan, {(scope, band): UnitTiers | None}); the plan is kept so that its id is not reused.
_unit_cache: dict[int, tuple[PlanVersion, dict[tuple[str, str], UnitTiers | None]]] = {}


def _unit_tiers(plan: PlanVersion, scope: str, band: str) -> UnitTiers | None:
    """The plan's tier list for (scope, band) (R-PRICE-02/03, as `tiers_for` picks it) in integer
    units; None when a price is not a whole number of units. Raises NoPrice when there is no list."""
    entry = _unit_cache.get(id(plan))
    if entry is None or entry[0] is not plan:
        if len(_unit_cache) >= _MAX_CACHED_PLANS:
            _unit_cache.clear()
        entry = _unit_cache[id(plan)] = (plan, {})
    lists = entry[1]
    key = (scope, band)
    try:
        return lists[key]
    except KeyError:
        pass
    try:
        tiers = tiers_for(plan.tiers, scope, band)
    except KeyError:
        raise NoPrice(f"price plan v{plan.version} has no price list for band {band!r}") from None
    lists[key] = compiled = unit_tiers(tiers)
    return compiled


def unit_tiers(tiers: Sequence[tuple[int, Decimal]]) -> UnitTiers | None:
    """A tier list in integer money units (None if a price has more than 4 decimals)."""
    ordered = sorted(tiers, key=lambda t: t[0])
    if not ordered or ordered[0][0] != 0:
        raise ValueError("a tier list must start at volume 0")
    prices: list[int] = []
    for _, price in ordered:
        units = price.scaleb(4)
        if units != units.to_integral_value():
            return None
        prices.append(int(units))
    return tuple(v for v, _ in ordered), tuple(prices)


def graduated_units(tiers: UnitTiers, mtd_before: int, quantity: int) -> int:
    """`graduated_amount` in integer units: each unit priced by the tier its own month-to-date
    position falls in (R-PRICE-01)."""
    starts, prices = tiers
    end = mtd_before + quantity
    n = len(starts)
    if mtd_before >= starts[-1]:  # one tier, or already in the last one: the usual call
        return prices[-1] * quantity
    total = 0
    for i in range(n):
        lo = starts[i] if starts[i] > mtd_before else mtd_before
        hi = end if i + 1 == n or starts[i + 1] > end else starts[i + 1]
        if hi > lo:
            total += prices[i] * (hi - lo)
    return total


def sms_quantity(text: str, recipients: int) -> tuple[str, int, int]:
    """R-CHARGE-05: SMS is charged per segment (GSM-7 160/153, UCS-2 70/67) per recipient.
    Returns (encoding, segments per message, charged quantity)."""
    encoding, segments = count_segments(text)
    return encoding, segments, segments * recipients


def started_minutes(seconds: int) -> int:
    """R-CHARGE-05: voice is charged per started minute of call time (61 s -> 2 minutes)."""
    if seconds <= 0:
        return 0
    return -(-seconds // 60)


# A voice notification is reserved for before the call at a pessimistic length: text-to-speech reads
# about 4 Chinese characters a second; we assume 3 and add ringing/answer time, per repetition.
VOICE_CHARS_PER_SECOND = 3
VOICE_SETUP_SECONDS = 30


def voice_estimate_seconds(text: str, repeat: int) -> int:
    """Upper estimate of a notification call's length, reserved before the call is placed."""
    return VOICE_SETUP_SECONDS + repeat * -(-len(text) // VOICE_CHARS_PER_SECOND)


def grant_target(
    *, rate_per_second: Decimal, window_seconds: int, min_calls: int, call_amount: Decimal
) -> Decimal:
    """How much money a worker should hold for one account: about `window_seconds` of its observed
    spending, and at least `min_calls` calls' worth (so a hot account needs one DB write per grant,
    not per call). Rounded up to the 0.0001 money unit: the observed rate is a quotient and the
    ledger stores exact units."""
    target = max(rate_per_second * window_seconds, call_amount * min_calls, call_amount)
    return target.quantize(MONEY_UNIT, rounding=ROUND_CEILING)


def grant_refill(*, target: Decimal, need: Decimal, remaining: Decimal, available: Decimal) -> Decimal | None:
    """The amount to move from available into the grant so that it covers a call of `need`.

    Never more than `available` (the balance never goes negative, R-CHARGE-02). None when even all the
    available money plus what is left in the grant cannot cover the call (R-CHARGE-01: refuse)."""
    if remaining + available < need:
        return None
    want = max(target, need) - remaining
    # Near depletion take at most half of what is left (never less than this call needs), so another
    # worker can still get a grant instead of refusing calls while money sits in this worker's grant.
    # The half is cut to whole calls of this size so the last cents are not split into unusable crumbs.
    half = available / 2
    if need > 0:
        half = (half // need) * need
    fair_share = max(need - remaining, half.quantize(MONEY_UNIT, rounding=ROUND_DOWN))
    return max(ZERO, min(want, fair_share, available)).quantize(MONEY_UNIT, rounding=ROUND_CEILING)
