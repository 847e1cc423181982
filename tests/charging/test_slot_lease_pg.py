"""The reserved slot a started gateway worker owns (charging/slot_lease.py, PostgreSQL; issue 9): started
workers own distinct slots and their new grants take them without the per-partner slot choice; a stopped,
cancelled or disconnected lease frees its slot; with more workers than slots the others choose per grant,
and the money stays right either way (R-CHARGE-02)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from openability.charging import grants_pg, slot_lease
from openability.charging.grants import GrantManager
from openability.charging.models import Grant
from openability.charging.service import ChargingEngine
from openability.charging.slot_lease import SlotLease
from openability.ledger.types import RESERVED_SLOTS, AccountType
from support_funded import SUBJECT_PRICE

PRICE = SUBJECT_PRICE
pytestmark = pytest.mark.postgres_only


@pytest.fixture
def backend() -> str:
    return "postgresql"  # advisory locks: the lease is PostgreSQL's


async def _wait_for(cond: Any, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_r_charge_02_started_workers_own_distinct_slots_and_new_grants_take_them(
    container: Any, funded: Any, assert_ledger_clean: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = [GrantManager(container, worker_id=f"w{i}") for i in range(3)]
    for w in workers:
        await w.start()
    got: list[Any] = []
    try:
        assert sorted(w.own_slot for w in workers if w.own_slot is not None) == [0, 1, 2]
        # An owning worker's new grant never takes the per-partner slot choice: were it taken, this
        # statement would fail the reserve.
        monkeypatch.setattr(grants_pg, "NEW_GRANT_LOCK", "SELECT 1/0, $1::text")
        got = await asyncio.gather(*(workers[i % 3].reserve(funded.partner_id, PRICE) for i in range(30)))
        assert all(r.slot == workers[i % 3].own_slot for i, r in enumerate(got))
        async with container.uow() as uow:
            rows = dict((await uow.session.execute(select(Grant.worker_id, Grant.slot))).all())
        assert rows == {w.worker_id: w.own_slot for w in workers}
        bal = await funded.balances()
        assert bal[AccountType.PREPAID_AVAILABLE] >= 0
        assert bal[AccountType.PREPAID_AVAILABLE] + bal[AccountType.PREPAID_RESERVED] == Decimal("10.0000")
        await assert_ledger_clean()
    finally:
        for i, r in enumerate(got):
            workers[i % 3].cancel(r)
        for w in workers:
            await w.release_idle(all_grants=True)
            await w.stop()
    bal = await funded.balances()
    assert bal[AccountType.PREPAID_RESERVED] == 0 and bal[AccountType.PREPAID_AVAILABLE] == Decimal("10.0000")
    await assert_ledger_clean()


async def test_a_stopped_or_cancelled_lease_frees_its_slot_and_its_connection(container: Any) -> None:
    engine = container.engine
    before = engine.pool.checkedout()
    a, b = SlotLease(engine), SlotLease(engine)
    await a.start()
    await b.start()
    assert (a.slot, b.slot) == (0, 1)
    assert engine.pool.checkedout() == before + 2  # one connection holds each lock
    await a.stop()
    assert a.slot is None and not a.running
    c = SlotLease(engine)
    await c.start()
    assert c.slot == 0  # a's lock went with its connection
    # A lease nobody stopped, its task cancelled (its event loop torn down): the lock is freed too.
    task = c._task
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    d = SlotLease(engine)
    await d.start()
    assert d.slot == 0
    await b.stop()
    await d.stop()
    assert engine.pool.checkedout() == before


async def test_an_engine_whose_grant_release_fails_at_stop_still_frees_its_slot(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ChargingEngine(container, "w-fail")
    await engine.start()
    assert engine.grants.own_slot == 0

    async def down(*_: Any, **__: Any) -> None:
        raise ConnectionError("database down at shutdown")

    monkeypatch.setattr(engine.grants, "release_idle", down)
    with pytest.raises(ConnectionError):
        await engine.stop()
    assert engine.grants.own_slot is None
    other = SlotLease(container.engine)
    await other.start()
    try:
        assert other.slot == 0  # the failed stop let go of the lock
    finally:
        await other.stop()


async def test_a_lease_whose_connection_is_lost_takes_a_slot_again(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slot_lease, "CHECK_SECONDS", 0.05)
    lease = SlotLease(container.engine)
    await lease.start()
    try:
        assert lease.slot == 0
        conn = lease._conn
        assert conn is not None
        pid = (await conn.get_raw_connection()).driver_connection.get_server_pid()  # type: ignore[union-attr]
        async with container.engine.connect() as admin:
            raw: Any = (await admin.get_raw_connection()).driver_connection
            assert await raw.fetchval("SELECT pg_terminate_backend($1)", pid)
        # noticed at the next check; the lock went with the backend, so slot 0 is free and taken again
        await _wait_for(lambda: lease._conn is not conn and lease.slot == 0)
        new_pid = (await lease._conn.get_raw_connection()).driver_connection.get_server_pid()  # type: ignore[union-attr]
        assert new_pid != pid
    finally:
        await lease.stop()


async def test_r_charge_02_with_more_workers_than_slots_the_others_choose_per_grant(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    owners = [GrantManager(container, worker_id=f"own{i}") for i in range(RESERVED_SLOTS)]
    for w in owners:
        await w.start()
    extra = GrantManager(container, worker_id="extra")
    await extra.start()
    try:
        assert sorted(w.own_slot for w in owners) == list(range(RESERVED_SLOTS))  # type: ignore[type-var]
        assert extra.own_slot is None  # every slot is owned: it chooses per grant
        r0 = await owners[0].reserve(funded.partner_id, PRICE)
        r1 = await owners[1].reserve(funded.partner_id, PRICE)
        rx = await extra.reserve(funded.partner_id, PRICE)
        assert (r0.slot, r1.slot) == (0, 1)
        assert rx.slot == 2  # the lowest slot no other worker's active grant of the partner uses
        await assert_ledger_clean()
        for gm, r in ((owners[0], r0), (owners[1], r1), (extra, rx)):
            gm.cancel(r)
            await gm.release_idle(all_grants=True)
    finally:
        for w in [*owners, extra]:
            await w.stop()
    bal = await funded.balances()
    assert bal[AccountType.PREPAID_RESERVED] == 0 and bal[AccountType.PREPAID_AVAILABLE] == Decimal("10.0000")
    await assert_ledger_clean()
