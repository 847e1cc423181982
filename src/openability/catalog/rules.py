"""Pure pricing rules (R-PRICE-01..03): graduated tiers, price bands, plan versions. No I/O.

A tier list is a sequence of (from_volume, unit_price): from `from_volume` month-to-date units
(inclusive) each further unit costs `unit_price`, until the next tier's start.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

from openability.kernel.errors import InvalidArgument, RuleViolation
from openability.kernel.money import MoneyError, parse_money, to_decimal

TierList = Sequence[tuple[int, Decimal]]

SCOPES = ("national", "local")
# Cheapest last: the sanity rule (R-PRICE-02) is strategic <= close <= certified <= list.
BANDS = ("list", "certified", "close", "strategic")
SI_BANDS = ("certified", "close", "strategic")
DEFAULT_SI_BAND = "certified"
UNITS = ("segment", "message", "minute")
MAX_UNIT_PRICE = Decimal("100000")


def graduated_amount(tiers: TierList, mtd_before: int, quantity: int) -> Decimal:
    """Price `quantity` units used after `mtd_before` units this month (R-PRICE-01).

    Graduated, not volume-wide: each unit is priced by the tier its own cumulative position falls
    in, so a use that crosses a boundary is split between the tiers. This makes the month's total
    independent of how the usage was split into calls, which lets the bill run re-rate exactly
    (R-CHARGE-06)."""
    if mtd_before < 0 or quantity < 0:
        raise ValueError("volumes must be >= 0")
    ordered = sorted(tiers, key=lambda t: t[0])
    if not ordered or ordered[0][0] != 0:
        raise ValueError("a tier list must start at volume 0")
    start, end = mtd_before, mtd_before + quantity
    total = Decimal(0)
    for i, (from_volume, price) in enumerate(ordered):
        upper = ordered[i + 1][0] if i + 1 < len(ordered) else None
        lo = max(start, from_volume)
        hi = end if upper is None else min(end, upper)
        if hi > lo:
            total += price * (hi - lo)
    return total


def unit_price_at(tiers: TierList, volume: int) -> Decimal:
    """The unit price of the unit at month-to-date position `volume` (0-based)."""
    price: Decimal | None = None
    for from_volume, p in sorted(tiers, key=lambda t: t[0]):
        if from_volume <= volume:
            price = p
        else:
            break
    if price is None:
        raise ValueError("a tier list must start at volume 0")
    return price


def validate_tiers(
    tiers: Sequence[tuple[object, object]], *, label: str = "tiers"
) -> list[tuple[int, Decimal]]:
    """Check one tier list and return it normalized: starts at 0, strictly increasing from_volume,
    prices >= 0 with at most 4 decimals, never above the previous tier's (the real-time rating's bound,
    charging/volume.py, holds only for falling prices). Raises InvalidArgument with the offending
    position."""
    if not tiers:
        raise InvalidArgument(f"{label}: at least one tier is required", code="INVALID_TIERS")
    out: list[tuple[int, Decimal]] = []
    for i, pair in enumerate(tiers):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InvalidArgument(f"{label}[{i}]: a tier is [from_volume, unit_price]", code="INVALID_TIERS")
        raw_volume, raw_price = pair
        volume = _parse_volume(raw_volume, f"{label}[{i}]")
        price = parse_price(raw_price, f"{label}[{i}]")
        if i == 0 and volume != 0:
            raise InvalidArgument(f"{label}: the first tier must start at volume 0", code="INVALID_TIERS")
        if out and volume <= out[-1][0]:
            raise InvalidArgument(
                f"{label}[{i}]: from_volume {volume} must be greater than {out[-1][0]}", code="INVALID_TIERS"
            )
        if out and price > out[-1][1]:
            raise InvalidArgument(
                f"{label}[{i}]: unit price {price} is above the previous tier's {out[-1][1]}: graduated "
                "tiers fall as the month's volume rises (R-PRICE-01)",
                code="INVALID_TIERS",
            )
        out.append((volume, price))
    return out


def _parse_volume(v: object, where: str) -> int:
    if isinstance(v, bool):
        raise InvalidArgument(f"{where}: from_volume must be a whole number", code="INVALID_TIERS")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str) and v.strip().isdigit():
        n = int(v.strip())
    else:
        raise InvalidArgument(f"{where}: from_volume must be a whole number", code="INVALID_TIERS")
    if n < 0:
        raise InvalidArgument(f"{where}: from_volume must be >= 0", code="INVALID_TIERS")
    return n


def parse_price(v: object, where: str = "price") -> Decimal:
    """A unit price: a plain decimal string like "0.0500" (or a Decimal given in code), >= 0, at most
    4 decimals, read by the one money path (kernel.money.parse_money). JSON numbers are refused."""
    try:
        if isinstance(v, Decimal):  # given in code (the demo catalog)
            d = to_decimal(v, field=where)
        else:
            d = parse_money(v, field=where, noun="price", example="0.0500")
    except MoneyError as exc:
        raise InvalidArgument(str(exc), code="INVALID_TIERS") from None
    if d < 0:
        raise InvalidArgument(f"{where}: price must be >= 0", code="INVALID_TIERS")
    if d > MAX_UNIT_PRICE:
        raise InvalidArgument(f"{where}: price above {MAX_UNIT_PRICE}", code="INVALID_TIERS")
    return d


PlanTiers = dict[tuple[str, str], list[tuple[int, Decimal]]]


def validate_plan_tiers(tiers: Mapping[tuple[str, str], Sequence[tuple[object, object]]]) -> PlanTiers:
    """Validate a whole price plan: known scopes and bands; every scope given has all four bands
    (list + the three SI bands, R-PRICE-02) and "national" is required; each list is valid; and the
    bands are ordered strategic <= close <= certified <= list at every volume."""
    out: PlanTiers = {}
    for key, lst in tiers.items():
        scope, band = key
        if scope not in SCOPES:
            raise InvalidArgument(f"unknown scope {scope!r} (national, local)", code="INVALID_TIERS")
        if band not in BANDS:
            raise InvalidArgument(
                f"unknown band {band!r} (list, certified, close, strategic)", code="INVALID_TIERS"
            )
        out[(scope, band)] = validate_tiers(lst, label=f"{scope}.{band}")
    scopes = {s for s, _ in out}
    if "national" not in scopes:
        raise InvalidArgument("the national price list is required", code="INVALID_TIERS")
    for scope in sorted(scopes):
        missing = [b for b in BANDS if (scope, b) not in out]
        if missing:
            raise InvalidArgument(
                f"scope {scope} lacks the band(s) {', '.join(missing)}: every band needs its price list",
                code="INVALID_TIERS",
            )
        check_band_order({b: out[(scope, b)] for b in BANDS}, scope=scope)
    return out


def check_band_order(by_band: Mapping[str, TierList], *, scope: str = "national") -> None:
    """R-PRICE-02 sanity: a better band never pays more. Prices are step functions of volume, so
    comparing at every tier boundary of every band covers all volumes."""
    points = sorted({v for lst in by_band.values() for v, _ in lst})
    for volume in points:
        prices = [(b, unit_price_at(by_band[b], volume)) for b in BANDS if b in by_band]
        for (b_hi, p_hi), (b_lo, p_lo) in itertools.pairwise(prices):
            if p_lo > p_hi:
                raise RuleViolation(
                    f"R-PRICE-02: {scope} {b_lo} price {p_lo} exceeds {b_hi} price {p_hi} at volume {volume}",
                    code="BAND_ORDER",
                )


def band_for(partner_kind: str, tier: str | None) -> str:
    """R-PRICE-02: APs pay the list price; an SI pays its tier's band (certified until tiered)."""
    if str(partner_kind) == "AP":
        return "list"
    t = str(tier) if tier else DEFAULT_SI_BAND
    if t not in SI_BANDS:
        raise ValueError(f"unknown SI tier {t!r}")
    return t


def tiers_for(plan_tiers: Mapping[tuple[str, str], TierList], scope: str, band: str) -> TierList:
    """The list to rate with: the partner's scope if the plan has one, else national (R-PRICE-03)."""
    if (scope, band) in plan_tiers:
        return plan_tiers[(scope, band)]
    if ("national", band) in plan_tiers:
        return plan_tiers[("national", band)]
    raise KeyError(f"no price list for band {band}")


class Versioned(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def valid_from(self) -> datetime: ...

    @property
    def valid_to(self) -> datetime | None: ...


V = TypeVar("V", bound=Versioned)


def version_at(versions: Sequence[V], at: datetime) -> V | None:
    """R-PRICE-03: the version valid at instant `at`, windows being [valid_from, valid_to).
    If windows overlap (should not happen), the highest version wins."""
    best: V | None = None
    for v in versions:
        if (
            v.valid_from <= at
            and (v.valid_to is None or at < v.valid_to)
            and (best is None or v.version > best.version)
        ):
            best = v
    return best


@dataclass(frozen=True)
class PlanWindow:
    """A plain version window, for callers (and tests) that hold no ORM rows."""

    version: int
    valid_from: datetime
    valid_to: datetime | None = None


# A new version's start may lag the server clock by less than this: a start given as "now" by a
# client (an API call, a console form in minutes) reaches the server a little later. Such a start is
# recorded as the moment of creation, never earlier (usage already rated by the previous version
# stays in that version's window); a start this far or further in the past is refused.
VALID_FROM_SKEW = timedelta(seconds=60)


def new_version_start(valid_from: datetime | None, now: datetime, latest_from: datetime | None) -> datetime:
    """R-PRICE-03: the start to record for a new version. `None` means now: the version is valid from
    the moment it is created and the previous open version ends at that moment. A start in the past by
    less than VALID_FROM_SKEW is read as now; further in the past is refused. The start must follow the
    latest version's start, so the chain of windows stays contiguous."""
    if valid_from is None:
        valid_from = now
    if valid_from.tzinfo is None:
        raise InvalidArgument("valid_from needs a time zone", code="INVALID_VALID_FROM")
    if valid_from <= now - VALID_FROM_SKEW:
        raise RuleViolation(
            "R-PRICE-03: a new price version cannot start in the past (start it now or later)",
            code="VALID_FROM_IN_PAST",
        )
    start = max(valid_from, now)
    if latest_from is not None and start <= latest_from:
        raise RuleViolation(
            f"R-PRICE-03: a new price version must start after the latest one ({latest_from.isoformat()})",
            code="VALID_FROM_BEFORE_LATEST",
        )
    return start
