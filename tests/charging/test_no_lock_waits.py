"""No lock waits between two gateway workers (issue 9), with the money exact.

The last waits the two-worker benchmark traced (bench/pg_sampler.py) and what removed them:
  * a grant refill meeting its own worker's CDR batch on its reserved slot row, or another worker's
    refill on the partner's one prepaid:available row: the refill takes its account rows SKIP LOCKED
    and tries again in the worker (charging/grants.py `_refill_statement`), so no PostgreSQL backend
    waits behind the row's holder — and the refill's outcome is the same (R-CHARGE-02);
  * CDR batches falling back to the platform's revenue account while the revenue roll-up held every
    idle shard and that account: a roll-up takes at most half the shards (ledger/revenue.py), so a
    batch meanwhile credits a free shard and commits at once; the revenue stays the exact sum
    (R-BILL-10)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from test_cdr_writer_setwise import records, write_all

from openability.charging import grants_pg
from openability.charging.cdr_writer import CdrWriter
from openability.charging.grants import GrantManager
from openability.charging.models import Grant, UsageRecord
from openability.charging.service import ChargingEngine
from openability.charging.types import GrantState
from openability.ledger import revenue
from openability.ledger import service as ledger
from openability.ledger.jobs import roll_up
from openability.ledger.models import Account, JournalEntry, JournalLine
from openability.ledger.types import (
    PLATFORM,
    REVENUE_SHARD_PREFIX,
    REVENUE_SHARDS,
    AccountType,
    EntryKind,
)
from support_funded import SUBJECT_PRICE, charge_call, flat_subject

pytestmark = pytest.mark.postgres_only
PRICE = SUBJECT_PRICE
FUNDS = Decimal("10.0000")


@pytest.fixture
def backend() -> str:
    return "postgresql"  # SKIP LOCKED and row locks between connections: PostgreSQL's


_HOLD = {
    "reserved": "SELECT id FROM accounts WHERE owner_id = :p AND type = 'prepaid:reserved' AND slot = 0 FOR UPDATE",
    "available": "SELECT id FROM accounts WHERE owner_id = :p AND type = 'prepaid:available' FOR UPDATE",
}
# Backends waiting on a lock that a given backend holds (another test's waits never count).
_WAITING_ON = "SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"


async def _waiting_on(container: Any, holder_pid: int) -> int:
    """How many backends wait for `holder_pid`, read in a transaction of its own: PostgreSQL takes
    one snapshot of pg_stat_activity per transaction, so a probe that polled in one transaction would
    see its first answer again and again (a waiter arriving later never seen)."""
    async with container.engine.connect() as probe:
        n = await probe.scalar(text(_WAITING_ON), {"holder": holder_pid})
    return int(n or 0)


async def _grant_row(container: Any, grant_id: str) -> tuple[Decimal, Decimal]:
    async with container.uow() as uow:
        g = await uow.session.get(Grant, grant_id, populate_existing=True)
        assert g is not None
        return g.granted, g.consumed


async def _slot_balance(container: Any, partner_id: str) -> Decimal:
    async with container.uow() as uow:
        bal = await uow.session.scalar(
            select(Account.balance).where(
                Account.owner_id == partner_id,
                Account.type == AccountType.PREPAID_RESERVED,
                Account.slot == 0,
            )
        )
    assert bal is not None
    return bal


@pytest.mark.parametrize("held", ["reserved", "available"])
async def test_r_charge_02_a_refill_never_waits_in_postgresql_for_a_held_account_row(
    container: Any, funded: Any, assert_ledger_clean: Any, held: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another transaction holds the grant's reserved slot row (this worker's CDR batch) or the
    partner's available row (another worker's refill), a refill waits in the worker, not in
    PostgreSQL: no backend is blocked by the holder, nothing of the refill is written. Once the holder
    commits, the refill moves exactly what it would have: one balanced GRANT entry, the grant and its
    slot up by the same amount, available down by it (R-CHARGE-02)."""
    monkeypatch.setattr(grants_pg, "SKIP_TRIES", 10_000)  # never fall back to waiting in this test
    gm = GrantManager(container, worker_id="w0")
    first = await gm.reserve(funded.partner_id, PRICE)
    grant_id, remaining, _ = gm.held(funded.partner_id)
    assert grant_id is not None
    granted0, _ = await _grant_row(container, grant_id)
    before = await funded.balances()
    need = remaining + PRICE  # more than the grant holds: a refill
    async with container.engine.connect() as holder:
        await holder.execute(text(_HOLD[held]), {"p": funded.partner_id})
        holder_pid = await holder.scalar(text("SELECT pg_backend_pid()"))
        task = asyncio.create_task(gm.reserve(funded.partner_id, need))
        waiting = []
        for _ in range(10):
            await asyncio.sleep(0.03)
            waiting.append(await _waiting_on(container, holder_pid))
        assert not task.done()  # the refill cannot take the row…
        assert waiting == [0] * 10  # …and no backend queues on it
        assert (await _grant_row(container, grant_id))[0] == granted0  # nothing written meanwhile
        assert await funded.balances() == before
        await holder.rollback()
    second = await asyncio.wait_for(task, timeout=10)
    assert second.grant_id == grant_id and second.amount == need
    granted1, _ = await _grant_row(container, grant_id)
    x = granted1 - granted0
    assert x >= need - remaining > 0
    after = await funded.balances()
    assert after[AccountType.PREPAID_AVAILABLE] == before[AccountType.PREPAID_AVAILABLE] - x
    assert after[AccountType.PREPAID_RESERVED] == before[AccountType.PREPAID_RESERVED] + x
    assert await _slot_balance(container, funded.partner_id) == granted1  # nothing consumed yet
    async with container.uow() as uow:
        grants = (
            await uow.session.execute(
                select(JournalEntry.id, func.sum(JournalLine.amount))
                .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
                .where(JournalEntry.kind == EntryKind.GRANT)
                .group_by(JournalEntry.id)
            )
        ).all()
    assert len(grants) == 2 and all(total == 0 for _, total in grants)  # the first grant and this refill
    for r in (first, second):
        gm.cancel(r)
    await gm.release_idle(all_grants=True)
    assert (await funded.balances())[AccountType.PREPAID_AVAILABLE] == FUNDS
    await assert_ledger_clean()


async def test_r_charge_02_a_refill_that_keeps_finding_the_row_busy_waits_for_it(
    container: Any, funded: Any, assert_ledger_clean: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After SKIP_TRIES busy tries the refill waits in PostgreSQL (never starved) and completes once
    the holder commits, moving the same money."""
    monkeypatch.setattr(grants_pg, "SKIP_TRIES", 2)
    gm = GrantManager(container, worker_id="w0")
    first = await gm.reserve(funded.partner_id, PRICE)
    grant_id, remaining, _ = gm.held(funded.partner_id)
    assert grant_id is not None
    async with container.engine.connect() as holder:
        await holder.execute(text(_HOLD["reserved"]), {"p": funded.partner_id})
        holder_pid = await holder.scalar(text("SELECT pg_backend_pid()"))
        task = asyncio.create_task(gm.reserve(funded.partner_id, remaining + PRICE))
        for _ in range(100):  # the fallback statement queues on the row
            if await _waiting_on(container, holder_pid):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the refill never fell back to waiting for the row")
        await holder.rollback()
    second = await asyncio.wait_for(task, timeout=10)
    granted, _ = await _grant_row(container, grant_id)
    assert await _slot_balance(container, funded.partner_id) == granted
    for r in (first, second):
        gm.cancel(r)
    await gm.release_idle(all_grants=True)
    assert (await funded.balances())[AccountType.PREPAID_AVAILABLE] == FUNDS
    await assert_ledger_clean()


async def test_r_charge_02_two_workers_refilling_under_their_cdr_batches_charge_each_call_once(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    """Two workers, each with its CDR writer, 150 calls of one partner: the grants (20 calls each) are
    refilled ~7 times while the workers' CDR batches run, so refills meet batches and each other on
    the account rows and take the SKIP LOCKED path. Every call is one CDR and one deduction, the
    balance is exact and never negative, every entry balanced (R-CHARGE-02, R-BILL-10)."""
    workers = [ChargingEngine(container, worker_id=f"host:{i}:w") for i in range(2)]
    for w in workers:
        await w.start()
    subj = flat_subject(funded)
    n = 150
    try:

        async def call(w: ChargingEngine, i: int) -> None:
            await charge_call(w, subj, i)

        for start in range(0, n, 50):  # waves, so the grants run dry and refill between batches
            await asyncio.gather(*(call(workers[i % 2], i) for i in range(start, start + 50)))
    finally:
        for w in workers:
            await w.stop()
    async with container.uow() as uow:
        cdrs = await uow.session.scalar(select(func.count()).select_from(UsageRecord))
        charged = await uow.session.scalar(select(func.sum(UsageRecord.amount)))
        refills = await uow.session.scalar(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == EntryKind.GRANT)
        )
    assert cdrs == n and charged == n * PRICE
    assert refills is not None and refills > 4  # the grants were refilled, not served from one grant
    b = await funded.balances()
    assert b[AccountType.PREPAID_RESERVED] == 0  # released at stop
    assert b[AccountType.PREPAID_AVAILABLE] == FUNDS - n * PRICE >= 0
    await assert_ledger_clean()


async def test_r_bill_10_a_revenue_rollup_leaves_shards_free_for_cdr_batches(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    """With every shard holding revenue, a roll-up in progress takes at most half of them; a second
    roll-up meanwhile (the other worker's) skips without waiting; a CDR batch committed meanwhile
    credits one of the free shards and does not wait for the roll-up (before, the roll-ups took every
    idle shard and the batch waited on the platform's revenue account). Later roll-ups move the rest:
    platform revenue is the exact sum throughout, every entry balanced."""
    now = container.clock.now()
    writer = CdrWriter(container)
    await write_all(writer, records(funded, None, "warm", 1, now))  # creates the shards
    async with container.uow() as uow:
        s = uow.session
        shards = list(
            (
                await s.scalars(
                    select(Account)
                    .where(Account.owner_id.startswith(REVENUE_SHARD_PREFIX))
                    .order_by(Account.id)
                )
            ).all()
        )
        assert len(shards) == REVENUE_SHARDS
        adj = await ledger.get_account(s, PLATFORM, AccountType.ADJUSTMENTS)
        # every shard holds revenue (balanced: Dr adjustments, Cr each shard)
        legs = [ledger.debit(adj, Decimal("0.0100") * REVENUE_SHARDS)] + [
            ledger.credit(a, Decimal("0.0100")) for a in shards
        ]
        legs.sort(key=lambda leg: leg.account.id)
        await ledger.post(
            s, kind=EntryKind.ADJUSTMENT, legs=legs, now=uow.now, memo="test: revenue on every shard"
        )
    async with container.uow() as uow:
        total_before = await revenue.revenue_balance(uow.session)
        shard_balances = dict(
            (
                await uow.session.execute(
                    select(Account.id, Account.balance).where(
                        Account.owner_id.startswith(REVENUE_SHARD_PREFIX)
                    )
                )
            ).all()
        )
    assert all(b > 0 for b in shard_balances.values())
    async with container.uow() as rolling:
        moved = await revenue.roll_up_revenue(rolling.session, rolling.now)
        taken = (
            await rolling.session.scalars(
                select(Account.id).where(
                    Account.owner_id.startswith(REVENUE_SHARD_PREFIX), Account.balance == Decimal(0)
                )
            )
        ).all()
        assert len(taken) == REVENUE_SHARDS // 2
        assert moved == sum(shard_balances[a] for a in taken)
        # another worker's roll-up meanwhile (the job runs at every tick in every worker): it skips
        # this tick instead of waiting for the platform's revenue account, and moves nothing
        async with container.uow() as other:
            assert await asyncio.wait_for(revenue.roll_up_revenue(other.session, other.now), 5) == 0
        # a batch while the roll-up holds its shards and the platform's revenue account
        await asyncio.wait_for(write_all(writer, records(funded, None, "during", 3, now)), timeout=10)
    async with container.uow() as uow:
        s = uow.session
        batch_total = await s.scalar(
            select(func.sum(UsageRecord.amount)).where(UsageRecord.request_key.startswith("during-"))
        )
        credited = (
            await s.execute(
                select(Account.owner_id)
                .join(JournalLine, JournalLine.account_id == Account.id)
                .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                .where(JournalEntry.kind == EntryKind.CHARGE, Account.type == AccountType.REVENUE)
            )
        ).scalars()
        assert all(o.startswith(REVENUE_SHARD_PREFIX) for o in credited)  # never the fallback
        assert await revenue.revenue_balance(s) == total_before + batch_total
    for _ in range(3):
        await roll_up(container)
    async with container.uow() as uow:
        s = uow.session
        left = await s.scalar(
            select(func.count()).where(
                Account.owner_id.startswith(REVENUE_SHARD_PREFIX), Account.balance != Decimal(0)
            )
        )
        main = await s.scalar(
            select(Account.balance).where(Account.owner_id == PLATFORM, Account.type == AccountType.REVENUE)
        )
        assert left == 0 and main == await revenue.revenue_balance(s) == total_before + batch_total
    await assert_ledger_clean()


@pytest.mark.parametrize("held", ["reserved", "available"])
async def test_r_charge_02_an_idle_grant_whose_account_row_is_held_is_released_later_without_waiting(
    container: Any, build: Any, clock: Any, held: str, assert_ledger_clean: Any
) -> None:
    """The set-wise release of idle grants (grants_pg.RELEASE_MANY) takes the account rows SKIP
    LOCKED: a grant whose partner's available or reserved row another transaction holds (a refill, a
    CDR batch) stays open and held, no backend queues on the row, the other grants are released at
    once, and the next housekeeping tick releases it."""
    busy, free = await build(container, FUNDS), await build(container, FUNDS)
    gm = GrantManager(container)
    for f in (busy, free):
        gm.done(await gm.reserve(f.partner_id, PRICE))
    busy_grant = gm.held(busy.partner_id)[0]
    s = container.settings
    clock.advance(seconds=s.grant_ttl_seconds + s.grant_reap_grace_seconds)
    async with container.engine.connect() as holder:
        tx = await holder.begin()
        holder_pid = await holder.scalar(text("SELECT pg_backend_pid()"))
        assert (await holder.execute(text(_HOLD[held]), {"p": busy.partner_id})).first() is not None
        assert await asyncio.wait_for(gm.release_idle(), timeout=5) == 1
        assert await _waiting_on(container, holder_pid) == 0
        assert gm.held(busy.partner_id)[0] == busy_grant and free.partner_id not in gm._held
        async with container.uow() as uow:
            g = await uow.session.get(Grant, busy_grant)
            assert g is not None and g.state == GrantState.ACTIVE
        await tx.rollback()
    assert await gm.release_idle() == 1
    assert busy.partner_id not in gm._held
    for f in (busy, free):
        b = await f.balances()
        assert b[AccountType.PREPAID_AVAILABLE] == FUNDS and b[AccountType.PREPAID_RESERVED] == 0
    await assert_ledger_clean()
