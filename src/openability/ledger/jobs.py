"""Ledger jobs: the revenue rollup (the CDR writer's revenue shards into the platform's revenue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openability.jobs.registry import Job, every_minute
from openability.kernel.money import fmt
from openability.ledger.revenue import roll_up_revenue

if TYPE_CHECKING:
    from openability.kernel.platform import Platform


async def roll_up(container: Platform) -> str:
    async with container.uow() as uow:
        moved = await roll_up_revenue(uow.session, uow.now)
    return f"rolled {fmt(moved)} CNY of sharded revenue into the revenue account"


REVENUE_ROLLUP = Job(
    name="revenue-rollup",
    fn=roll_up,
    period=every_minute,
    description="Move the CDR writer's revenue shards into the platform's revenue account",
    record=False,
)
