"""The CDR writer: group-commits CDRs (usage records), their messages, the daily and monthly rollups, one CHARGE
journal entry per batch and the grant consumption, all in ONE transaction (DESIGN.md hot path, step 4).

Callers hand typed records (charging/types.py: `CdrRecord` with its `CdrMessage`s); the writer alone
turns them into its insert rows. Callers await their record's future: a call is answered only once its CDR is durable, so an answered
call always has exactly one CDR (R-CHARGE-02). A batch that fails (e.g. another worker stored the same
idempotency key first) is retried record by record so one bad record does not fail the others. A CDR
of a claimed key (charging/claims.py) marks its claim answered in the same transaction.

Two paths write the same rows: on PostgreSQL the batch goes set-wise through the raw asyncpg
connection (charging/cdr_pg.py: one statement, one round trip, or COPY for large batches; the revenue
credit on a revenue shard no other worker holds, ledger/setwise.py); on SQLite (one writer at a time
anyway) through SQLAlchemy Core below. On PostgreSQL a second COPY-sized batch is sent while one
commits when a full batch is queued behind it (PG_PIPELINE below); each caller's future still resolves
only after its own batch committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
from prometheus_client import Histogram
from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from openability.charging import cdr_pg
from openability.charging.cdr_batch import MONTHLY_KEY, ROLLUP_KEY, BatchTotals, batch_totals
from openability.charging.claims import ANSWER_CLAIM
from openability.charging.models import Grant, Message, UsageDaily, UsageMonthly, UsageRecord
from openability.charging.types import CdrRecord, GrantState
from openability.kernel.batching import Waker
from openability.kernel.db import Money
from openability.kernel.errors import InsufficientBalance
from openability.kernel.ids import new_id
from openability.kernel.outage import log_failure
from openability.ledger import service as ledger
from openability.ledger.revenue import ensure_revenue_shards
from openability.ledger.setwise import NEGATIVE_MARK, failure_mark
from openability.ledger.types import PLATFORM, AccountKey, AccountRef, AccountType, EntryKind

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

ZERO = Decimal(0)

CDR_BATCH_SIZE = Histogram(
    "openability_cdr_batch_size",
    "CDRs committed per group-commit transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 1000),
)
CDR_BATCH_SECONDS = Histogram("openability_cdr_batch_seconds", "Duration of one CDR group commit")


class DuplicateRequest(Exception):
    """Another worker already stored a CDR with this idempotency key: answer with its stored answer."""

    def __init__(self, response: dict[str, Any], request_hash: str) -> None:
        super().__init__("duplicate request")
        self.response = response
        self.request_hash = request_hash


class CdrFailed(Exception):
    """The CDR could not be made durable: the call must not be answered as charged."""


class _Duplicate(Exception):
    """PostgreSQL path: a constraint refused the batch (e.g. a request key another worker stored)."""


class _GrantClosed(Exception):
    def __init__(self, grant_id: str) -> None:
        super().__init__(grant_id)
        self.grant_id = grant_id


# How many batches the PostgreSQL path commits at once, each on its own connection, when its batches
# take the COPY path (batch_max >= cdr_pg.COPY_MIN_RECORDS). A second batch is started only when a full
# one is queued behind the one committing (a backlog): its rows are sent and COPYed while the first
# commits (the first's WAL flush and the next batch's Python work overlap), and it waits for the first's
# account and grant rows, which both take in the same order (no deadlock). Without a backlog the writer
# commits one batch at a time, so batches grow with the load as before.
PG_PIPELINE = 2
# The account ids the writer keeps (about 4 per partner met); past this bound it
# forgets the partners' ones and reads again what a batch needs (stop 20: a worker that met 8,774
# partners held 34,860).
ACCOUNT_IDS_MAX = 100_000


def _succeed(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _fail(fut: asyncio.Future[None], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()  # retrieved: a caller that went away must not log "never retrieved"


class CdrWriter:
    """The group commit: `write` appends (record, future) to a deque; one task takes batches of up to
    `batch_max` (waiting at most `wait` after the first record for more) and commits them. No queue
    entry object, no timestamp per record, no task per wait: the task sleeps on one future that
    `write` wakes only when it must (the writer idle and a record came, or a batch became full)."""

    def __init__(self, container: Platform) -> None:
        self.container = container
        self._batch_max = max(1, container.settings.cdr_batch_max)
        self._wait = max(0.0, container.settings.cdr_batch_wait_ms / 1000)
        self._queue: deque[tuple[CdrRecord, asyncio.Future[None]]] = deque()
        self._waker = Waker()  # write() wakes the task only when it must (kernel/batching.py)
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        # by (owner, type, slot): a partner's prepaid:reserved slots each (ledger/types.py RESERVED_SLOTS)
        self._accounts: dict[AccountKey, AccountRef] = {}  # at most about ACCOUNT_IDS_MAX
        self._postgres = container.dialect == "postgresql"
        self._setup = asyncio.Lock()
        self._shards: list[str] = []  # the revenue shards' account ids (ledger/revenue.py), once known
        self._shards_ready = False
        self.batches = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._stopping

    @property
    def batch_max(self) -> int:
        return self._batch_max

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="cdr-writer")

    async def stop(self) -> None:
        """Flush everything queued, then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._waker.wake()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def write(self, record: CdrRecord) -> asyncio.Future[None]:
        """Queue one CDR (with its messages); the future resolves once it is durable, or fails with
        DuplicateRequest or CdrFailed. A plain future, not a coroutine: awaiting it costs the caller no
        coroutine frame, and a burst handed to `asyncio.gather` no task per CDR."""
        loop = self._loop
        if loop is None or not self.running:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            fut.set_exception(CdrFailed("the CDR writer is not running"))
            return fut
        # Not shielded (a shield costs a second future and two callbacks per call): a cancelled caller
        # cancels only its own future; the record stays queued and commits with its batch all the same
        # (the writer never skips a record because its future is done).
        fut = loop.create_future()
        q = self._queue
        q.append((record, fut))
        self._waker.queued(len(q))
        return fut

    async def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        q, batch_max = self._queue, self._batch_max
        # SQLite: one writer at a time anyway. PostgreSQL: only batches that take the COPY path (their
        # rows are sent and inserted before any lock is taken); two one-statement batches of ~30 on the
        # same accounts cost more CPU than they overlap (docs/benchmarks.md "CDR writer").
        depth = PG_PIPELINE if self._postgres and batch_max >= cdr_pg.COPY_MIN_RECORDS else 1
        inflight: set[asyncio.Task[None]] = set()
        waited = False  # the records queued now have waited for the batch that committed before them
        try:
            while True:
                if not q:
                    if self._stopping:
                        break
                    await self._waker.sleep(loop, 1, None)
                    waited = False
                    continue
                if len(q) < batch_max and self._wait and not waited and not self._stopping:
                    # Wait at most `wait` after the first record for more (a full batch ends it).
                    await self._waker.sleep(loop, batch_max, self._wait)
                n = min(len(q), batch_max)
                taken = [q.popleft() for _ in range(n)]
                if depth == 1:  # one at a time: inline, no task per batch
                    await self._commit([r for r, _ in taken], [f for _, f in taken])
                    waited = True
                    continue
                task = loop.create_task(self._commit([r for r, _ in taken], [f for _, f in taken]))
                inflight.add(task)
                # A second batch goes at once only when a full one is queued (a backlog); otherwise
                # the records arriving meanwhile wait for this commit and form the next batch.
                while inflight and (len(inflight) >= depth or len(q) < batch_max):
                    done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                    inflight -= done
                waited = True
        finally:
            if inflight:
                await asyncio.wait(inflight)
            err = CdrFailed("the CDR writer stopped")
            while q:  # only when cancelled: stop() commits everything queued
                _fail(q.popleft()[1], err)

    # ---- the group commit -----------------------------------------------------------------------

    async def _commit(self, batch: list[CdrRecord], futures: list[asyncio.Future[None]]) -> None:
        try:
            await self._commit_batch(batch, futures)
        except Exception as exc:  # never let the writer die: fail the batch's open callers instead
            log_failure(log, exc, "cdr-writer: a batch of %d failed", len(batch))
            failed = CdrFailed("CDR could not be recorded")
            for fut in futures:
                _fail(fut, failed)

    async def _commit_batch(self, batch: list[CdrRecord], futures: list[asyncio.Future[None]]) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            await self._write_with_closed_grants(batch)
        except Exception as exc:
            if len(batch) == 1:
                await self._fail_one(batch[0], futures[0], exc)
            else:
                log.warning("CDR batch of %d failed (%s); retrying record by record", len(batch), exc)
                for record, fut in zip(batch, futures, strict=True):
                    try:
                        await self._write_with_closed_grants([record])
                    except Exception as one_exc:
                        await self._fail_one(record, fut, one_exc)
                    else:
                        _succeed(fut)
            return
        finally:
            CDR_BATCH_SECONDS.observe(loop.time() - t0)
        CDR_BATCH_SIZE.observe(len(batch))
        self.batches += 1
        for fut in futures:
            _succeed(fut)

    async def _fail_one(self, record: CdrRecord, fut: asyncio.Future[None], exc: Exception) -> None:
        if isinstance(exc, IntegrityError | _Duplicate):
            stored = await self._stored(record.partner_id, record.request_key)
            if stored is not None:
                _fail(fut, DuplicateRequest(*stored))
                return
        log.error("CDR %s not recorded: %s", record.id, exc)
        _fail(fut, CdrFailed("CDR could not be recorded"))

    async def _stored(self, partner_id: str, key: str) -> tuple[dict[str, Any], str] | None:
        async with self.container.uow() as uow:
            row = (
                await uow.session.execute(
                    select(UsageRecord.response, UsageRecord.request_hash).where(
                        UsageRecord.partner_id == partner_id, UsageRecord.request_key == key
                    )
                )
            ).first()
        return (dict(row[0]), str(row[1])) if row is not None else None

    async def _write_with_closed_grants(self, batch: list[CdrRecord]) -> None:
        closed: set[str] = set()
        while True:
            try:
                await self._write(batch, closed)
                return
            except _GrantClosed as gc:
                # Only when a worker stalled past expiry + grace: charge available instead.
                log.error("grant %s was reaped with calls in flight; charging available", gc.grant_id)
                closed.add(gc.grant_id)

    async def _account_ids(self, session: AsyncSession, owners: set[str]) -> None:
        def missing() -> set[str]:
            return {
                o
                for o in owners
                if (o, AccountType.REVENUE if o == PLATFORM else AccountType.PREPAID_RESERVED, 0)
                not in self._accounts
            }

        wanted = missing()
        if not wanted:
            return
        if len(self._accounts) >= ACCOUNT_IDS_MAX:
            # Bounded: a worker that has met very many partners forgets the account ids of all of them
            # but the platform's, and reads again the ones this batch needs. Only here, before the
            # batch's own ids are read: on PostgreSQL under the setup lock, so no batch is between
            # its check and its use of the ids.
            self._accounts = {k: v for k, v in self._accounts.items() if k[0] == PLATFORM}
            wanted = missing()
        refs = await ledger.account_refs(session, wanted)
        self._accounts.update({(o, t, 0): ref for (o, t), ref in refs.items()})

    async def _slot_account_ids(self, session: AsyncSession, records: list[CdrRecord]) -> None:
        """The reserved slot accounts the records' grants use, when one is not known yet (a slot
        created since: a grant's slot account exists before its grant)."""
        missing = {
            r.partner_id
            for r in records
            if r.grant_id is not None
            and (r.partner_id, AccountType.PREPAID_RESERVED, r.slot) not in self._accounts
        }
        if missing:
            refs = await ledger.reserved_refs(session, missing)
            self._accounts.update({(o, ref.type, slot): ref for (o, slot), ref in refs.items()})

    def _account(self, owner: str, type_: AccountType, slot: int = 0) -> AccountRef:
        # ledger.post only needs the id and type (it increments the balance in the database).
        return self._accounts[(owner, type_, slot)]

    async def _write(self, records: list[CdrRecord], closed: set[str]) -> None:
        if self._postgres:
            await self._write_pg(records, closed)
            return
        async with self.container.uow() as uow:
            s, now = uow.session, uow.now
            await self._account_ids(s, {PLATFORM} | {r.partner_id for r in records})
            await self._slot_account_ids(s, records)
            t = batch_totals(records, closed)
            rows = [_usage_row(r, g) for r, g in zip(records, t.grant_ids, strict=True)]
            messages = [
                {
                    "id": m.id,
                    "usage_record_id": r.id,
                    "partner_id": r.partner_id,
                    "capability": r.capability,
                    "recipient": m.recipient,
                    "parts": m.parts,
                    "network_ids": m.network_ids,
                    "created_at": r.occurred_at,
                }
                for r in records
                for m in r.messages
            ]
            claims = [{"p": r.partner_id, "k": r.request_key, "rid": r.id, "now": now} for r in t.claimed]
            total = t.total
            legs = [ledger.debit(self._accounts[k], amt) for k, amt in t.debits.items() if amt]
            if total:
                legs.append(ledger.credit(self._account(PLATFORM, AccountType.REVENUE), total))
            # Contested rows are touched in a fixed order (account id) so batches never deadlock.
            legs.sort(key=lambda leg: leg.account.id)
            batch_id = new_id("cb")
            # No autoflush: the entry's lines are inserted together by ledger.post's own final flush
            # instead of one at a time before each balance update (same rows, fewer round trips).
            with s.no_autoflush:
                entry = await ledger.post(
                    s,
                    kind=EntryKind.CHARGE,
                    legs=legs or [ledger.debit(self._account(PLATFORM, AccountType.REVENUE), ZERO)],
                    now=now,
                    ref=("cdr_batch", batch_id),
                    memo=f"{len(rows)} CDR(s)",
                )
            for row in rows:
                row["journal_entry_id"] = entry.id
            # The rest is Core on the session's connection (same transaction): no ORM bulk-insert
            # machinery, statements built once, one executemany per table.
            conn = await s.connection()
            await conn.execute(_INSERT_USAGE, rows)
            if messages:
                await conn.execute(_INSERT_MESSAGES, messages)
            if claims:  # the keys' claims are answered in the CDRs' own transaction
                await conn.execute(ANSWER_CLAIM, claims)
            await self._upsert_rollups(conn, t)
            consumed = t.consumed
            gids = sorted(consumed)
            if len(gids) == 1:
                res = await conn.execute(_CONSUME_GRANT, {"gid": gids[0], "x": consumed[gids[0]]})
                if res.rowcount != 1:
                    raise _GrantClosed(gids[0])
            elif gids:  # one executemany (id order), then which of them was closed, if any
                await conn.execute(_CONSUME_GRANT, [{"gid": g, "x": consumed[g]} for g in gids])
                closed_gid = (await conn.execute(_CLOSED_AMONG, {"gids": gids})).scalar()
                if closed_gid is not None:
                    raise _GrantClosed(closed_gid)

    async def _write_pg(self, records: list[CdrRecord], closed: set[str]) -> None:
        """PostgreSQL, on the raw asyncpg connection (charging/cdr_pg.py): a batch of fewer than
        COPY_MIN_RECORDS in one statement, one round trip; a larger one as the entry row, COPY of the
        CDR and message rows and one statement for the rest, in one transaction."""
        owners = {r.partner_id for r in records}
        if (
            not self._shards_ready
            or any((o, AccountType.PREPAID_RESERVED, 0) not in self._accounts for o in owners)
            or any(
                (r.partner_id, AccountType.PREPAID_RESERVED, r.slot) not in self._accounts
                for r in records
                if r.slot
            )
        ):
            async with self._setup, self.container.uow() as uow:  # one at a time: two batches in flight
                if not self._shards_ready:
                    self._shards = await ensure_revenue_shards(uow.session, uow.now)
                    self._shards_ready = True
                await self._account_ids(uow.session, {PLATFORM} | owners)
                await self._slot_account_ids(uow.session, records)
        now = self.container.clock.now()
        pg = cdr_pg.batch_args(
            records,
            closed,
            self._accounts,
            entry_id=new_id("je"),
            ref_id=new_id("cb"),
            now=now,
            revenue_fallback=self._account(PLATFORM, AccountType.REVENUE).id,
            revenue_shards=self._shards,
        )
        async with self.container.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            apg: Any = raw.driver_connection
            try:
                if pg.copy:
                    async with apg.transaction():
                        await apg.execute(cdr_pg.SQL_ENTRY, *pg.entry_args())
                        await apg.copy_records_to_table(
                            "usage_records", records=pg.usage_rows, columns=cdr_pg.USAGE_COLUMNS
                        )
                        await apg.copy_records_to_table(
                            "messages", records=pg.message_rows, columns=cdr_pg.MESSAGE_COLUMNS
                        )
                        await apg.fetchrow(cdr_pg.SQL_AFTER_COPY, *pg.args())
                else:  # one statement: its own transaction
                    await apg.fetchrow(cdr_pg.SQL, *pg.args())
            except asyncpg.PostgresError as exc:
                mark = failure_mark(str(exc))
                if mark is not None and mark[0] == cdr_pg.GRANT_CLOSED_MARK:
                    raise _GrantClosed(mark[1]) from exc
                if mark is not None and mark[0] == NEGATIVE_MARK:
                    raise InsufficientBalance("the prepaid balance cannot cover this amount") from exc
                if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
                    raise _Duplicate(str(exc)) from exc
                raise
            finally:
                if apg.is_closed():  # never hand a dead connection back to the pool
                    await conn.invalidate()

    async def _upsert_rollups(self, conn: AsyncConnection, t: BatchTotals) -> None:
        values = [
            {
                "partner_id": pid,
                "product_id": prod,
                "day": day,
                "price_plan_id": plan,
                "band": band,
                "scope": scope,
                "slot": slot,
                "month": agg.month,
                "calls": agg.calls,
                "quantity": agg.quantity,
                "amount": agg.amount,
            }
            for (pid, prod, day, plan, band, scope, slot), agg in t.sorted_rollups()
        ]
        if values:  # few rows per batch (partners x products), one executemany
            await conn.execute(_rollup_upsert(conn.dialect.name), values)
        monthly = [
            {
                "partner_id": pid,
                "product_id": prod,
                "month": month,
                "price_plan_id": plan,
                "band": band,
                "scope": scope,
                "slot": slot,
                "first_day": agg.first_day,
                "calls": agg.calls,
                "quantity": agg.quantity,
                "amount": agg.amount,
            }
            for (pid, prod, month, plan, band, scope, slot), agg in t.monthly_rollups()
        ]
        if monthly:  # the monthly rollups, in the same transaction (R-CHARGE-06)
            await conn.execute(_monthly_upsert(conn.dialect.name), monthly)


def _usage_row(r: CdrRecord, grant_id: str | None) -> dict[str, Any]:
    """The usage_records row of a CDR (journal_entry_id is set once the batch's entry is posted)."""
    return {
        "id": r.id,
        "partner_id": r.partner_id,
        "product_id": r.product_id,
        "capability": r.capability,
        "operation": r.operation,
        "client_id": r.client_id,
        "request_key": r.request_key,
        "request_hash": r.request_hash,
        "quantity": r.quantity,
        "unit": r.unit,
        "amount": r.amount,
        "billing_mode": r.billing_mode,
        "price_plan_id": r.price_plan_id,
        "band": r.band,
        "scope": r.scope,
        "month": r.month,
        "grant_id": grant_id,
        "journal_entry_id": None,
        "occurred_at": r.occurred_at,
        "recipients": r.recipients,
        "response": r.response,
    }


_USAGE: Table = UsageRecord.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_GRANTS: Table = Grant.__table__  # type: ignore[assignment]
_DAILY: Table = UsageDaily.__table__  # type: ignore[assignment]
_MONTHLY: Table = UsageMonthly.__table__  # type: ignore[assignment]

_INSERT_USAGE = _USAGE.insert()
_INSERT_MESSAGES = _MESSAGES.insert()
_CONSUME_GRANT = (
    update(_GRANTS)
    .where(_GRANTS.c.id == bindparam("gid"), _GRANTS.c.state == GrantState.ACTIVE)
    .values(consumed=_GRANTS.c.consumed + bindparam("x", type_=Money()))
)
_CLOSED_AMONG = (
    select(_GRANTS.c.id)
    .where(_GRANTS.c.id.in_(bindparam("gids", expanding=True)), _GRANTS.c.state != GrantState.ACTIVE)
    .limit(1)
)


@functools.cache
def _rollup_upsert(dialect: str) -> Any:
    ins = pg_insert(_DAILY) if dialect == "postgresql" else sqlite_insert(_DAILY)
    return ins.on_conflict_do_update(
        index_elements=list(ROLLUP_KEY),
        set_={
            "calls": _DAILY.c.calls + ins.excluded.calls,
            "quantity": _DAILY.c.quantity + ins.excluded.quantity,
            "amount": _DAILY.c.amount + ins.excluded.amount,
        },
    )


@functools.cache
def _monthly_upsert(dialect: str) -> Any:
    ins = pg_insert(_MONTHLY) if dialect == "postgresql" else sqlite_insert(_MONTHLY)
    return ins.on_conflict_do_update(
        index_elements=list(MONTHLY_KEY),
        set_={
            "first_day": case(
                (ins.excluded.first_day < _MONTHLY.c.first_day, ins.excluded.first_day),
                else_=_MONTHLY.c.first_day,
            ),
            "calls": _MONTHLY.c.calls + ins.excluded.calls,
            "quantity": _MONTHLY.c.quantity + ins.excluded.quantity,
            "amount": _MONTHLY.c.amount + ins.excluded.amount,
        },
    )
