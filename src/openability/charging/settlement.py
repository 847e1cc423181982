"""Charging's face for settlement (billing): the month's daily rollups for the bill run, the CDRs of a
partner's month streamed for the raw usage log, and the matching of a partner's record list against
them (R-BILL-05/06). Typed read models only; no ORM object leaves charging.

The bill run reads rollups only (`month_totals_of`: the monthly rollups of the whole month;
`month_rollups_of`: the daily ones of a product whose price version, band or scope changed in the
month): its cost grows with partners x products x price versions, never with calls or days. The CDR scans here serve a dispute,
which asks for every record by definition."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from openability.charging.models import Message, UsageDaily, UsageMonthly, UsageRecord
from openability.kernel.clock import month_bounds
from openability.ledger.checks import sum_units, units

# How many ids of each side a matching report lists (the counts are always complete).
REPORT_IDS = 1000


class RollupRow(NamedTuple):
    """One daily rollup row: a day's usage of one product at one price version, band and scope."""

    product_id: str
    day: date
    price_plan_id: str
    band: str
    scope: str
    calls: int
    quantity: int
    amount: Decimal  # as charged in real time (provisional, R-CHARGE-06)


async def partners_with_usage(session: AsyncSession, month: str) -> list[str]:
    """The partners with any rollup row in the month (YYYY-MM), by id."""
    rows = await session.scalars(
        select(UsageDaily.partner_id)
        .distinct()
        .where(UsageDaily.month == month)
        .order_by(UsageDaily.partner_id)
    )
    return list(rows.all())


async def rollup_months(session: AsyncSession, before: str) -> list[str]:
    """The months before `before` (YYYY-MM) that have rollup rows, oldest first (bill run catch-up)."""
    rows = await session.scalars(
        select(UsageDaily.month).distinct().where(UsageDaily.month < before).order_by(UsageDaily.month)
    )
    return list(rows.all())


async def month_rollups(session: AsyncSession, partner_id: str, month: str) -> list[RollupRow]:
    """The partner's rollup rows of the month, by product and day (the reserved slots' rows summed)."""
    return (await month_rollups_of(session, [partner_id], month)).get(partner_id, [])


async def month_rollups_of(
    session: AsyncSession, partner_ids: Sequence[str], month: str
) -> dict[str, list[RollupRow]]:
    """`month_rollups` of many partners in one query (the bill run's chunks): partner id -> its rows,
    by product and day; a partner without rows is absent. A row sums the key's rows of every reserved
    slot (usage_daily.slot: the CDR writer's rows per worker slot, R-CHARGE-06)."""
    key = (
        UsageDaily.partner_id,
        UsageDaily.product_id,
        UsageDaily.day,
        UsageDaily.price_plan_id,
        UsageDaily.band,
        UsageDaily.scope,
    )
    rows = await session.execute(
        select(
            *key,
            func.sum(UsageDaily.calls),
            func.sum(UsageDaily.quantity),
            func.sum(UsageDaily.amount),
        )
        .where(UsageDaily.partner_id.in_(list(partner_ids)), UsageDaily.month == month)
        .group_by(*key)
        .order_by(*key)
    )
    out: dict[str, list[RollupRow]] = {}
    for r in rows.all():
        out.setdefault(r[0], []).append(RollupRow(r[1], r[2], r[3], r[4], r[5], int(r[6]), int(r[7]), r[8]))
    return out


class UsageTotal(NamedTuple):
    """A partner's month of one product at one price version, band and scope: its rollup rows summed
    (the bill run's pre-aggregation, `month_totals_of`). A named tuple: one per partner, product and
    version of the month (~30,000 at 10,000 partners), made fast."""

    product_id: str
    first_day: date  # the first day with usage at this version, band and scope
    price_plan_id: str
    band: str
    scope: str
    calls: int
    quantity: int  # every row's
    rated: int  # the rows with a positive quantity: what re-rating prices
    amount: Decimal  # as charged in real time (provisional, R-CHARGE-06)


async def month_totals_of(
    session: AsyncSession, partner_ids: Sequence[str] | None, month: str
) -> dict[str, list[UsageTotal]]:
    """The month's usage of many partners (`None`: every partner) per (partner, product, price version,
    band, scope), one query over the monthly rollups (usage_monthly, kept by the CDR writer next to the
    daily ones: ~3 rows per partner, not ~90): partner id -> its totals, by product, version, band and
    scope; a partner without rows is absent. A product with one total in the month re-rates from it
    exactly as from its daily rows (graduated tiers are priced on the running month-to-date volume, so
    only the order across versions, bands and scopes needs the days: `month_rollups_of`)."""
    # Summed over the rows of every reserved slot (usage_monthly.slot). A quantity is never negative
    # (charging/rules.py), so every unit of a row is a rated unit: `rated` is the quantity.
    m = UsageMonthly
    where = [m.month == month]
    if partner_ids is not None:
        where.append(m.partner_id.in_(list(partner_ids)))
    key = (m.partner_id, m.product_id, m.price_plan_id, m.band, m.scope)
    # on the session's connection: a Core statement, no ORM result machinery per row
    rows = await (await session.connection()).execute(
        select(
            m.partner_id,
            m.product_id,
            func.min(m.first_day),
            m.price_plan_id,
            m.band,
            m.scope,
            func.sum(m.calls),
            func.sum(m.quantity),
            func.sum(m.amount),
        )
        .where(*where)
        .group_by(*key)
        .order_by(*key)
    )
    out: dict[str, list[UsageTotal]] = {}
    for r in rows.all():
        quantity = int(r[7])
        totals = out.get(r[0])
        if totals is None:
            totals = out[r[0]] = []
        totals.append(UsageTotal(r[1], r[2], r[3], r[4], r[5], int(r[6]), quantity, quantity, r[8]))
    return out


@dataclass(frozen=True, slots=True)
class CdrLine:
    """One CDR as the raw usage log shows it."""

    id: str
    request_key: str
    occurred_at: datetime
    product_id: str
    capability: str
    quantity: int
    unit: str
    price_plan_id: str
    band: str
    scope: str
    amount: Decimal


async def stream_cdrs(
    session: AsyncSession, partner_id: str, month: str, *, chunk: int = 1000
) -> AsyncIterator[CdrLine]:
    """Every CDR of the partner's month, oldest first, read through a server-side cursor in chunks
    (never the whole month in memory)."""
    result = await session.stream(
        select(
            UsageRecord.id,
            UsageRecord.request_key,
            UsageRecord.occurred_at,
            UsageRecord.product_id,
            UsageRecord.capability,
            UsageRecord.quantity,
            UsageRecord.unit,
            UsageRecord.price_plan_id,
            UsageRecord.band,
            UsageRecord.scope,
            UsageRecord.amount,
        )
        .where(UsageRecord.partner_id == partner_id, UsageRecord.month == month)
        .order_by(UsageRecord.occurred_at, UsageRecord.id)
        .execution_options(yield_per=chunk)
    )
    async for row in result:
        yield CdrLine(*row)


@dataclass
class MatchReport:
    """A partner's record list matched against the CDRs of its month (R-BILL-05)."""

    submitted: int = 0
    matched: int = 0  # CDRs the partner's list names (by CDR id, request id or message id)
    platform_only: int = 0  # CDRs the list does not name
    platform_only_amount: Decimal = Decimal("0.0000")  # their amount as charged
    partner_only: int = 0  # ids on the list that name no CDR of the month
    platform_only_ids: list[str] = field(default_factory=list)  # first REPORT_IDS
    partner_only_ids: list[str] = field(default_factory=list)  # first REPORT_IDS


async def match_records(
    session: AsyncSession, partner_id: str, month: str, ids: Iterable[str]
) -> MatchReport:
    """Match the partner's ids against its CDRs of the month: an id names a CDR if it is the CDR's id,
    its request id (Idempotency-Key / clientCorrelator / generated) or the id of one of its messages.
    Streams the CDRs and the month's messages once each."""
    wanted = {i for i in ids if i}
    report = MatchReport(submitted=len(wanted))
    used: set[str] = set()
    start, end = month_bounds(month)
    by_message: set[str] = set()
    messages = await session.stream(
        select(Message.id, Message.usage_record_id)
        .where(Message.partner_id == partner_id, Message.created_at >= start, Message.created_at < end)
        .execution_options(yield_per=5000)
    )
    async for msg_id, record_id in messages:
        if msg_id in wanted:
            used.add(msg_id)
            by_message.add(record_id)
    cdrs = await session.stream(
        select(UsageRecord.id, UsageRecord.request_key, UsageRecord.amount)
        .where(UsageRecord.partner_id == partner_id, UsageRecord.month == month)
        .order_by(UsageRecord.occurred_at, UsageRecord.id)
        .execution_options(yield_per=5000)
    )
    async for cdr_id, key, amount in cdrs:
        hit = False
        for candidate in (cdr_id, key):
            if candidate in wanted:
                used.add(candidate)
                hit = True
        if hit or cdr_id in by_message:
            report.matched += 1
            continue
        report.platform_only += 1
        report.platform_only_amount += amount
        if len(report.platform_only_ids) < REPORT_IDS:
            report.platform_only_ids.append(cdr_id)
    rest = sorted(wanted - used)
    report.partner_only = len(rest)
    report.partner_only_ids = rest[:REPORT_IDS]
    return report


# ---- sums for the operator dashboard (billing/dashboard.py): from the rollups, never the CDRs ---------


@dataclass(frozen=True, slots=True)
class UsageSums:
    calls: int
    quantity: int
    amount: Decimal  # as charged in real time


def _sums(calls: Any, quantity: Any, amount: Any) -> UsageSums:
    return UsageSums(int(calls or 0), int(quantity or 0), units(amount))


async def month_sums(session: AsyncSession, months: Sequence[str]) -> dict[str, UsageSums]:
    """Every partner's usage per month (YYYY-MM), for the months asked (a month without usage is absent)."""
    rows = await session.execute(
        select(
            UsageDaily.month,
            func.sum(UsageDaily.calls),
            func.sum(UsageDaily.quantity),
            sum_units(UsageDaily.amount),
        )
        .where(UsageDaily.month.in_(list(months)))
        .group_by(UsageDaily.month)
    )
    return {m: _sums(c, q, a) for m, c, q, a in rows.all()}


async def product_sums(session: AsyncSession, month: str) -> dict[str, UsageSums]:
    """Every partner's usage of the month per product id."""
    rows = await session.execute(
        select(
            UsageDaily.product_id,
            func.sum(UsageDaily.calls),
            func.sum(UsageDaily.quantity),
            sum_units(UsageDaily.amount),
        )
        .where(UsageDaily.month == month)
        .group_by(UsageDaily.product_id)
    )
    return {p: _sums(c, q, a) for p, c, q, a in rows.all()}


async def partner_sums(
    session: AsyncSession, *, month: str | None = None, after: str | None = None, top: int | None = None
) -> dict[str, UsageSums]:
    """Usage per partner id: of one month, or of every month after `after` (YYYY-MM); with `top`, only
    the partners charged most, the largest first."""
    amount = sum_units(UsageDaily.amount)
    stmt = select(UsageDaily.partner_id, func.sum(UsageDaily.calls), func.sum(UsageDaily.quantity), amount)
    if month is not None:
        stmt = stmt.where(UsageDaily.month == month)
    if after is not None:
        stmt = stmt.where(UsageDaily.month > after)
    stmt = stmt.group_by(UsageDaily.partner_id)
    if top is not None:
        stmt = stmt.order_by(amount.desc(), UsageDaily.partner_id).limit(top)
    rows = await session.execute(stmt)
    return {p: _sums(c, q, a) for p, c, q, a in rows.all()}


async def partner_count(session: AsyncSession, month: str) -> int:
    """How many partners used anything in the month."""
    n = await session.scalar(
        select(func.count(func.distinct(UsageDaily.partner_id))).where(UsageDaily.month == month)
    )
    return int(n or 0)
