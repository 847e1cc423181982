"""Pure statement rules (R-BILL-02..06, R-CHARGE-06): exact re-rating of a month from its daily rollups,
the statement's figures, the calendar of the month's deadlines and the dispute threshold. No I/O.

Re-rating: per (partner, product) the month's rollup rows are walked in time order (day, then price
version); each row's units are priced by its own version's graduated tiers for its band and scope
(catalog.rules: tiers_for, graduated_amount), at the running month-to-date volume of the product. A
rollup row is a day's usage at one version, band and scope, so the result depends only on how much was
used under which version and band, each day: not on how the usage was split into calls, workers or CDR
batches (the property tests hold this)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from openability.catalog.rules import tiers_for
from openability.catalog.types import PlanVersion
from openability.kernel.clock import SHANGHAI, end_of_business_day, next_month
from openability.kernel.money import round_fen

ZERO = Decimal("0.0000")


class UnknownPriceVersion(LookupError):
    """A rollup row names a price version the catalog does not have (or one without the row's band)."""


class Usage(NamedTuple):
    """What re-rating needs of one rollup row (charging.settlement.RollupRow has these fields). A
    named tuple: the bill run makes one per partner, product and version (~30,000 at 10,000 partners)."""

    product_id: str
    day: date
    price_plan_id: str
    band: str
    scope: str
    quantity: int
    amount: Decimal  # charged in real time


class UsageLine(NamedTuple):
    """Units of one product at one price version, band/scope and tier, at that tier's unit price."""

    product_id: str
    price_plan_id: str
    plan_version: int
    band: str
    scope: str
    tier_from: int
    tier_to: int | None  # exclusive; None: the open top tier
    unit_price: Decimal
    units: int
    amount: Decimal


# A price list as the re-rate walks it: (tier_from, tier_to or None for the open top tier, unit price),
# in tier order. Built once per (price version, scope, band) and kept for the run (`TierTables`).
Bounds = tuple[tuple[int, int | None, Decimal], ...]
TierTables = dict[tuple[str, str, str], Bounds | None]  # (plan id, scope, band) -> bounds; None: no list


def tier_bounds(tiers: Sequence[tuple[int, Decimal]]) -> Bounds:
    """The tiers in order with their upper bounds (graduated_amount's walk, done once per list)."""
    ordered = sorted(tiers, key=lambda t: t[0])
    if not ordered or ordered[0][0] != 0:
        raise ValueError("a tier list must start at volume 0")
    return tuple(
        (frm, ordered[i + 1][0] if i + 1 < len(ordered) else None, price)
        for i, (frm, price) in enumerate(ordered)
    )


def _tier_segments(
    bounds: Bounds, start: int, quantity: int
) -> list[tuple[int, int | None, Decimal, int, Decimal]]:
    """Split units [start, start + quantity) of the month across the tiers:
    (tier_from, tier_to, unit_price, units, amount); a segment lies in one tier, so its graduated
    amount (catalog.rules.graduated_amount) is its units at that tier's price."""
    end = start + quantity
    out = []
    for frm, upper, price in bounds:
        lo = start if start > frm else frm
        hi = end if upper is None or end < upper else upper
        if hi > lo:
            out.append((frm, upper, price, hi - lo, price * (hi - lo)))
    return out


def tier_bounds_of(plan: PlanVersion, scope: str, band: str, tables: TierTables) -> Bounds:
    """The price list of `plan` for `scope` and `band`, walked once per run (`tables`)."""
    key = (plan.plan_id, scope, band)
    if key in tables:
        found = tables[key]
    else:
        try:
            found = tier_bounds(tiers_for(plan.tiers, scope, band))
        except KeyError:
            found = None
        tables[key] = found
    if found is None:
        raise UnknownPriceVersion(f"price version {plan.plan_id} has no {band} list")
    return found


@dataclass(slots=True)
class _Acc:
    version: int
    tier_to: int | None
    unit_price: Decimal
    units: int = 0
    amount: Decimal = ZERO


def rerate(
    usage: Iterable[Usage], plans: Mapping[str, PlanVersion], tables: TierTables | None = None
) -> list[UsageLine]:
    """Re-rate a partner's month exactly (R-CHARGE-06): one line per product, price version, band/scope
    and tier, in product order then tier order. `plans`: every price version the rows name, by id;
    `tables`: the price lists already walked (a bill run's partners share them), filled here."""
    if tables is None:
        tables = {}
    by_product: dict[str, list[Usage]] = {}
    for u in usage:
        if u.price_plan_id not in plans:
            raise UnknownPriceVersion(f"price version {u.price_plan_id} is unknown")
        by_product.setdefault(u.product_id, []).append(u)
    lines: dict[tuple[str, str, str, str, int], _Acc] = {}
    for product_id, rows in by_product.items():
        mtd = 0  # the product's month-to-date volume, in time order
        if len(rows) > 1:
            rows.sort(key=lambda u: (u.day, plans[u.price_plan_id].version, u.band, u.scope))
        for u in rows:
            if u.quantity <= 0:
                continue
            plan = plans[u.price_plan_id]
            bounds = tier_bounds_of(plan, u.scope, u.band, tables)
            for frm, upper, price, units, amount in _tier_segments(bounds, mtd, u.quantity):
                key = (product_id, plan.plan_id, u.band, u.scope, frm)
                acc = lines.get(key)
                if acc is None:
                    acc = lines[key] = _Acc(plan.version, upper, price)
                acc.units += units
                acc.amount += amount
            mtd += u.quantity
    out = [
        UsageLine(prod, plan_id, a.version, band, scope, frm, a.tier_to, a.unit_price, a.units, a.amount)
        for (prod, plan_id, band, scope, frm), a in lines.items()
    ]
    if len(out) > 1:
        out.sort(key=lambda ln: (ln.product_id, ln.plan_version, ln.band, ln.scope, ln.tier_from))
    return out


class Figures(NamedTuple):
    """A statement's figures. Lines: the usage lines (`exact`), the carried adjustments, the rounding
    line; `total` is their sum and a whole fen."""

    provisional: Decimal  # charged in real time: the sum of the rollup amounts
    exact: Decimal  # the usage lines
    adjustments: Decimal  # the carried adjustment lines
    rounding: Decimal  # round_fen(exact + adjustments) - (exact + adjustments): its own line
    total: Decimal
    true_up: Decimal  # credited back: provisional - exact when positive
    undercharge: Decimal  # exact - provisional when positive: NOT charged (R-CHARGE-06), only noted


def figures(lines: Sequence[UsageLine], provisional: Decimal, adjustments: Sequence[Decimal]) -> Figures:
    """R-CHARGE-06: the partner pays the exact price, never more: what real time took above it is
    credited back (true-up); what real time took below it is not charged afterwards. The total rounds
    to the fen once, ROUND_HALF_UP, and the rounding difference is a line of its own."""
    exact = sum((ln.amount for ln in lines), ZERO)
    adjusted = sum(adjustments, ZERO)
    subtotal = exact + adjusted
    total = round_fen(subtotal)
    diff = provisional - exact
    return Figures(
        provisional=provisional,
        exact=exact,
        adjustments=adjusted,
        rounding=total - subtotal,
        total=total,
        true_up=diff if diff > 0 else ZERO,
        undercharge=-diff if diff < 0 else ZERO,
    )


# ---- the month's calendar (Asia/Shanghai, R-BILL-02) ------------------------------------------------


def _day_of_next_month(month: str, day: int) -> date:
    nxt = next_month(month)
    return date(int(nxt[:4]), int(nxt[5:7]), day)


def start_of_day(month: str, day: int) -> datetime:
    """00:00 Asia/Shanghai of `day` in the month after `month`, as an aware datetime."""
    d = _day_of_next_month(month, day)
    return datetime(d.year, d.month, d.day, tzinfo=SHANGHAI)


def bill_run_due(month: str) -> datetime:
    """R-BILL-02: a month is settled from 00:00 on the 1st of the next."""
    return start_of_day(month, 1)


def confirm_deadline(month: str, confirm_day: int) -> datetime:
    """R-BILL-04/05: confirm or dispute by the end of the `confirm_day` (15th) of the next month."""
    return end_of_business_day(_day_of_next_month(month, confirm_day))


def issue_deadline(month: str, issue_by_day: int) -> datetime:
    """R-BILL-03: issued before the `issue_by_day` (10th): 00:00 of that day."""
    return start_of_day(month, issue_by_day)


def dispute_carries(statement_amount: Decimal, partner_amount: Decimal, threshold_percent: Decimal) -> bool:
    """R-BILL-06: the difference is carried when it exceeds `threshold_percent` of the statement amount
    (strictly more than; a zero statement carries any difference)."""
    return abs(partner_amount - statement_amount) * 100 > abs(statement_amount) * threshold_percent


# ---- the partner's record list (R-BILL-05) ----------------------------------------------------------

HEADER_WORDS = frozenset(
    {"id", "requestid", "request_id", "messageid", "message_id", "cdr_id", "cdrid", "record"}
)
MAX_RECORD_IDS = 1_000_000
MAX_ID_LENGTH = 120


def parse_record_ids(text: str) -> list[str]:
    """The ids of a partner's record list: the first cell of each CSV row (request, message or CDR
    ids), blank rows and one header row skipped. Raises ValueError with the offending row."""
    out: list[str] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cell = next((c.strip() for c in row if c.strip()), "")
        if not cell:
            continue
        if n == 1 and cell.lower().replace(" ", "") in HEADER_WORDS:
            continue
        if len(cell) > MAX_ID_LENGTH:
            raise ValueError(f"row {n}: an id is at most {MAX_ID_LENGTH} characters")
        out.append(cell)
        if len(out) > MAX_RECORD_IDS:
            raise ValueError(f"at most {MAX_RECORD_IDS} records per list")
    if not out:
        raise ValueError("the record list names no record")
    return out
