"""Grants, the reaper and the CDR writer at service level (R-CHARGE-01/02, R-BILL-10)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.charging import rules
from openability.charging.cdr_writer import DuplicateRequest
from openability.charging.grants import GrantManager
from openability.charging.jobs import reap_grants
from openability.charging.models import Grant, UsageRecord
from openability.charging.service import ChargingEngine, Subject
from openability.charging.types import GrantState
from openability.kernel.errors import InsufficientBalance
from openability.ledger.models import JournalEntry
from openability.ledger.types import AccountType
from support_funded import SUBJECT_PRICE, charge_call, flat_subject

PRICE = SUBJECT_PRICE


def subject(f: Any) -> Subject:
    return flat_subject(f)  # tests/support_funded.py: SUBJECT_PRICE per segment


async def test_r_charge_02_grant_size_adapts_but_never_exceeds_available(
    container: Any, build: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    small = await build(container, Decimal("0.3000"))
    gm = GrantManager(container)
    await gm.reserve(small.partner_id, PRICE)
    b = await small.balances()
    # target 20 calls = 1.00, only 0.30 there: near depletion a worker takes half of what is left,
    # so another worker could still get a grant
    assert b[AccountType.PREPAID_RESERVED] == Decimal("0.1500")
    assert b[AccountType.PREPAID_AVAILABLE] == Decimal("0.1500")
    for _ in range(5):
        await gm.reserve(small.partner_id, PRICE)
    with pytest.raises(InsufficientBalance):
        await gm.reserve(small.partner_id, PRICE)
    # a busy account gets a bigger grant: about grant_window_seconds of its observed spending
    big = await build(container, Decimal("100.0000"))
    for _ in range(80):  # 40 calls a second = 2 CNY/s, for 2 seconds
        await gm.reserve(big.partner_id, PRICE)
        clock.advance(seconds=1 / 40)
    grant = (await big.balances())[AccountType.PREPAID_RESERVED]
    # fixed 20-call grants would have taken 4.00 in four refills; the adaptive size took more at once
    assert Decimal("5.0000") < grant <= Decimal("100.0000")
    _, remaining, inflight = gm.held(big.partner_id)
    assert remaining >= 0 and inflight == 80
    await gm.release_idle(all_grants=True)  # in-flight calls keep their grant
    assert gm.held(big.partner_id)[0] is not None
    await assert_ledger_clean()


async def test_r_charge_02_two_workers_never_overdraw(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    f = await build(container, Decimal("1.0000"))
    workers = [GrantManager(container, worker_id=f"w{i}") for i in range(3)]

    async def one(gm: GrantManager) -> bool:
        try:
            await gm.reserve(f.partner_id, PRICE)
        except InsufficientBalance:
            return False
        return True

    results = await asyncio.gather(*(one(workers[i % 3]) for i in range(60)))
    assert sum(results) <= 20
    b = await f.balances()
    assert b[AccountType.PREPAID_AVAILABLE] >= 0
    assert b[AccountType.PREPAID_AVAILABLE] + b[AccountType.PREPAID_RESERVED] == Decimal("1.0000")
    await assert_ledger_clean()


async def test_reaper_reclaims_expired_grant_of_dead_worker(
    container: Any, funded: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    dead = GrantManager(container, worker_id="deadhost:1:abc")
    await dead.reserve(funded.partner_id, PRICE)
    assert (await funded.balances())[AccountType.PREPAID_RESERVED] == Decimal("1.0000")
    s = container.settings
    clock.advance(seconds=s.grant_ttl_seconds + s.grant_reap_grace_seconds - 1)
    assert (await reap_grants(container)).startswith("reaped 0")
    clock.advance(seconds=2)
    assert await reap_grants(container) == "reaped 1 grant(s), released 1.0000 CNY"
    b = await funded.balances()
    assert b[AccountType.PREPAID_RESERVED] == 0 and b[AccountType.PREPAID_AVAILABLE] == Decimal("10.0000")
    async with container.uow() as uow:
        g = await uow.session.scalar(select(Grant))
        assert g is not None and g.state == GrantState.CLOSED and g.released == Decimal("1.0000")
    await assert_ledger_clean()


async def test_live_worker_extends_before_using_an_expired_grant_so_reaper_leaves_it(
    container: Any, funded: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    gm = GrantManager(container)
    await gm.reserve(funded.partner_id, PRICE)
    s = container.settings
    clock.advance(seconds=s.grant_ttl_seconds + 1)  # expired but not reapable yet
    await gm.reserve(funded.partner_id, PRICE)  # must extend in the DB first
    clock.advance(seconds=s.grant_reap_grace_seconds + 1)
    assert (await reap_grants(container)).startswith("reaped 0")
    async with container.uow() as uow:
        g = await uow.session.scalar(select(Grant))
        assert (
            g is not None
            and g.state == GrantState.ACTIVE
            and g.expires_at > uow.now - timedelta(seconds=s.grant_reap_grace_seconds)
        )
    await assert_ledger_clean()


async def test_grant_lost_to_reaper_is_replaced_not_reused(
    container: Any, funded: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    gm = GrantManager(container)
    r = await gm.reserve(funded.partner_id, PRICE)
    gm.cancel(r)
    first = gm.held(funded.partner_id)[0]
    s = container.settings
    clock.advance(seconds=s.grant_ttl_seconds + s.grant_reap_grace_seconds + 1)  # the worker stalled
    await reap_grants(container)
    await gm.reserve(funded.partner_id, PRICE)
    assert gm.held(funded.partner_id)[0] != first
    b = await funded.balances()
    assert b[AccountType.PREPAID_AVAILABLE] + b[AccountType.PREPAID_RESERVED] == Decimal("10.0000")
    await assert_ledger_clean()


async def test_cdr_writer_group_commits_and_books_grant_consumption(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    engine = ChargingEngine(container)
    await engine.start()
    try:
        subj = subject(funded)

        async def call(i: int) -> None:
            await charge_call(engine, subj, i)

        await asyncio.gather(*(call(i) for i in range(50)))
        assert engine.cdr.batches < 50  # grouped
    finally:
        await engine.stop()
    async with container.uow() as uow:
        n = await uow.session.scalar(select(func.count()).select_from(UsageRecord))
        entries = await uow.session.scalar(select(func.count(func.distinct(UsageRecord.journal_entry_id))))
        g = await uow.session.scalar(select(Grant))
    assert n == 50 and entries is not None and entries < 50
    assert (
        g is not None and g.consumed == Decimal("2.5000") and g.state == GrantState.CLOSED
    )  # released at stop
    b = await funded.balances()
    assert b[AccountType.PREPAID_AVAILABLE] == Decimal("7.5000") and b[AccountType.PREPAID_RESERVED] == 0
    await assert_ledger_clean()


async def test_cdr_batch_with_a_duplicate_key_retries_record_by_record(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    engine = ChargingEngine(container)
    await engine.start()
    subj = subject(funded)

    async def call(i: int, key: str) -> Any:
        auth = await engine.authorize(subj, 1)
        try:
            await engine.record(
                auth,
                record_id=f"cdr_{i}",
                request_key=key,
                req_hash="h",
                capability="sms",
                operation="sendMessage",
                recipients=[],
                response={"i": i},
                messages=[],
            )
        except DuplicateRequest as d:
            return d.response
        return {"i": i}

    try:
        await call(0, "dup")  # "another worker" stored this key already
        results = await asyncio.gather(*(call(i, "dup" if i == 3 else f"k{i}") for i in range(1, 8)))
    finally:
        await engine.stop()
    assert results[2] == {"i": 0}  # the duplicate answers with the stored answer
    assert [r["i"] for k, r in enumerate(results) if k != 2] == [1, 2, 4, 5, 6, 7]
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(UsageRecord)) == 7
        assert await uow.session.scalar(select(func.count()).select_from(JournalEntry)) > 0
    b = await funded.balances()
    assert b[AccountType.PREPAID_AVAILABLE] == Decimal("10.0000") - PRICE * 7
    await assert_ledger_clean()


async def test_r_charge_02_caller_cancelled_while_cdr_is_written_does_not_free_its_money(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    """A client that goes away while its CDR is being group-committed: the CDR still commits, so the
    money must stay spent in the worker's grant (never reused for another call)."""
    engine = ChargingEngine(container)
    await engine.start()
    try:
        subj = subject(funded)
        auth = await engine.authorize(subj, 1)
        engine.settle(auth, 1)
        _, remaining_before, _ = engine.grants.held(funded.partner_id)
        task = asyncio.create_task(
            engine.record(
                auth,
                record_id="cdr_cancelled",
                request_key="k-cancelled",
                req_hash="",
                capability="sms",
                operation="sendMessage",
                recipients=["+8613800138000"],
                response={},
                messages=[],
            )
        )
        await asyncio.sleep(0)  # the record is queued with the writer
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        _, remaining_after, _ = engine.grants.held(funded.partner_id)
        assert remaining_after == remaining_before  # not handed back for reuse
    finally:
        await engine.stop()  # flushes the writer: the queued CDR commits
    async with container.uow() as uow:
        n = await uow.session.scalar(select(func.count()).select_from(UsageRecord))
    assert n == 1
    b = await funded.balances()
    assert b[AccountType.PREPAID_AVAILABLE] == Decimal("10.0000") - PRICE
    await assert_ledger_clean()


async def test_r_bill_02_usage_falls_in_the_natural_month_of_asia_shanghai(
    container: Any, funded: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    """00:30 on 1 December in Beijing is still 30 November in UTC: the CDR and its daily rollup belong to
    December, the billing month the settlement of December will read."""
    from datetime import UTC, date, datetime

    from openability.charging.models import UsageDaily

    clock.set(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    engine = ChargingEngine(container)
    await engine.start()
    try:
        auth = await engine.authorize(subject(funded), 1)
        engine.settle(auth, 1)
        await engine.record(
            auth,
            record_id="cdr_month_edge",
            request_key="k-month-edge",
            req_hash="",
            capability="sms",
            operation="sendMessage",
            recipients=["+8613800138000"],
            response={},
            messages=[],
        )
    finally:
        await engine.stop()
    async with container.uow() as uow:
        cdr = await uow.session.get(UsageRecord, "cdr_month_edge")
        daily = (await uow.session.scalars(select(UsageDaily))).all()
    assert cdr is not None and cdr.month == "2026-12"
    assert [(d.month, d.day) for d in daily] == [("2026-12", date(2026, 12, 1))]
    await assert_ledger_clean()


async def test_typed_cdr_lands_in_its_columns(container: Any, funded: Any, assert_ledger_clean: Any) -> None:
    """The engine builds the typed CDR (charging/types.py) and the writer turns it into its rows: every
    column of the usage record and its message holds the value it is meant to."""
    from openability.charging.models import Message
    from openability.charging.types import CdrMessage

    engine = ChargingEngine(container)
    await engine.start()
    try:
        plans = (
            rules.PlanVersion(
                funded.plan_id,
                1,
                container.clock.now() - timedelta(days=1),
                None,
                {("local", "close"): ((0, Decimal("0.0300")),)},
            ),
        )
        subj = Subject(
            funded.partner_id, funded.product_id, "cli_cols", "prepaid", "local", "close", plans, "segment"
        )
        auth = await engine.authorize(subj, 2)
        engine.settle(auth, 2)
        await engine.record(
            auth,
            record_id="cdr_cols",
            request_key="key-cols",
            req_hash="f" * 64,
            capability="sms",
            operation="sendMessage",
            recipients=["+8613800138000"],
            response={"requestId": "key-cols"},
            messages=[CdrMessage("msg_cols", "+8613800138000", 2, ["N1", "N2"])],
        )
    finally:
        await engine.stop()
    async with container.uow() as uow:
        cdr = await uow.session.get(UsageRecord, "cdr_cols")
        msg = await uow.session.get(Message, "msg_cols")
        grant = await uow.session.scalar(select(Grant))
    assert cdr is not None and msg is not None and grant is not None
    assert {k: getattr(cdr, k) for k in (
        "partner_id", "product_id", "capability", "operation", "client_id", "request_key", "request_hash",
        "quantity", "unit", "amount", "billing_mode", "price_plan_id", "band", "scope", "month", "grant_id",
        "occurred_at", "recipients", "response",
    )} == {
        "partner_id": funded.partner_id, "product_id": funded.product_id, "capability": "sms",
        "operation": "sendMessage", "client_id": "cli_cols", "request_key": "key-cols",
        "request_hash": "f" * 64, "quantity": 2, "unit": "segment", "amount": Decimal("0.0600"),
        "billing_mode": "prepaid", "price_plan_id": funded.plan_id, "band": "close", "scope": "local",
        "month": "2026-11", "grant_id": grant.id, "occurred_at": container.clock.now(),
        "recipients": ["+8613800138000"], "response": {"requestId": "key-cols"},
    }  # fmt: skip
    assert cdr.journal_entry_id
    assert (
        msg.usage_record_id,
        msg.partner_id,
        msg.capability,
        msg.recipient,
        msg.parts,
        msg.network_ids,
    ) == ("cdr_cols", funded.partner_id, "sms", "+8613800138000", 2, ["N1", "N2"])
    assert msg.created_at == container.clock.now()
    await assert_ledger_clean()


async def test_r_charge_01_an_expired_grant_that_covers_the_call_is_extended_without_moving_money(
    container: Any, funded: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    """A partner calling less often than the grant's lifetime keeps its grant: extended in the DB (the
    reaper leaves it then), no new grant, no journal entry, the same money reserved."""
    gm = GrantManager(container)
    await gm.reserve(funded.partner_id, PRICE)
    first = gm.held(funded.partner_id)[0]

    async def entries() -> int:
        async with container.uow() as uow:
            return int(await uow.session.scalar(select(func.count()).select_from(JournalEntry)) or 0)

    before, reserved = await entries(), (await funded.balances())[AccountType.PREPAID_RESERVED]
    s = container.settings
    clock.advance(seconds=s.grant_ttl_seconds + 1)
    assert await gm.release_idle() == 0  # kept: expired less than half the reaper's grace ago
    await gm.reserve(funded.partner_id, PRICE)
    assert gm.held(funded.partner_id)[0] == first
    assert await entries() == before
    assert (await funded.balances())[AccountType.PREPAID_RESERVED] == reserved
    clock.advance(seconds=s.grant_reap_grace_seconds + 1)
    assert (await reap_grants(container)).startswith("reaped 0")  # extended: not the reaper's
    async with container.uow() as uow:
        g = await uow.session.get(Grant, first)
        assert g is not None and g.state == GrantState.ACTIVE
    await assert_ledger_clean()


async def test_r_charge_01_grants_in_use_are_extended_together_idle_ones_are_not(
    container: Any, build: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    """Housekeeping extends, in one statement, the grants used since their last extension that expire
    soon; a grant nobody used since is left to expire (and be released)."""
    a, b = await build(container, Decimal("10.0000")), await build(container, Decimal("10.0000"))
    gm = GrantManager(container)
    await gm.reserve(a.partner_id, PRICE)
    await gm.reserve(b.partner_id, PRICE)
    ttl = container.settings.grant_ttl_seconds
    assert await gm.extend_in_use() == 0  # nothing expires soon
    clock.advance(seconds=ttl * 2 / 3 + 1)
    assert await gm.extend_in_use() == 2
    clock.advance(seconds=ttl * 2 / 3 + 1)
    await gm.reserve(a.partner_id, PRICE)  # a is in use, b is not
    assert await gm.extend_in_use() == 1
    async with container.uow() as uow:
        rows = {g.partner_id: g.expires_at for g in (await uow.session.scalars(select(Grant))).all()}
    now = clock.now()
    assert rows[a.partner_id] == now + timedelta(seconds=ttl)
    assert rows[b.partner_id] < now + timedelta(seconds=ttl / 3)
    await assert_ledger_clean()


async def test_r_charge_02_one_cdr_batch_over_several_partners_books_each_partners_money(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    """A group commit with CDRs of three partners: one balance update per partner account in one
    executemany, each grant's consumption, one entry; every partner pays exactly its calls."""
    partners = [await build(container, Decimal("10.0000")) for _ in range(3)]
    engine = ChargingEngine(container)
    await engine.start()
    try:

        async def call(f: Any, i: int) -> None:
            auth = await engine.authorize(subject(f), 1)
            await engine.record(
                auth,
                record_id=f"cdr_{f.partner_id}_{i}",
                request_key=f"k{i}",
                req_hash="",
                capability="sms",
                operation="sendMessage",
                recipients=["+8613800138000"],
                response={"i": i},
                messages=[],
            )

        await asyncio.gather(*(call(f, i) for i in range(10) for f in partners))
        assert engine.cdr.batches < 30
    finally:
        await engine.stop()
    async with container.uow() as uow:
        consumed = {g.partner_id: g.consumed for g in (await uow.session.scalars(select(Grant))).all()}
    for f in partners:
        assert consumed[f.partner_id] == Decimal("0.5000")
        b = await f.balances()
        assert b[AccountType.PREPAID_AVAILABLE] == Decimal("9.5000") and b[AccountType.PREPAID_RESERVED] == 0
    await assert_ledger_clean()


async def test_r_charge_02_a_batch_with_one_grant_reaped_charges_that_partner_from_available(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    from openability.charging.grants import release_grant

    a, b = await build(container, Decimal("10.0000")), await build(container, Decimal("10.0000"))
    engine = ChargingEngine(container)
    await engine.start()
    try:
        auths = [await engine.authorize(subject(f), 1) for f in (a, b)]
        async with container.uow() as uow:  # a's grant closed under the worker (as by the reaper)
            await release_grant(uow.session, auths[0].reservation.grant_id or "", uow.now, "reaped")

        async def record(i: int) -> None:
            await engine.record(
                auths[i],
                record_id=f"cdr_{i}",
                request_key=f"k{i}",
                req_hash="",
                capability="sms",
                operation="sendMessage",
                recipients=["+8613800138000"],
                response={"i": i},
                messages=[],
            )

        await asyncio.gather(record(0), record(1))
        assert engine.cdr.batches == 1  # one group commit over both grants
    finally:
        await engine.stop()
    async with container.uow() as uow:
        cdrs = {u.partner_id: u.grant_id for u in (await uow.session.scalars(select(UsageRecord))).all()}
    assert cdrs[a.partner_id] is None and cdrs[b.partner_id] is not None
    for f in (a, b):
        bal = await f.balances()
        assert (
            bal[AccountType.PREPAID_AVAILABLE] == Decimal("9.9500") and bal[AccountType.PREPAID_RESERVED] == 0
        )
    await assert_ledger_clean()


async def test_r_charge_01_a_released_idle_grant_is_forgotten_and_the_next_call_opens_a_new_one(
    container: Any, funded: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    """Idle partners cost the worker no memory (100,000 partners, issue 9): once its grant is released
    the partner is forgotten; its next call takes a new grant as a first call does."""
    gm = GrantManager(container)
    r = await gm.reserve(funded.partner_id, PRICE)
    gm.done(r)
    first = gm.held(funded.partner_id)[0]
    s = container.settings
    clock.advance(seconds=s.grant_ttl_seconds + s.grant_reap_grace_seconds)
    assert await gm.release_idle() == 1
    assert funded.partner_id not in gm._held
    r = await gm.reserve(funded.partner_id, PRICE)
    assert r.grant_id is not None and r.grant_id != first
    assert gm.held(funded.partner_id) == (r.grant_id, gm.held(funded.partner_id)[1], 1)
    gm.done(r)
    await gm.release_idle(all_grants=True)
    await assert_ledger_clean()


async def test_r_charge_01_a_call_waiting_on_a_grant_being_released_takes_a_new_one(
    container: Any, funded: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    gm = GrantManager(container)
    gm.done(await gm.reserve(funded.partner_id, PRICE))
    s = container.settings
    clock.advance(seconds=s.grant_ttl_seconds + s.grant_reap_grace_seconds)
    release = asyncio.create_task(gm.release_idle())
    await asyncio.sleep(0)  # the release holds the partner's lock now
    call = asyncio.create_task(gm.reserve(funded.partner_id, PRICE))
    assert await release == 1
    r = await call
    assert r.grant_id is not None and gm.held(funded.partner_id)[0] == r.grant_id
    gm.done(r)
    await gm.release_idle(all_grants=True)
    await assert_ledger_clean()


async def test_r_charge_02_idle_grants_of_many_partners_are_released_together_and_their_money_returns(
    container: Any, build: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    """A worker that served many partners now and then gives their idle grants back in one go (on
    PostgreSQL one statement per RELEASE_CHUNK grants, grants_pg.RELEASE_MANY): each grant closed
    with its open money back in available by its own balanced entry, each partner forgotten."""
    partners = [await build(container, Decimal("5.0000")) for _ in range(12)]
    gm = GrantManager(container)
    for f in partners:
        gm.done(await gm.reserve(f.partner_id, PRICE))
    grant_ids = {gm.held(f.partner_id)[0] for f in partners}
    assert None not in grant_ids and len(grant_ids) == 12
    s = container.settings
    clock.advance(seconds=s.grant_ttl_seconds + s.grant_reap_grace_seconds)
    assert await gm.release_idle() == 12
    assert all(f.partner_id not in gm._held for f in partners)
    async with container.uow() as uow:
        grants = (await uow.session.scalars(select(Grant).where(Grant.id.in_(grant_ids)))).all()
        releases = (
            await uow.session.scalars(
                select(func.count()).select_from(JournalEntry).where(JournalEntry.ref_id.in_(grant_ids))
            )
        ).one()
    assert {g.state for g in grants} == {GrantState.CLOSED}
    assert all(g.granted == g.consumed + g.released and g.closed_at is not None for g in grants)
    assert releases == 24  # each grant: its GRANT entry and its GRANT_RELEASE entry
    for f in partners:  # nothing was consumed (no CDR): every cent is back in available
        b = await f.balances()
        assert b[AccountType.PREPAID_AVAILABLE] == Decimal("5.0000") and b[AccountType.PREPAID_RESERVED] == 0
    await assert_ledger_clean()
