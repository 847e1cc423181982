"""A charged call answered once its CDR line is fdatasync'ed in the worker's send spool, its database
commit following behind the answer (settings.charge_answer_after = "spool", the production default;
docs/charging.md "When a call is answered"). Two charging engines (two workers) on one database.

R-CHARGE-02: every deduction is matched by exactly one CDR — also when the worker dies, or the database
goes away, after the answer and before the commit. R-CHARGE-04: a key is charged once, also when another
worker's CDR wins it after this worker answered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from test_charging_exactly_once import (
    PRICE,
    CountingSms,
    assert_charged_once_each,
    call,
    charged_total,
    claim_state,
    counts,
    kill,
    plan,
    subject,
    two_workers,
)

from openability.bootstrap import Container, build_container
from openability.charging.models import Grant, UsageRecord
from openability.charging.service import ChargingEngine, _Call, request_hash
from openability.charging.types import CdrRecord, ChargeOutcome, ClaimState
from openability.kernel.errors import AppError
from openability.ledger.types import AccountType


def spool_workers(
    container: Container, wait: float = 10.0
) -> tuple[Container, ChargingEngine, ChargingEngine]:
    return two_workers(container, wait, answer_after="spool")


def _chain(dst: asyncio.Future[None], src: asyncio.Future[None]) -> None:
    if dst.done():
        return
    if src.cancelled():
        dst.cancel()
    elif src.exception() is not None:
        dst.set_exception(src.exception())  # type: ignore[arg-type]
    else:
        dst.set_result(None)


class HeldWriter:
    """The CDR writer takes the records but commits nothing until release(): the window between the
    answer and the commit, held open."""

    def __init__(self, engine: ChargingEngine) -> None:
        self.real: Callable[[CdrRecord], asyncio.Future[None]] = engine.cdr.write
        self.items: list[tuple[CdrRecord, asyncio.Future[None]]] = []
        engine.cdr.write = self.write  # type: ignore[method-assign]

    def write(self, record: CdrRecord) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.items.append((record, fut))
        return fut

    def release(self) -> None:
        items, self.items = self.items, []
        for record, fut in items:
            self.real(record).add_done_callback(lambda src, dst=fut: _chain(dst, src))


async def until(cond: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def stored_keys(c: Container, partner_id: str) -> list[str]:
    async with c.uow() as uow:
        rows = await uow.session.scalars(
            select(UsageRecord.request_key).where(UsageRecord.partner_id == partner_id)
        )
        return list(rows.all())


def spool_lines(c: Container) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in (c.settings.data_dir / "spool").glob("*.jsonl"))


async def test_r_charge_02_answered_after_the_spool_sync_and_booked_behind(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """The answer comes with the CDR only in the synced spool; the grant's reservation stays in flight
    until the commit; once committed the call has one CDR and one charge, the spool line is dropped."""
    c, a, _ = spool_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    try:
        held = HeldWriter(a)
        out = await call(a, subj, plan(sms), "behind")
        assert isinstance(out, ChargeOutcome) and out.status == 201, out
        assert await stored_keys(c, funded.partner_id) == []  # answered before the commit
        assert a.spool_sync.syncs >= 1 and a.spool_sync.synced == 1
        assert a.spool.pending == 1 and spool_lines(c) == 1
        held_grant = a.grants._held[funded.partner_id]
        assert held_grant.inflight == 1  # the grant cannot be released under the uncommitted CDR
        held.release()
        await a.flush()
        assert held_grant.inflight == 0
        assert a.spool.pending == 0
        assert await stored_keys(c, funded.partner_id) == ["behind"]
        assert await claim_state(c, funded.partner_id, "behind") == ClaimState.ANSWERED
        again = await call(a, subj, plan(sms), "behind")
        assert isinstance(again, ChargeOutcome) and again.replayed and again.body == out.body
    finally:
        await a.stop()
    assert len(sms.submits) == 1
    assert await counts(c, funded.partner_id) == (1, PRICE)
    assert await charged_total(funded) == PRICE
    assert (await funded.balances())[AccountType.PREPAID_RESERVED] == 0
    await assert_ledger_clean()


async def test_r_charge_02_kill9_after_the_answer_before_the_commit_is_charged_once(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """Worker A answers 201 (its spool line synced) and dies before the CDR is committed. A retry on B
    is not sent again and gets no answer without a CDR (409 in progress); B replays A's spool: one CDR,
    one charge, and the retry then gets exactly A's answer."""
    c, a, b = spool_workers(container, wait=0.05)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    await b.start()
    try:
        HeldWriter(a)  # never released: the process dies with the CDR in the writer's queue
        first = await call(a, subj, plan(sms), "k9")
        assert isinstance(first, ChargeOutcome) and first.status == 201, first
        kill(a)
        await a.cdr.stop()
        await a.claims.stop()
        assert await counts(c, funded.partner_id) == (0, Decimal(0))
        retry = await call(b, subj, plan(sms), "k9")
        assert isinstance(retry, AppError) and retry.code == "REQUEST_IN_PROGRESS", retry
        assert await b.recover_spools() == 1
        assert await b.recover_spools() == 0  # replayed once
        retry = await call(b, subj, plan(sms), "k9")
        assert isinstance(retry, ChargeOutcome) and retry.replayed and retry.body == first.body
    finally:
        await b.stop()
    assert len(sms.submits) == 1
    assert await counts(c, funded.partner_id) == (1, PRICE)
    assert await claim_state(c, funded.partner_id, "k9") == ClaimState.ANSWERED
    assert not list((c.settings.data_dir / "spool").glob("*.jsonl"))
    async with c.uow() as uow:
        g = (await uow.session.scalars(select(Grant).where(Grant.worker_id == "worker-a"))).one()
        assert g.consumed == PRICE  # A's CDR consumed A's grant
    from openability.charging.jobs import reap_grants

    c.clock.advance(seconds=c.settings.grant_ttl_seconds + c.settings.grant_reap_grace_seconds + 1)  # type: ignore[attr-defined]
    await reap_grants(c)
    assert await charged_total(funded) == PRICE
    assert (await funded.balances())[AccountType.PREPAID_RESERVED] == 0
    await assert_ledger_clean()


async def test_r_charge_04_a_key_stored_by_another_worker_after_the_answer_is_charged_once(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """A answers a key, then finds it stored by B (the commit behind the answer is refused as a
    duplicate): the key's one CDR is B's, A's money goes back to its grant, and a retry on A now gets
    B's stored answer, as B gives it."""
    c, a, b = spool_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    await b.start()
    try:
        held = HeldWriter(a)
        first = await call(a, subj, plan(sms), "dup")
        assert isinstance(first, ChargeOutcome) and first.status == 201
        # B sends and stores the same key without a claim (what a lost claim would allow)
        p = plan(sms)
        other = await b._serve(subj, p, "dup", request_hash(p.canonical()), _Call(), claimed=False)
        await b.flush()
        assert other.body != first.body
        held.release()
        await a.flush()
        assert a.grants._held[funded.partner_id].inflight == 0
        assert a.spool.pending == 0
        retry = await call(a, subj, plan(sms), "dup")
        assert isinstance(retry, ChargeOutcome) and retry.replayed and retry.body == other.body
    finally:
        await a.stop()
        await b.stop()
    assert len(sms.submits) == 2  # sent twice: logged as an error, charged once
    await assert_charged_once_each(c, funded, 1)
    await assert_ledger_clean()


async def test_r_charge_02_without_a_spool_the_answer_waits_for_the_commit(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """data_dir/spool cannot be created: the worker answers only once the CDR is committed."""
    c, a, _ = spool_workers(container)
    c.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (c.settings.data_dir / "spool").write_bytes(b"not a directory")
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    try:
        assert not a.spool.is_open
        held = HeldWriter(a)
        task = asyncio.create_task(call(a, subj, plan(sms), "no-spool"))
        await until(lambda: len(held.items) == 1)
        await asyncio.sleep(0.05)
        assert not task.done()  # sent, waiting for the commit
        held.release()
        out = await task
        assert isinstance(out, ChargeOutcome) and out.status == 201
        assert await stored_keys(c, funded.partner_id) == ["no-spool"]  # committed before the answer
    finally:
        await a.stop()
    assert await counts(c, funded.partner_id) == (1, PRICE)
    await assert_ledger_clean()


async def test_r_charge_02_a_failed_spool_sync_waits_for_the_commit(
    container: Container, funded: Any, assert_ledger_clean: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fdatasync fails (a disk error): the answer falls back to waiting for the commit."""
    c, a, _ = spool_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()

    def broken(segs: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(a.spool, "datasync", broken)
    try:
        held = HeldWriter(a)
        task = asyncio.create_task(call(a, subj, plan(sms), None))
        await until(lambda: len(held.items) == 1)
        await asyncio.sleep(0.05)
        assert not task.done()
        held.release()
        out = await task
        assert isinstance(out, ChargeOutcome) and out.status == 201
        assert len(await stored_keys(c, funded.partner_id)) == 1
    finally:
        await a.stop()
    assert await counts(c, funded.partner_id) == (1, PRICE)
    await assert_ledger_clean()


async def test_r_charge_02_concurrent_calls_share_one_fdatasync(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """40 concurrent calls: fewer fdatasyncs than calls (one per group), and each call one CDR."""
    c, a, _ = spool_workers(container)
    sms, subj = CountingSms(delay=0.01), subject(funded)
    await a.start()
    try:
        outs = await asyncio.gather(*(call(a, subj, plan(sms), None) for _ in range(40)))
        assert all(isinstance(o, ChargeOutcome) and o.status == 201 for o in outs), outs
        # A call is answered at its first durable point: on a loaded machine some commits beat their
        # group's fdatasync, so the syncs are waited for, not assumed done with the answers.
        await until(lambda: a.spool_sync.synced == 40)
        assert 1 <= a.spool_sync.syncs < 40
        await a.flush()
        async with c.uow() as uow:
            n = await uow.session.scalar(select(func.count()).select_from(UsageRecord))
        assert n == 40
    finally:
        await a.stop()
    assert await counts(c, funded.partner_id) == (40, 40 * PRICE)
    assert await charged_total(funded) == 40 * PRICE
    await assert_ledger_clean()


async def test_r_charge_02_a_commit_backlog_makes_answers_wait_for_their_commit(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """Past BEHIND_BATCHES batches answered and not committed, an answer waits for its own commit
    (the database slower than the traffic: the backlog stays bounded)."""
    from openability.charging.service import BEHIND_BATCHES

    c, _, _ = spool_workers(container)
    a = ChargingEngine(
        build_container(c.settings.model_copy(update={"cdr_batch_max": 1}), clock=c.clock, engine=c.engine),
        "w",
    )
    sms, subj = CountingSms(delay=0.01), subject(funded)
    await a.start()
    try:
        held = HeldWriter(a)
        few = await asyncio.gather(*(call(a, subj, plan(sms), None) for _ in range(BEHIND_BATCHES)))
        assert all(isinstance(o, ChargeOutcome) and o.status == 201 for o in few)  # answered, held
        more = asyncio.gather(*(call(a, subj, plan(sms), None) for _ in range(2)))
        await until(lambda: len(held.items) == BEHIND_BATCHES + 2)
        await asyncio.sleep(0.05)
        assert not more.done()
        held.release()
        outs = await more
        assert all(isinstance(o, ChargeOutcome) and o.status == 201 for o in outs)
        assert len(await stored_keys(c, funded.partner_id)) == BEHIND_BATCHES + 2
    finally:
        await a.stop()
    n = BEHIND_BATCHES + 2
    assert await counts(c, funded.partner_id) == (n, n * PRICE)
    await assert_ledger_clean()


async def test_r_charge_02_a_commit_before_the_sync_answers_at_once(
    container: Container, funded: Any, assert_ledger_clean: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow disk: the CDR commits before the spool sync returns, and the call is answered then (the
    first durable point), its CDR already in the database."""
    import threading

    c, a, _ = spool_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    real = a.spool.datasync
    disk = threading.Event()

    def slow(segs: Any) -> None:
        disk.wait(30)
        real(segs)

    monkeypatch.setattr(a.spool, "datasync", slow)
    try:
        out = await call(a, subj, plan(sms), "slow-disk")
        assert isinstance(out, ChargeOutcome) and out.status == 201
        assert a.spool_sync.syncs == 0  # answered before the sync returned
        assert await stored_keys(c, funded.partner_id) == ["slow-disk"]
        disk.set()
        await until(lambda: a.spool_sync.syncs == 1)
    finally:
        await a.stop()
    assert await counts(c, funded.partner_id) == (1, PRICE)
    await assert_ledger_clean()
