"""Billing's facts for the cross-domain ledger audit (`openability.integrity`)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openability.billing.models import Payment
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
