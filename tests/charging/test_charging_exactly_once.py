"""Exactly-once sends across workers (issue 8 defects 1 and 2): two charging engines (two workers) on
one database, with a connector that counts what reaches the network.

R-CHARGE-04: a retried request with the same idempotency key is charged once — and sent once, whichever
worker the copies reach. R-CHARGE-02: every deduction is matched by exactly one CDR — also for a call
sent while its CDR could not be written (the database down, the worker killed in between)."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from openability.bootstrap import Container, build_container
from openability.capabilities.sms import SmsCapability, SmsRequest
from openability.charging.cdr_writer import CdrWriter
from openability.charging.claims import recover_claims
from openability.charging.models import Grant, Message, RequestClaim, UsageRecord
from openability.charging.service import ChargingEngine, Subject, request_hash
from openability.charging.spool import SendSpool
from openability.charging.types import ChargeOutcome, ClaimState
from openability.connectors.base import NetworkUnavailable, SmsSubmission, Submitted
from openability.kernel.errors import AppError
from openability.ledger.types import AccountType
from support_funded import SUBJECT_PRICE, flat_subject

PRICE = SUBJECT_PRICE
TO = "+8613800138000"


class CountingSms:
    """An SMSC that counts what it accepts; slow enough that copies of a call overlap."""

    def __init__(self, delay: float = 0.02) -> None:
        self.submits: list[SmsSubmission] = []
        self.delay = delay
        self.down = False
        self._ids = itertools.count(1)

    @property
    def available(self) -> bool:
        return True

    async def submit(self, msg: SmsSubmission) -> Submitted:
        await asyncio.sleep(self.delay)
        if self.down:
            raise NetworkUnavailable("SMSC down")
        self.submits.append(msg)
        return Submitted(network_ids=[f"N{next(self._ids)}"], parts=1)


def subject(f: Any) -> Subject:
    return flat_subject(f)  # tests/support_funded.py: SUBJECT_PRICE per segment


def plan(sms: CountingSms, text: str = "hello") -> Any:
    return SmsCapability().plan(SmsRequest((TO,), text, None), sms)


def two_workers(
    container: Container, wait: float = 10.0, answer_after: str = "commit"
) -> tuple[Container, ChargingEngine, ChargingEngine]:
    s = container.settings.model_copy(
        update={"idempotency_wait_seconds": wait, "charge_answer_after": answer_after}
    )
    c = build_container(s, clock=container.clock, engine=container.engine)
    return c, ChargingEngine(c, "worker-a"), ChargingEngine(c, "worker-b")


async def call(engine: ChargingEngine, subj: Subject, p: Any, key: str | None) -> ChargeOutcome | AppError:
    try:
        return await engine.charge(subj, p, key)
    except AppError as exc:
        return exc


async def counts(c: Container, partner_id: str) -> tuple[int, Decimal]:
    async with c.uow() as uow:
        n, total = (
            await uow.session.execute(
                select(func.count(), func.coalesce(func.sum(UsageRecord.amount), 0)).where(
                    UsageRecord.partner_id == partner_id
                )
            )
        ).one()
    return int(n), Decimal(total)


async def claim_state(c: Container, partner_id: str, key: str) -> ClaimState | None:
    async with c.uow() as uow:
        row = await uow.session.get(RequestClaim, (partner_id, key))
        return row.state if row is not None else None


async def charged_total(f: Any) -> Decimal:
    b = await f.balances()
    return Decimal("10.0000") - b[AccountType.PREPAID_AVAILABLE] - b[AccountType.PREPAID_RESERVED]


async def assert_charged_once_each(c: Container, f: Any, calls: int) -> None:
    """Each of `calls` sent calls has its one CDR and its one charge, no money is left reserved (the
    grants released once booked) and nothing is left in the spool to replay."""
    assert await counts(c, f.partner_id) == (calls, calls * PRICE)
    assert await charged_total(f) == calls * PRICE
    assert (await f.balances())[AccountType.PREPAID_RESERVED] == 0
    assert not list((c.settings.data_dir / "spool").glob("*.jsonl"))


async def test_r_charge_04_sixteen_copies_across_two_workers_send_once(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """16 concurrent calls with one Idempotency-Key, 8 on each worker: one message reaches the network,
    one CDR, one charge, and every caller gets the same answer."""
    c, a, b = two_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    await b.start()
    try:
        outs = await asyncio.gather(
            *(call(a if i % 2 else b, subj, plan(sms), "same-key") for i in range(16))
        )
    finally:
        await a.stop()
        await b.stop()
    assert all(isinstance(o, ChargeOutcome) for o in outs), outs
    assert len(sms.submits) == 1
    assert {(o.status, str(o.body)) for o in outs if isinstance(o, ChargeOutcome)} == {
        (201, str(outs[0].body))  # type: ignore[union-attr]
    }
    assert await counts(c, funded.partner_id) == (1, PRICE)
    assert await charged_total(funded) == PRICE
    assert await claim_state(c, funded.partner_id, "same-key") == ClaimState.ANSWERED
    await assert_ledger_clean()


async def test_r_charge_04_one_key_two_bodies_one_sent_the_other_409(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """The same key with two different texts on two workers at once, 10 rounds: exactly one text is
    delivered and charged, the other caller gets 409 IDEMPOTENCY_KEY_REUSED."""
    c, a, b = two_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    await b.start()
    try:
        for rnd in range(10):
            before = len(sms.submits)
            one, two = await asyncio.gather(
                call(a, subj, plan(sms, f"first {rnd}"), f"k{rnd}"),
                call(b, subj, plan(sms, f"second {rnd}"), f"k{rnd}"),
            )
            statuses = sorted(o.status for o in (one, two))
            assert statuses == [201, 409], (rnd, one, two)
            loser = one if isinstance(one, AppError) else two
            assert isinstance(loser, AppError) and loser.code == "IDEMPOTENCY_KEY_REUSED"
            assert len(sms.submits) == before + 1, rnd
    finally:
        await a.stop()
        await b.stop()
    assert await counts(c, funded.partner_id) == (10, 10 * PRICE)
    assert await charged_total(funded) == 10 * PRICE
    await assert_ledger_clean()


async def test_r_charge_04_a_failed_call_is_not_replayed_to_a_later_retry(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """A call the network refused (503, nothing charged) leaves its key free: a retry on the other worker
    is sent and charged once."""
    c, a, b = two_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    await b.start()
    try:
        sms.down = True
        first = await call(a, subj, plan(sms), "retry-me")
        assert isinstance(first, AppError) and first.status == 503
        assert await claim_state(c, funded.partner_id, "retry-me") == ClaimState.FAILED
        sms.down = False
        second = await call(b, subj, plan(sms), "retry-me")
        third = await call(a, subj, plan(sms), "retry-me")
    finally:
        await a.stop()
        await b.stop()
    assert isinstance(second, ChargeOutcome) and second.status == 201 and not second.replayed
    assert isinstance(third, ChargeOutcome) and third.replayed and third.body == second.body
    assert len(sms.submits) == 1
    assert await counts(c, funded.partner_id) == (1, PRICE)
    await assert_ledger_clean()


class SimulatedCrash(BaseException):
    """The worker dies here (kill -9): nothing after this point runs."""


def crash_after_send(engine: ChargingEngine) -> None:
    """The worker is killed between the send and the CDR: the CDR never reaches the writer."""

    async def die(_record: Any) -> None:
        raise SimulatedCrash

    engine.cdr.write = die  # type: ignore[method-assign]


def kill(engine: ChargingEngine) -> None:
    """What the kernel does for a killed process: its file locks go, its files stay."""
    spool = getattr(engine, "spool", None)
    if spool is not None:
        spool.abandon()


async def test_r_charge_02_crash_between_send_and_cdr_is_not_sent_again_and_charged_once(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    """Worker A sends and dies before its CDR is written. A retry with the same key on worker B is not
    sent again (409: in progress, then in doubt); B replays A's spool: one CDR, one charge, and the
    retry then gets A's answer. The reaper returns the rest of A's grant."""
    c, a, b = two_workers(container, wait=0.05)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    await b.start()
    try:
        crash_after_send(a)
        with pytest.raises(SimulatedCrash):
            await a.charge(subj, plan(sms), "crash-key")
        kill(a)
        await a.cdr.stop()
        assert len(sms.submits) == 1
        retry = await call(b, subj, plan(sms), "crash-key")
        assert isinstance(retry, AppError) and retry.status == 409, retry
        assert retry.code == "REQUEST_IN_PROGRESS"
        assert len(sms.submits) == 1  # not sent again
        # long after: still not sent again, now in doubt (A is gone)
        c.clock.advance(seconds=c.settings.grant_ttl_seconds + c.settings.grant_reap_grace_seconds + 1)  # type: ignore[attr-defined]
        retry = await call(b, subj, plan(sms), "crash-key")
        assert isinstance(retry, AppError) and retry.code == "REQUEST_IN_DOUBT"
        assert len(sms.submits) == 1
        # recovery: B replays the dead worker's spool
        assert await b.recover_spools() == 1
        assert await b.recover_spools() == 0  # nothing left
        retry = await call(b, subj, plan(sms), "crash-key")
        assert isinstance(retry, ChargeOutcome) and retry.replayed and retry.status == 201
        assert retry.body["requestId"] == "crash-key"
    finally:
        await b.stop()
    assert len(sms.submits) == 1
    assert await counts(c, funded.partner_id) == (1, PRICE)
    assert await claim_state(c, funded.partner_id, "crash-key") == ClaimState.ANSWERED
    async with c.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Message)) == 1
        g = (await uow.session.scalars(select(Grant).where(Grant.worker_id == "worker-a"))).one()
        assert g.consumed == PRICE  # A's CDR consumed A's grant
    from openability.charging.jobs import reap_grants

    await reap_grants(c)  # A's grant: the rest goes back
    assert await charged_total(funded) == PRICE
    b_ = await funded.balances()
    assert b_[AccountType.PREPAID_RESERVED] == 0
    await assert_ledger_clean()


@pytest.mark.parametrize("answer_after", ["commit", "spool"])
async def test_r_charge_02_database_down_after_the_send_is_answered_and_booked_once(
    container: Container,
    funded: Any,
    assert_ledger_clean: Any,
    monkeypatch: pytest.MonkeyPatch,
    answer_after: str,
) -> None:
    """The database goes away between the send and the CDR (a PostgreSQL restart), or, answering after
    the spool sync, just after the answer: the call is answered 201 (it was sent), journaled and
    fsync'ed, its CDR handed to maintain() with the money still held; a retry on the other worker is
    not sent again; once the database is back the CDR is booked once and the retry gets the same
    answer."""
    c, a, b = two_workers(container, wait=0.05, answer_after=answer_after)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    await b.start()
    real_write = CdrWriter._write

    async def db_down(self: Any, batch: Any, closed: Any) -> None:
        raise OperationalError("INSERT", {}, ConnectionRefusedError("the database is restarting"))

    try:
        monkeypatch.setattr(CdrWriter, "_write", db_down)
        first = await call(a, subj, plan(sms), "pg-restart")
        plain = await call(a, subj, plan(sms), None)  # without a key: the same
        assert isinstance(first, ChargeOutcome) and first.status == 201, first
        assert isinstance(plain, ChargeOutcome) and plain.status == 201, plain
        await a.flush()  # spool mode: the failed commits have settled behind the answers
        assert a.unbooked == 2
        assert a.grants._held[funded.partner_id].inflight == 2  # still spent
        await a.maintain()  # still down: kept
        assert a.unbooked == 2
        retry = await call(b, subj, plan(sms), "pg-restart")
        assert isinstance(retry, AppError) and retry.code == "REQUEST_IN_PROGRESS"
        assert len(sms.submits) == 2
        monkeypatch.setattr(CdrWriter, "_write", real_write)  # the database is back
        await a.maintain()
        assert a.unbooked == 0
        retry = await call(b, subj, plan(sms), "pg-restart")
        assert isinstance(retry, ChargeOutcome) and retry.replayed and retry.body == first.body
    finally:
        await a.stop()
        await b.stop()
    assert len(sms.submits) == 2
    await assert_charged_once_each(c, funded, 2)
    await assert_ledger_clean()


async def test_r_charge_02_spool_replay_is_idempotent(
    container: Container, funded: Any, assert_ledger_clean: Any, tmp_path: Path
) -> None:
    """A dead worker's spool holding a CDR that was committed and one that was not, replayed twice (and
    by two workers): each call ends with exactly one CDR."""
    c, a, b = two_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    try:
        done = await call(a, subj, plan(sms), "committed")
        assert isinstance(done, ChargeOutcome) and done.status == 201
        crash_after_send(a)
        with pytest.raises(SimulatedCrash):
            await a.charge(subj, plan(sms), None)
        # A's spool still holds both lines (the first one's segment was not rotated away yet).
        kill(a)
        await a.cdr.stop()
        lines = sum(len(p.read_bytes().splitlines()) for p in (c.settings.data_dir / "spool").glob("*.jsonl"))
        assert lines == 2
        await b.start()
        other = ChargingEngine(c, "worker-c")
        await other.start()  # both replay at start-up; the lock lets one of them do it
        assert await b.recover_spools() == 0
        assert await other.recover_spools() == 0
        await other.stop()
    finally:
        await b.stop()
    assert len(sms.submits) == 2
    assert await counts(c, funded.partner_id) == (2, 2 * PRICE)
    assert not list((c.settings.data_dir / "spool").iterdir())
    from openability.charging.jobs import reap_grants

    c.clock.advance(seconds=120)  # type: ignore[attr-defined]
    await reap_grants(c)
    assert await charged_total(funded) == 2 * PRICE
    await assert_ledger_clean()


def test_spool_lines_round_trip_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime

    from openability.charging.types import CdrMessage, CdrRecord

    rec = CdrRecord(
        "cdr_1", "prt_1", "prd_1", "sms", "sendMessage", "cli_1", "k1", "h" * 64, 2, "segment",
        Decimal("0.1000"), "prepaid", "pp_1", "list", "national", "2026-11", "gr_1",
        datetime(2026, 11, 2, 2, 0, tzinfo=UTC), date(2026, 11, 2), [TO], {"requestId": "k1"},
        [CdrMessage("msg_1", TO, 2, ["N1", "N2"])], True,
    )  # fmt: skip
    dead = SendSpool(tmp_path, "dead")
    dead.open()
    dead.append(rec)
    seg = next(tmp_path.glob("dead.*.jsonl"))
    with seg.open("ab") as fh:
        fh.write(b'{"id": "cdr_2", "partner')  # killed inside the write
    dead.abandon()
    live = SendSpool(tmp_path, "live")
    live.open()
    orphans = list(live.orphans())
    assert len(orphans) == 1
    assert list(orphans[0].records()) == [rec]
    assert list(live.orphans()) == []  # locked by the first replayer
    orphans[0].finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.1.jsonl", "live.lock"]
    live.close()
    assert list(tmp_path.iterdir()) == []


async def test_r_charge_04_stale_claims_become_in_doubt_and_old_ones_are_deleted(
    container: Container, funded: Any, assert_ledger_clean: Any
) -> None:
    c, a, _ = two_workers(container)
    sms, subj = CountingSms(), subject(funded)
    await a.start()
    try:
        ok = await call(a, subj, plan(sms), "answered")
        assert isinstance(ok, ChargeOutcome)
        # a claim whose worker died before journaling the send (claimed, no CDR, no spool line)
        assert await a.claims.try_claim(funded.partner_id, "orphan", request_hash(plan(sms).canonical()))
        # a claim whose CDR was written without the claim update (answered by the job)
        assert await a.claims.try_claim(funded.partner_id, "late", "h")
        async with c.uow() as uow:
            await uow.session.execute(
                update(UsageRecord).where(UsageRecord.request_key == "answered").values(request_key="late")
            )
        c.clock.advance(seconds=c.settings.grant_ttl_seconds + c.settings.grant_reap_grace_seconds + 1)  # type: ignore[attr-defined]
        async with c.uow() as uow:
            res = await recover_claims(uow)
        assert res.answered == 1 and res.in_doubt == [(funded.partner_id, "orphan")]
        assert await claim_state(c, funded.partner_id, "orphan") == ClaimState.IN_DOUBT
        assert await claim_state(c, funded.partner_id, "late") == ClaimState.ANSWERED
        retry = await call(a, subj, plan(sms), "orphan")
        assert isinstance(retry, AppError) and retry.code == "REQUEST_IN_DOUBT"
        c.clock.advance(hours=c.settings.idempotency_claim_retention_hours + 1)  # type: ignore[attr-defined]
        async with c.uow() as uow:
            res = await recover_claims(uow)
        assert res.deleted == 2  # the answered ones; the CDRs keep answering their keys
        assert await claim_state(c, funded.partner_id, "answered") is None
        a.idempotency._done.clear()
        again = await call(a, subj, plan(sms), "late")
        assert isinstance(again, ChargeOutcome) and again.replayed
    finally:
        await a.stop()
    assert len(sms.submits) == 1
    await assert_ledger_clean()


def test_r_charge_02_spool_keeps_a_rotated_segment_until_its_cdrs_are_booked(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime

    from openability.charging.types import CdrRecord

    def rec(key: str) -> CdrRecord:
        return CdrRecord(
            f"cdr_{key}", "prt_1", "prd_1", "sms", "sendMessage", "cli_1", key, "", 1, "segment",
            Decimal("0.0500"), "prepaid", "pp_1", "list", "national", "2026-11", None,
            datetime(2026, 11, 2, 2, 0, tzinfo=UTC), date(2026, 11, 2), [TO], {}, [],
        )  # fmt: skip

    sp = SendSpool(tmp_path, "w")
    sp.open()
    first = sp.append(rec("a"))
    done = sp.append(rec("b"))
    sp.booked(done)
    sp.rotate(force=True)  # "a" is not booked: its segment stays (and can still be fsync'ed)
    assert first is not None and first.path.exists()
    sp.sync(first)
    later = sp.append(rec("c"))
    assert later is not None and later.path != first.path
    sp.booked(first)  # booked: the rotated segment goes
    assert not first.path.exists()
    sp.close()  # "c" is not booked: kept for the replay, with the lock file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.2.jsonl", "w.lock"]
    replayer = SendSpool(tmp_path, "r")
    orphan = next(replayer.orphans())
    assert [r.request_key for r in orphan.records()] == ["c"]
    orphan.finish()
    assert list(tmp_path.iterdir()) == []
