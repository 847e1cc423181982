"""The CDR writer's set-wise PostgreSQL path (charging/cdr_pg.py, ledger/setwise.py) against its
SQLAlchemy path, and the revenue shards with their roll-up (ledger/revenue.py) — R-CHARGE-02,
R-BILL-10."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from openability.charging import cdr_pg, cdr_writer
from openability.charging.cdr_writer import CdrWriter
from openability.charging.grants import GrantManager
from openability.charging.models import Grant, Message, UsageDaily, UsageRecord
from openability.charging.types import CdrMessage, CdrRecord
from openability.kernel.clock import business_date, month_key
from openability.kernel.db import json_dumps
from openability.kernel.errors import InsufficientBalance
from openability.kernel.ids import new_id
from openability.ledger import revenue
from openability.ledger.jobs import roll_up
from openability.ledger.models import Account, JournalEntry, JournalLine
from openability.ledger.types import PLATFORM, REVENUE_SHARD_PREFIX, REVENUE_SHARDS, AccountType, EntryKind

PRICE = Decimal("0.0450")


def records(f: Any, grant_id: str | None, tag: str, n: int, now: Any) -> list[CdrRecord]:
    """n CDRs of one partner: most on its grant, one charged from available (no grant), 1–2 messages."""
    out = []
    for i in range(n):
        msgs = [CdrMessage(new_id("msg"), f"+86138000000{j}", 1 + j, [f"N{i}-{j}"]) for j in range(1 + i % 2)]
        out.append(
            CdrRecord(
                id=new_id("cdr"),
                partner_id=f.partner_id,
                product_id=f.product_id,
                capability="sms",
                operation="sendMessage",
                client_id="cli_x",
                request_key=f"{tag}-{i}",
                request_hash="h" * 64,
                quantity=len(msgs),
                unit="segment",
                amount=PRICE * len(msgs),
                billing_mode="prepaid",
                price_plan_id=f.plan_id,
                band="list",
                scope="national",
                month=month_key(now),
                grant_id=None if i == n - 1 else grant_id,
                occurred_at=now + timedelta(seconds=i),
                day=business_date(now),
                recipients=[m.recipient for m in msgs],
                response={"i": i, "text": "你好"},
                messages=msgs,
            )
        )
    return out


async def write_all(writer: CdrWriter, recs: list[CdrRecord]) -> None:
    await writer.start()
    try:
        await asyncio.gather(*(writer.write(r) for r in recs))
    finally:
        await writer.stop()


async def snapshot(container: Any, f: Any) -> dict[str, Any]:
    """What one partner's CDRs wrote, without ids and keys (which differ between two partners)."""
    async with container.uow() as uow:
        s = uow.session
        usage = sorted(
            (
                u.capability,
                u.operation,
                u.quantity,
                u.amount,
                u.billing_mode,
                u.band,
                u.scope,
                u.month,
                u.grant_id is not None,
                u.occurred_at,
                u.recipients,
                u.response,
                u.request_hash,
            )
            for u in (
                await s.scalars(select(UsageRecord).where(UsageRecord.partner_id == f.partner_id))
            ).all()
        )
        messages = sorted(
            (m.capability, m.recipient, m.parts, m.network_ids, m.created_at)
            for m in (await s.scalars(select(Message).where(Message.partner_id == f.partner_id))).all()
        )
        rollups = sorted(
            (d.day, d.band, d.scope, d.month, d.calls, d.quantity, d.amount)
            for d in (await s.scalars(select(UsageDaily).where(UsageDaily.partner_id == f.partner_id))).all()
        )
        entry_ids = set(
            (
                await s.scalars(
                    select(UsageRecord.journal_entry_id).where(UsageRecord.partner_id == f.partner_id)
                )
            ).all()
        )
        lines = (
            await s.execute(
                select(Account.owner_id, Account.type, JournalLine.amount, JournalEntry.kind)
                .join(JournalLine, JournalLine.account_id == Account.id)
                .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                .where(JournalLine.entry_id.in_(entry_ids))
            )
        ).all()
        consumed = (await s.scalars(select(Grant.consumed).where(Grant.partner_id == f.partner_id))).all()
    journal = sorted(
        (
            "platform" if o == PLATFORM or o.startswith(REVENUE_SHARD_PREFIX) else "partner",
            t.value,
            a,
            k.value,
        )
        for o, t, a, k in lines
    )
    return {
        "usage": usage,
        "messages": messages,
        "rollups": rollups,
        "journal": journal,
        "entries": len(entry_ids),
        "consumed": sorted(consumed),
        "balances": await f.balances(),
    }


async def both_paths(
    container: Any,
    build: Any,
    n: int,
    funds: Decimal,
    change: Callable[[list[CdrRecord]], None] = lambda _recs: None,
) -> list[dict[str, Any]]:
    """The same n CDRs for two partners, one batch each: the first by the SQLAlchemy path (which runs
    on PostgreSQL too), the second set-wise; what each wrote (`snapshot`)."""
    a, b = await build(container, funds), await build(container, funds)
    now = container.clock.now()
    gm = GrantManager(container, "w-test")
    for f, setwise in ((a, False), (b, True)):
        res = await gm.reserve(f.partner_id, PRICE * 2 * n)
        writer = CdrWriter(container)
        writer._postgres = setwise
        recs = records(f, res.grant_id, "k", n, now)
        change(recs)
        await write_all(writer, recs)
        assert writer.batches == 1
        gm.done(res)
    await gm.release_idle(all_grants=True)
    return [await snapshot(container, f) for f in (a, b)]


@pytest.fixture
def backend() -> str:
    return "postgresql"  # the set-wise path is PostgreSQL's


@pytest.mark.postgres_only
async def test_r_charge_02_setwise_batch_writes_what_the_sqlalchemy_path_writes(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    """Same CDRs for two partners, one written by the SQLAlchemy path and one by asyncpg: the same
    CDR, message, rollup, journal, grant and balance rows (ids and keys aside)."""
    snaps = await both_paths(container, build, 7, Decimal("10.0000"))
    assert snaps[0] == snaps[1]
    assert len(snaps[1]["usage"]) == 7 and len(snaps[1]["messages"]) == 10 and snaps[1]["entries"] == 1
    assert snaps[1]["balances"][AccountType.PREPAID_AVAILABLE] == Decimal("10.0000") - PRICE * 10
    await assert_ledger_clean()


@pytest.mark.postgres_only
async def test_r_charge_02_a_failing_setwise_batch_leaves_nothing(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    """A duplicate key, or prepaid:available taken below zero: the batch's one statement fails whole —
    no CDR, message, rollup, entry, grant consumption or balance move of it remains."""
    f = await build(container, Decimal("1.0000"))
    now = container.clock.now()
    gm = GrantManager(container, "w-test")
    res = await gm.reserve(f.partner_id, Decimal("0.5000"))
    writer = CdrWriter(container)
    await write_all(writer, records(f, res.grant_id, "first", 2, now))
    before = await snapshot(container, f)

    dup = records(f, res.grant_id, "second", 4, now)
    dup[2].request_key = "first-0"  # stored by the first batch
    with pytest.raises(Exception, match=r"duplicate key|unique"):
        await writer._write_pg(dup, set())
    broke = records(f, res.grant_id, "third", 3, now)
    broke[-1].amount = Decimal("50.0000")  # from available (no grant): more than the partner has
    with pytest.raises(InsufficientBalance):
        await writer._write_pg(broke, set())
    assert await snapshot(container, f) == before
    async with container.uow() as uow:
        n = await uow.session.scalar(select(func.count()).select_from(UsageRecord))
        assert n == 2
    gm.done(res)
    await gm.release_idle(all_grants=True)
    await assert_ledger_clean()


@pytest.mark.postgres_only
async def test_r_bill_10_revenue_shards_never_wait_and_roll_up_to_the_sum(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    """While another transaction holds the platform's revenue account and all shards but one, a batch
    still commits at once (on the free shard); the roll-up then moves every shard into the revenue
    account: platform revenue before == after == the CDRs' total, in balanced entries."""
    f = await build(container, Decimal("10.0000"))
    now = container.clock.now()
    writer = CdrWriter(container)
    await write_all(writer, records(f, None, "warm", 1, now))  # creates the shards
    async with container.uow() as uow:
        shards = (
            await uow.session.scalars(
                select(Account.id)
                .where(Account.owner_id.startswith(REVENUE_SHARD_PREFIX))
                .order_by(Account.id)
            )
        ).all()
    assert len(shards) >= 2
    async with container.engine.connect() as holder:
        await holder.execute(
            text(
                "SELECT id FROM accounts WHERE id = ANY(:ids) OR (owner_id = :p AND type = 'revenue') FOR UPDATE"
            ),
            {"ids": list(shards[1:]), "p": PLATFORM},
        )
        await asyncio.wait_for(write_all(writer, records(f, None, "busy", 3, now)), timeout=20)
        await holder.rollback()
    async with container.uow() as uow:
        total = sum((await uow.session.scalars(select(UsageRecord.amount))).all(), Decimal(0))
        shard_rows = (
            await uow.session.execute(
                select(Account.id, Account.balance).where(Account.owner_id.startswith(REVENUE_SHARD_PREFIX))
            )
        ).all()
        before = await revenue.revenue_balance(uow.session)
    # the busy batch credited the one free shard
    assert dict(shard_rows)[shards[0]] > 0
    assert before == total
    await assert_ledger_clean()
    await roll_up(container)
    async with container.uow() as uow:
        after = await revenue.revenue_balance(uow.session)
        main = await uow.session.scalar(
            select(Account.balance).where(Account.owner_id == PLATFORM, Account.type == AccountType.REVENUE)
        )
        left = await uow.session.scalar(
            select(func.count()).where(
                Account.owner_id.startswith(REVENUE_SHARD_PREFIX), Account.balance != Decimal(0)
            )
        )
        rollups = await uow.session.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.kind == EntryKind.REVENUE_ROLLUP)
        )
    assert after == before == main and left == 0 and rollups == 1
    await assert_ledger_clean()


@pytest.mark.postgres_only
async def test_r_bill_10_the_batch_credits_a_shard_it_names_by_id(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    """The writer learns the revenue shards' account ids once (ensure_revenue_shards) and its batch
    statement takes one of them by primary key — no scan of every account for the owner prefix, whose
    cost grew with the number of partners — so each CHARGE entry's revenue line is on a shard."""
    f = await build(container, Decimal("10.0000"))
    now = container.clock.now()
    writer = CdrWriter(container)
    await write_all(writer, records(f, None, "a", 3, now))
    await write_all(writer, records(f, None, "b", 2, now))
    async with container.uow() as uow:
        shards = (
            await uow.session.scalars(
                select(Account.id)
                .where(Account.owner_id.startswith(REVENUE_SHARD_PREFIX), Account.type == AccountType.REVENUE)
                .order_by(Account.id)
            )
        ).all()
        credited = (
            await uow.session.scalars(
                select(JournalLine.account_id)
                .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                .where(JournalEntry.kind == EntryKind.CHARGE, JournalLine.amount < Decimal(0))
            )
        ).all()
    assert writer._shards == list(shards) and len(shards) == REVENUE_SHARDS
    assert "LIKE" not in cdr_pg.SQL and len(credited) == 2 and set(credited) <= set(shards)
    await assert_ledger_clean()


@pytest.mark.postgres_only
async def test_r_charge_02_one_statement_stores_each_json_column_as_json_dumps_makes_it(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    """The one statement sends each JSON column as one JSON array (json_array_elements): every row
    still stores the text kernel.db.json_dumps makes of its own value — key order, Chinese text and
    nesting as the SQLAlchemy path and COPY store them — and no row takes another row's value."""
    f = await build(container, Decimal("10.0000"))
    now = container.clock.now()
    recs = records(f, None, "json", 5, now)
    for i, r in enumerate(recs):
        r.response = {"z": i, "a": [{"说明": "你好", "n": None}], "k": {"2": True, "1": "x" * i}}
    writer = CdrWriter(container)
    await write_all(writer, recs)
    assert writer.batches == 1 and len(recs) < cdr_pg.COPY_MIN_RECORDS
    async with container.engine.connect() as conn:
        usage = dict(
            (
                await conn.execute(text("SELECT id, response::text || recipients::text FROM usage_records"))
            ).all()
        )
        messages = dict((await conn.execute(text("SELECT id, network_ids::text FROM messages"))).all())
    assert usage == {r.id: json_dumps(r.response) + json_dumps(r.recipients) for r in recs}
    assert messages == {m.id: json_dumps(m.network_ids) for r in recs for m in r.messages}
    await assert_ledger_clean()


@pytest.mark.postgres_only
async def test_r_charge_02_copy_batch_writes_what_the_sqlalchemy_path_writes(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    """A batch of COPY_MIN_RECORDS or more goes by COPY (the entry row, COPY of the CDR and message
    rows, then the statement for the rest): the same rows as the SQLAlchemy path writes."""
    n = cdr_pg.COPY_MIN_RECORDS + 5

    def big(recs: list[CdrRecord]) -> None:
        recs[3].response = {"big": 2**70}  # beyond orjson: the JSON column's standard-library fallback

    snaps = await both_paths(container, build, n, Decimal("20.0000"), big)
    assert snaps[0] == snaps[1]
    assert len(snaps[1]["usage"]) == n and snaps[1]["entries"] == 1
    assert {"big": 2**70} in [u[11] for u in snaps[1]["usage"]]
    await assert_ledger_clean()


async def test_the_writers_account_ids_stay_bounded_and_a_forgotten_partner_is_charged_right(
    container: Any, build: Any, assert_ledger_clean: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cdr_writer, "ACCOUNT_IDS_MAX", 1)  # past it at once: every new partner trims
    a, b = await build(container, Decimal("10.0000")), await build(container, Decimal("10.0000"))
    writer = CdrWriter(container)
    now = container.clock.now()

    def owners() -> set[str]:
        return {k[0] for k in writer._accounts} - {PLATFORM}

    await write_all(writer, records(a, None, "a1", 2, now))  # charged from available (no grant)
    assert owners() == {a.partner_id}
    await write_all(writer, records(b, None, "b1", 2, now))
    assert owners() == {b.partner_id}  # a's ids forgotten when b's were read
    await write_all(writer, records(a, None, "a2", 3, now))  # a's read again
    assert owners() == {a.partner_id}
    # records(): 1 segment for an even CDR, 2 for an odd one: a 3 + 4, b 3
    for f, segments in ((a, 7), (b, 3)):
        bal = await f.balances()
        assert bal[AccountType.PREPAID_AVAILABLE] == Decimal("10.0000") - PRICE * segments
    await assert_ledger_clean()
