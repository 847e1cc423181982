"""The CDR writer's queue and commit pipeline (charging/cdr_writer.py): every caller's future resolves
only after its own batch committed, one outcome per record, at most PG_PIPELINE COPY-sized batches in
flight on PostgreSQL (one-statement batches and SQLite: one) and a second one only behind a full
backlog — R-CHARGE-02."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.charging.cdr_pg import COPY_MIN_RECORDS
from openability.charging.cdr_writer import PG_PIPELINE, CdrFailed, CdrWriter
from openability.charging.grants import GrantManager
from openability.charging.models import Grant, UsageDaily, UsageRecord
from openability.charging.types import CdrMessage, CdrRecord
from openability.kernel.clock import business_date, month_key
from openability.kernel.ids import new_id

PRICE = Decimal("0.0450")


def record(i: int, now: Any, partner_id: str = "p", product_id: str = "prod", plan_id: str = "plan",
           grant_id: str | None = None) -> CdrRecord:  # fmt: skip
    msg = CdrMessage(new_id("msg"), f"+8613800000{i:03d}", 1, [f"N{i}"])
    return CdrRecord(
        id=new_id("cdr"),
        partner_id=partner_id,
        product_id=product_id,
        capability="sms",
        operation="sendMessage",
        client_id="cli_q",
        request_key=f"q-{i}",
        request_hash="h" * 64,
        quantity=1,
        unit="segment",
        amount=PRICE,
        billing_mode="prepaid",
        price_plan_id=plan_id,
        band="list",
        scope="national",
        month=month_key(now),
        grant_id=grant_id,
        occurred_at=now + timedelta(milliseconds=i),
        day=business_date(now),
        recipients=[msg.recipient],
        response={"i": i},
        messages=[msg],
    )


class FakeDb:
    """Stands in for CdrWriter._write: records what each batch committed and how many ran at once."""

    def __init__(self, bad: set[str] | None = None) -> None:
        self.committed: list[list[str]] = []
        self.running = 0
        self.most = 0
        self.bad = bad or set()
        self.gate: asyncio.Event | None = None

    async def write(self, records: list[CdrRecord], closed: set[str]) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0.002)
            if any(r.id in self.bad for r in records):
                raise RuntimeError("refused")
            self.committed.append([r.id for r in records])
        finally:
            self.running -= 1


def writer_with(container: Any, db: FakeDb, batch_max: int, postgres: bool) -> CdrWriter:
    container.settings = container.settings.model_copy(
        update={"cdr_batch_max": batch_max, "cdr_batch_wait_ms": 1}
    )
    w = CdrWriter(container)
    w._postgres = postgres
    w._write = db.write  # type: ignore[method-assign]
    return w


@pytest.mark.parametrize(
    ("postgres", "batch_max", "depth"),
    [(True, COPY_MIN_RECORDS, PG_PIPELINE), (True, 20, 1), (False, COPY_MIN_RECORDS, 1)],
)
async def test_r_charge_02_each_future_resolves_after_its_own_batch_committed(
    container: Any, postgres: bool, batch_max: int, depth: int
) -> None:
    """A backlog of 10 full batches: every record committed exactly once, in a batch of at most
    batch_max; each future done only once its record's batch committed; PG_PIPELINE batches in flight
    on PostgreSQL's path when they take COPY, one otherwise and on SQLite's."""
    db = FakeDb()
    w = writer_with(container, db, batch_max, postgres)
    now = container.clock.now()
    recs = [record(i, now) for i in range(10 * batch_max)]
    seen_committed: dict[str, bool] = {}

    def check(rid: str) -> Any:
        def cb(_fut: Any) -> None:
            seen_committed[rid] = any(rid in b for b in db.committed)

        return cb

    await w.start()
    try:
        futs = [w.write(r) for r in recs]
        for r, f in zip(recs, futs, strict=True):
            f.add_done_callback(check(r.id))
        await asyncio.gather(*futs)
    finally:
        await w.stop()
    ids = [rid for b in db.committed for rid in b]
    assert sorted(ids) == sorted(r.id for r in recs)  # each once
    assert max(len(b) for b in db.committed) == batch_max
    assert all(seen_committed[r.id] for r in recs)
    assert db.most == depth
    assert w.batches == len(db.committed)


async def test_r_charge_02_without_a_backlog_one_batch_at_a_time(container: Any) -> None:
    """Records arriving while a batch commits wait for it and form the next batch together (the batch
    grows with the load), even where two batches may be in flight."""
    db = FakeDb()
    db.gate = asyncio.Event()
    w = writer_with(container, db, 300, True)
    now = container.clock.now()
    await w.start()
    try:
        first = w.write(record(0, now))
        await asyncio.sleep(0.02)  # the first batch (one record) is committing, held at the gate
        assert db.running == 1
        rest = [w.write(record(i, now)) for i in range(1, 6)]
        await asyncio.sleep(0.02)
        assert db.running == 1  # no second batch for a partial queue
        db.gate.set()
        await asyncio.gather(first, *rest)
    finally:
        await w.stop()
    assert [len(b) for b in db.committed] == [1, 5]
    assert db.most == 1


async def test_r_charge_02_a_failed_batch_answers_each_record_its_own_outcome(container: Any) -> None:
    """A batch refused as a whole is retried record by record: the refused record's caller gets
    CdrFailed, every other one succeeds (its CDR committed), the other batch in flight unaffected."""
    now = container.clock.now()
    recs = [record(i, now) for i in range(40)]
    db = FakeDb(bad={recs[7].id})
    w = writer_with(container, db, 10, True)
    await w.start()
    try:
        results = await asyncio.gather(*(w.write(r) for r in recs), return_exceptions=True)
    finally:
        await w.stop()
    assert isinstance(results[7], CdrFailed)
    assert all(res is None for i, res in enumerate(results) if i != 7)
    ids = {rid for b in db.committed for rid in b}
    assert ids == {r.id for i, r in enumerate(recs) if i != 7}


async def test_r_charge_02_stop_commits_everything_queued_then_refuses(container: Any) -> None:
    db = FakeDb()
    w = writer_with(container, db, 7, True)
    now = container.clock.now()
    await w.start()
    futs = [w.write(record(i, now)) for i in range(50)]
    await w.stop()
    assert all(f.done() and f.exception() is None for f in futs)
    assert sum(len(b) for b in db.committed) == 50
    late = w.write(record(99, now))
    with pytest.raises(CdrFailed):
        await late


@pytest.mark.postgres_only
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_r_charge_02_pipelined_batches_book_every_cdr_once(
    container: Any, build: Any, assert_ledger_clean: Any, backend: str
) -> None:
    """On PostgreSQL, 600 CDRs in COPY batches of COPY_MIN_RECORDS (two in flight on the same partner's
    accounts and grant): every CDR once, the rollup counts them all, the grant consumed their sum, no
    deadlock, the ledger audit clean."""
    f = await build(container, Decimal("100.0000"))
    container.settings = container.settings.model_copy(update={"cdr_batch_max": COPY_MIN_RECORDS})
    now = container.clock.now()
    gm = GrantManager(container, "w-q")
    res = await gm.reserve(f.partner_id, PRICE * 600)
    recs = [record(i, now, f.partner_id, f.product_id, f.plan_id, res.grant_id) for i in range(600)]
    w = CdrWriter(container)
    await w.start()
    try:
        await asyncio.gather(*(w.write(r) for r in recs))
    finally:
        await w.stop()
    assert w.batches == 600 // COPY_MIN_RECORDS
    async with container.uow() as uow:
        s = uow.session
        assert await s.scalar(select(func.count()).select_from(UsageRecord)) == 600
        assert await s.scalar(select(func.sum(UsageDaily.calls))) == 600
        assert await s.scalar(select(Grant.consumed).where(Grant.id == res.grant_id)) == PRICE * 600
    gm.done(res)
    await gm.release_idle(all_grants=True)
    await assert_ledger_clean()
