"""CDR writer throughput: records/s group-committed through charging's CdrWriter (CDR + message rows,
the daily rollup upsert, one CHARGE journal entry and the grant consumption per batch) vs. a raw bulk
insert of the same CDR and message rows (asyncpg COPY on PostgreSQL, executemany on SQLite), committed
in batches of the same size. The baseline's rows are converted to what the driver takes before its
timer starts; the writer's records are built before its timer too (the typed records a gateway hands
over), so the writer's time includes its own row building, as in production."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import JSON, Date, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.world import audit, container_for, seed_account
from openability.app import tune_gc
from openability.charging.cdr_writer import CdrWriter
from openability.charging.grants import GrantManager
from openability.charging.models import Message, UsageRecord
from openability.charging.types import CdrMessage, CdrRecord
from openability.kernel.clock import business_date, month_key
from openability.kernel.db import Money, UTCDateTime
from openability.kernel.ids import new_id
from openability.kernel.money import to_units
from openability.ledger.models import JournalEntry
from openability.ledger.types import EntryKind

PRICE = Decimal("0.0500")


@dataclass
class CdrResult:
    backend: str
    records: int
    writer_seconds: float
    raw_seconds: float
    batches: int
    batch_max: int
    audit: list[str]
    # CPU seconds of each timed side (steadier than wall time on a shared machine): this process
    # (the writer's Python, or the COPY's driver work) and the PostgreSQL backends serving the bench
    # database (from /proc when PostgreSQL runs on this host; None otherwise, and on SQLite).
    writer_cpu: float = 0.0
    raw_cpu: float = 0.0
    writer_pg_cpu: float | None = None
    raw_pg_cpu: float | None = None

    @property
    def writer_rps(self) -> float:
        return self.records / self.writer_seconds

    @property
    def raw_rps(self) -> float:
        return self.records / self.raw_seconds


def _cdr(
    i: int, partner_id: str, product_id: str, plan_id: str, grant_id: str | None, at: datetime, tag: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One SMS call's CDR and message row, as the gateway hands them to the writer."""
    rid, mid = new_id("cdr"), new_id("msg")
    to = f"+86138{i % 100_000_000:08d}"
    response = {
        "requestId": f"{tag}-{i}",
        "messages": [{"messageId": mid, "to": to, "status": "submitted"}],
        "segments": 1,
        "encoding": "GSM7",
        "quantity": 1,
        "unit": "segment",
        "amountCharged": "0.0500",
        "currency": "CNY",
    }
    record = {
        "id": rid,
        "partner_id": partner_id,
        "product_id": product_id,
        "capability": "sms",
        "operation": "sendMessage",
        "client_id": "cli_bench",
        "request_key": f"{tag}-{i}",
        "request_hash": "0" * 64,
        "quantity": 1,
        "unit": "segment",
        "amount": PRICE,
        "billing_mode": "prepaid",
        "price_plan_id": plan_id,
        "band": "list",
        "scope": "national",
        "month": month_key(at),
        "grant_id": grant_id,
        "occurred_at": at,
        "recipients": [to],
        "response": response,
    }
    message = {
        "id": mid,
        "usage_record_id": rid,
        "partner_id": partner_id,
        "capability": "sms",
        "recipient": to,
        "parts": 1,
        "network_ids": [f"N{i}"],
        "created_at": at,
    }
    return record, message


def _typed(record: dict[str, Any], message: dict[str, Any], day: date) -> CdrRecord:
    """The same CDR as the typed record the charging engine hands to the writer."""
    fields = {k: v for k, v in record.items() if k != "journal_entry_id"}
    msg = CdrMessage(message["id"], message["recipient"], message["parts"], message["network_ids"])
    return CdrRecord(**fields, day=day, messages=[msg])


def _raw(value: Any, col: Any, sqlite: bool) -> Any:
    """A column value as the driver takes it (what the ORM's type processors would produce)."""
    t = col.type
    if isinstance(t, Money):
        return to_units(value)
    if isinstance(t, JSON):
        return orjson.dumps(value).decode()
    if sqlite and isinstance(t, UTCDateTime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if sqlite and isinstance(t, Date) and isinstance(value, date):
        return value.isoformat()
    return value


def _table(model: Any) -> Table:
    t: Table = model.__table__
    return t


def _driver_rows(
    table: Table, data: list[dict[str, Any]], sqlite: bool
) -> tuple[list[str], list[tuple[Any, ...]]]:
    cols = list(table.columns)
    return [c.name for c in cols], [tuple(_raw(r[c.name], c, sqlite) for c in cols) for r in data]


RawChunk = list[tuple[str, list[str], list[tuple[Any, ...]]]]


def _raw_chunk(sqlite: bool, rows: list[dict[str, Any]], messages: list[dict[str, Any]]) -> RawChunk:
    """The CDR rows, then their message rows, as the driver takes them (converted before the timer:
    the baseline times the database and the driver, not Python's row conversion)."""
    out: RawChunk = []
    for table, data in ((_table(UsageRecord), rows), (_table(Message), messages)):
        names, records = _driver_rows(table, data, sqlite)
        out.append((table.name, names, records))
    return out


async def _raw_insert(conn: AsyncConnection, sqlite: bool, chunk: RawChunk) -> None:
    """One transaction: the CDR rows, then their message rows."""
    if sqlite:
        async with conn.begin():
            for name, names, records in chunk:
                marks = ", ".join("?" * len(names))
                sql = f"INSERT INTO {name} ({', '.join(names)}) VALUES ({marks})"
                await conn.exec_driver_sql(sql, records)
        return
    raw = await conn.get_raw_connection()
    apg: Any = raw.driver_connection
    async with apg.transaction():
        for name, names, records in chunk:
            await apg.copy_records_to_table(name, records=records, columns=names)


def _run_seconds(pid: int) -> float | None:
    """A process's CPU time in seconds (/proc/<pid>/schedstat: nanoseconds on the CPU)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


async def _pg_cpu(c: Any) -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL backend of the bench database (None: not on this host)."""
    if c.dialect != "postgresql":
        return None
    async with c.engine.connect() as conn:
        pids = (
            await conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND backend_type = 'client backend'"
            )
        ).scalars()
        out = {pid: s for pid in pids if (s := _run_seconds(pid)) is not None}
    return out or None


def _pg_delta(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
    """The backends' CPU between two snapshots (a backend started in between counts whole)."""
    if before is None or after is None:
        return None
    return sum(s - before.get(pid, 0.0) for pid, s in after.items())


@contextmanager
def _server_gc(c: Any) -> Iterator[None]:
    """Both timed sides run under the collector a server runs under (app.tune_gc: what was built
    before is frozen, the server's thresholds): the 20,000 records built just before the writer's timer
    otherwise put a full collection (0.5-0.75 s) into the writer's time and none into the COPY's."""
    gc.collect()
    restore = tune_gc(c.settings)
    try:
        yield
    finally:
        restore()


async def run_cdr_bench(
    backend: str, url: str, data_dir: Path, n: int, batch_max: int | None = None
) -> CdrResult:
    c = container_for(url, data_dir)
    if batch_max is not None:  # e.g. ~30, the batch size seen under HTTP load
        c.settings = c.settings.model_copy(update={"cdr_batch_max": batch_max})
    try:
        acct = await seed_account(c)
        now = c.clock.now()
        # One grant that covers every CDR, taken the way a worker takes it (GRANT entry).
        grants = GrantManager(c, "bench-worker")
        reservation = await grants.reserve(acct.partner_id, PRICE * n)
        from openability.catalog.models import PricePlan

        async with c.uow() as uow:
            plan_id = await uow.session.scalar(
                select(PricePlan.id).where(PricePlan.product_id == acct.product_id).limit(1)
            )
        assert plan_id is not None
        day = business_date(now)
        items = [
            _cdr(i, acct.partner_id, acct.product_id, plan_id, reservation.grant_id, now, "w")
            for i in range(n)
        ]

        typed = [_typed(rec, msg, day) for rec, msg in items]
        writer = CdrWriter(c)
        await writer.start()
        pg0 = await _pg_cpu(c)
        with _server_gc(c):
            t0, cpu0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(writer.write(rec) for rec in typed))
            writer_seconds = time.perf_counter() - t0
            writer_cpu = time.process_time() - cpu0
        writer_pg = _pg_delta(pg0, await _pg_cpu(c))
        await writer.stop()
        grants.done(reservation)
        await grants.release_idle(all_grants=True)
        violations = await audit(c)

        # Raw baseline, same tables (same indexes and foreign keys), after the audit: these rows have no
        # money behind them and reference an existing CHARGE entry only to satisfy the foreign key.
        async with c.uow() as uow:
            entry_id = await uow.session.scalar(
                select(JournalEntry.id).where(JournalEntry.kind == EntryKind.CHARGE).limit(1)
            )
        raw_items = [_cdr(i, acct.partner_id, acct.product_id, plan_id, None, now, "r") for i in range(n)]
        for rec, _ in raw_items:
            rec["journal_entry_id"] = entry_id
        sqlite = backend == "sqlite"
        size = writer.batch_max
        chunks = [
            _raw_chunk(
                sqlite, [r for r, _ in raw_items[i : i + size]], [m for _, m in raw_items[i : i + size]]
            )
            for i in range(0, n, size)
        ]
        pg0 = await _pg_cpu(c)
        with _server_gc(c):
            t0, cpu0 = time.perf_counter(), time.process_time()
            for chunk in chunks:
                async with c.engine.connect() as conn:
                    await _raw_insert(conn, sqlite, chunk)
            raw_seconds = time.perf_counter() - t0
            raw_cpu = time.process_time() - cpu0
        raw_pg = _pg_delta(pg0, await _pg_cpu(c))
        return CdrResult(
            backend,
            n,
            writer_seconds,
            raw_seconds,
            writer.batches,
            size,
            violations,
            writer_cpu,
            raw_cpu,
            writer_pg,
            raw_pg,
        )
    finally:
        await c.dispose()
