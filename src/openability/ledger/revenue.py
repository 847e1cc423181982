"""Platform revenue split over shards (ledger/types.py REVENUE_SHARD_OWNERS): the CDR writer credits a
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
    REVENUE_SHARD_OWNERS,
    REVENUE_SHARDS,
    AccountType,
    EntryKind,
    revenue_shard_owner,
)

ZERO = Decimal(0)

# The most shards one roll-up takes: the others stay free for the CDR batches meanwhile (see
# roll_up_revenue). Half of them: with fewer batches in flight than that, a batch always finds one.
ROLLUP_MAX_SHARDS = REVENUE_SHARDS // 2

_REVENUE_ACCOUNTS = or_(Account.owner_id == PLATFORM, Account.owner_id.in_(REVENUE_SHARD_OWNERS))


async def ensure_revenue_shards(session: AsyncSession, now: datetime) -> list[str]:
    """Create the revenue shards that do not exist yet (idempotent; safe when two workers start at once).
    Returns every shard's account id, in id order (the CDR writer's statement credits one of them by id:
    ledger/setwise.py `rev`)."""
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
    shards = await session.scalars(
        select(Account.id)
        .where(
            Account.type == AccountType.REVENUE,
            Account.owner_id.in_(REVENUE_SHARD_OWNERS),
        )
        .order_by(Account.id)
    )
    return list(shards)


async def revenue_balance(session: AsyncSession) -> Decimal:
    """The platform's revenue: its revenue account plus the shards not yet rolled up."""
    total = await session.scalar(
        select(sum_units(Account.balance)).where(Account.type == AccountType.REVENUE, _REVENUE_ACCOUNTS)
    )
    return units(total)


async def roll_up_revenue(
    session: AsyncSession, now: datetime, *, max_shards: int = ROLLUP_MAX_SHARDS
) -> Decimal:
    """Move the balances of up to `max_shards` idle shards, the fullest first, into the platform's
    revenue account (one REVENUE_ROLLUP entry). A shard that a CDR batch holds right now is skipped
    (SKIP LOCKED): rolled up on a later run, never waited for; so is the whole run while another
    transaction holds the platform's revenue account (another worker's roll-up). Returns the amount
    moved. This transaction waits for no row.

    Never all the shards at once: while this transaction holds the shards it took and the platform's
    revenue account, a CDR batch credits one of the shards left (ledger/setwise.py `rev`). Taking every
    idle shard left a batch none, so it fell back to the platform's revenue account and waited for
    this transaction's commit — the last lock waits of the two-worker benchmark (docs/charging.md
    "Reserved money per worker slot"). The shards left are rolled up by the next runs (the fullest
    first, so none is left behind for long); platform revenue is their sum at any time."""
    # The platform's revenue account first, SKIP LOCKED: this job runs at every scheduler tick in every
    # worker (Job.record False), so two workers' roll-ups meet — the second one skips this tick instead
    # of waiting for the first one's commit (and a CDR batch falling back to it is not waited for).
    main = await session.scalar(
        select(Account)
        .where(Account.owner_id == PLATFORM, Account.type == AccountType.REVENUE, Account.slot == 0)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if main is None:  # held by another roll-up (this tick is skipped), or not there at all
        held = await session.scalar(
            select(Account.id).where(
                Account.owner_id == PLATFORM, Account.type == AccountType.REVENUE, Account.slot == 0
            )
        )
        if held is None and await session.scalar(
            select(Account.id)
            .where(Account.owner_id.in_(REVENUE_SHARD_OWNERS), Account.balance != ZERO)
            .limit(1)
        ):
            await ledger.get_account(session, PLATFORM, AccountType.REVENUE)  # NotFound: money, nowhere to go
        return ZERO  # nothing to move (no platform accounts yet: no shard holds money either)
    stmt = (
        select(Account)
        .where(
            Account.type == AccountType.REVENUE,
            Account.owner_id.in_(REVENUE_SHARD_OWNERS),
            Account.balance != ZERO,
        )
        .order_by(Account.balance.desc(), Account.id)
        .limit(max(1, max_shards))
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    shards = sorted((await session.scalars(stmt)).all(), key=lambda a: a.id)
    total = sum((a.balance for a in shards), ZERO)
    if not shards:
        return ZERO
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
