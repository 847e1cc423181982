"""Charging's facts for the cross-domain ledger audit (`openability.integrity`): set-based sums over
the CDRs and the grants, as typed values."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from openability.charging.models import Grant, UsageRecord
from openability.charging.types import GrantState
from openability.ledger.checks import sum_units, units


@dataclass(frozen=True, slots=True)
class CdrEntryTotal:
    """The CDRs of one partner and billing mode in one journal entry."""

    entry_id: str
    partner_id: str
    billing_mode: str
    amount: Decimal
    count: int


@dataclass(frozen=True, slots=True)
class GrantFacts:
    id: str
    partner_id: str
    state: GrantState
    granted: Decimal
    consumed: Decimal
    released: Decimal
    slot: int = 0  # the partner's prepaid:reserved slot holding its money


async def prepaid_cdr_totals(session: AsyncSession) -> dict[str, Decimal]:
    """Per partner: the amount of its prepaid CDRs."""
    rows = await session.execute(
        select(UsageRecord.partner_id, sum_units(UsageRecord.amount))
        .where(UsageRecord.billing_mode == "prepaid")
        .group_by(UsageRecord.partner_id)
    )
    return {pid: units(total) for pid, total in rows.all()}


async def cdr_totals_by_entry(session: AsyncSession) -> list[CdrEntryTotal]:
    rows = await session.execute(
        select(
            UsageRecord.journal_entry_id,
            UsageRecord.partner_id,
            UsageRecord.billing_mode,
            sum_units(UsageRecord.amount),
            func.count(),
        ).group_by(UsageRecord.journal_entry_id, UsageRecord.partner_id, UsageRecord.billing_mode)
    )
    return [CdrEntryTotal(e, p, m, units(t), int(n)) for e, p, m, t, n in rows.all()]


async def grant_facts(session: AsyncSession) -> list[GrantFacts]:
    rows = await session.execute(
        select(
            Grant.id, Grant.partner_id, Grant.state, Grant.granted, Grant.consumed, Grant.released, Grant.slot
        )
    )
    return [GrantFacts(*r) for r in rows.all()]


async def consumed_by_grant(session: AsyncSession) -> dict[str, Decimal]:
    """Per grant: the amount of the CDRs charged against it."""
    rows = await session.execute(
        select(UsageRecord.grant_id, sum_units(UsageRecord.amount))
        .where(UsageRecord.grant_id.is_not(None))
        .group_by(UsageRecord.grant_id)
    )
    return {gid: units(total) for gid, total in rows.all()}
