"""Platform revenue split over shards (ledger/types.py REVENUE_SHARD_PREFIX): the CDR writer credits a
revenue shard no other transaction holds, so two gateway workers never wait on one revenue row; the
revenue-rollup job moves the shards' balances into the platform's revenue account, one balanced
REVENUE_ROLLUP entry per run. Platform revenue at any time is the sum of the revenue account and its
shards (`revenue_balance`), and every CHARGE entry's revenue credit is on one of them (the audit)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from openability.kernel.ids import new_id
from openability.ledger import service as ledger
from openability.ledger.checks import sum_units, units
from openability.ledger.models import Account
from openability.ledger.types import (
    PLATFORM,
    REVENUE_SHARD_PREFIX,
    REVENUE_SHARDS,
    AccountType,
    EntryKind,
    revenue_shard_owner,
)

ZERO = Decimal(0)

_REVENUE_ACCOUNTS = or_(Account.owner_id == PLATFORM, Account.owner_id.startswith(REVENUE_SHARD_PREFIX))


async def ensure_revenue_shards(session: AsyncSession, now: datetime) -> None:
    """Create the revenue shards that do not exist yet (idempotent; safe when two workers start at once)."""
    rows = [
        {
            "id": new_id("acc"),
            "owner_id": revenue_shard_owner(i),
            "type": AccountType.REVENUE,
            "slot": 0,
            "balance": ZERO,
            "version": 0,
            "created_at": now,
        }
        for i in range(REVENUE_SHARDS)
    ]
    dialect = session.get_bind().dialect.name
    ins = pg_insert(Account) if dialect == "postgresql" else sqlite_insert(Account)
    await session.execute(
        ins.values(rows).on_conflict_do_nothing(index_elements=["owner_id", "type", "slot"])
    )


async def revenue_balance(session: AsyncSession) -> Decimal:
    """The platform's revenue: its revenue account plus the shards not yet rolled up."""
    total = await session.scalar(
        select(sum_units(Account.balance)).where(Account.type == AccountType.REVENUE, _REVENUE_ACCOUNTS)
    )
    return units(total)


async def roll_up_revenue(session: AsyncSession, now: datetime) -> Decimal:
    """Move every idle shard's balance into the platform's revenue account (one REVENUE_ROLLUP entry).
    A shard that a CDR batch holds right now is skipped (SKIP LOCKED): rolled up on the next run, never
    waited for. Returns the amount moved."""
    stmt = (
        select(Account)
        .where(
            Account.type == AccountType.REVENUE,
            Account.owner_id.startswith(REVENUE_SHARD_PREFIX),
            Account.balance != ZERO,
        )
        .order_by(Account.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    shards = list((await session.scalars(stmt)).all())
    total = sum((a.balance for a in shards), ZERO)
    if not shards:
        return ZERO
    main = await ledger.get_account(session, PLATFORM, AccountType.REVENUE)
    # revenue is credit-normal: a debit of its balance empties a shard, the credit moves it to revenue
    legs = [ledger.debit(a, a.balance) for a in shards] + [ledger.credit(main, total)]
    legs.sort(key=lambda leg: leg.account.id)
    await ledger.post(
        session,
        kind=EntryKind.REVENUE_ROLLUP,
        legs=legs,
        now=now,
        ref=("revenue_rollup", now.isoformat()),
        memo=f"revenue of {len(shards)} shard(s) rolled up",
        allow_negative=True,
    )
    return total
