"""Billing's facts for the cross-domain ledger audit (`openability.integrity`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openability.billing.models import CarriedAdjustment, HeldCredit, Payment, Statement, StatementLine
from openability.billing.types import PaymentPurpose, PaymentState
from openability.ledger.checks import sum_units, units


async def confirmed_topups(session: AsyncSession) -> dict[str, Decimal]:
    """Per partner: the total of its confirmed top-up payments."""
    rows = await session.execute(
        select(Payment.partner_id, sum_units(Payment.amount))
        .where(Payment.state == PaymentState.CONFIRMED, Payment.purpose == PaymentPurpose.TOP_UP)
        .group_by(Payment.partner_id)
    )
    return {pid: units(total) for pid, total in rows.all()}


@dataclass(frozen=True, slots=True)
class StatementMoney:
    """A statement's money figures as the audit checks them against the journal and its lines."""

    id: str
    partner_id: str
    billing_mode: str
    total: Decimal
    true_up: Decimal
    adjustments: Decimal
    true_up_entry_id: str | None
    adjustment_entry_id: str | None
    lines_total: Decimal  # the sum of its lines
    carried_total: Decimal  # the carried adjustments applied to it
    # R-TIER-03: its credits were held (booked to settlement:held), and released by this entry, if any
    held: Decimal | None = None
    release_entry_id: str | None = None


async def statement_money(session: AsyncSession) -> list[StatementMoney]:
    lines: dict[str, object] = dict(
        (
            await session.execute(
                select(StatementLine.statement_id, sum_units(StatementLine.amount)).group_by(
                    StatementLine.statement_id
                )
            )
        ).all()
    )
    carried: dict[str | None, object] = dict(
        (
            await session.execute(
                select(CarriedAdjustment.applied_statement_id, sum_units(CarriedAdjustment.amount))
                .where(CarriedAdjustment.applied_statement_id.is_not(None))
                .group_by(CarriedAdjustment.applied_statement_id)
            )
        ).all()
    )
    rows = await session.execute(
        select(
            Statement.id,
            Statement.partner_id,
            Statement.billing_mode,
            Statement.total,
            Statement.true_up,
            Statement.adjustments,
            Statement.true_up_entry_id,
            Statement.adjustment_entry_id,
        )
    )
    held = {
        sid: (amount, entry)
        for sid, amount, entry in (
            await session.execute(
                select(HeldCredit.statement_id, HeldCredit.amount, HeldCredit.release_entry_id)
            )
        ).all()
    }
    return [
        StatementMoney(
            *r,
            lines_total=units(lines.get(r[0])),
            carried_total=units(carried.get(r[0])),
            held=held[r[0]][0] if r[0] in held else None,
            release_entry_id=held[r[0]][1] if r[0] in held else None,
        )
        for r in rows.all()
    ]


async def held_by_partner(session: AsyncSession) -> dict[str, Decimal]:
    """Per partner: its held credits not yet released (what its settlement:held account must hold)."""
    rows = await session.execute(
        select(HeldCredit.partner_id, sum_units(HeldCredit.amount))
        .where(HeldCredit.released_at.is_(None))
        .group_by(HeldCredit.partner_id)
    )
    return {pid: units(total) for pid, total in rows.all()}
