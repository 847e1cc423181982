"""CDR partitions (PostgreSQL): usage_records is LIST-partitioned by its billing month (`month`,
Asia/Shanghai 'YYYY-MM'), one partition a month, `usage_records_YYYY_MM`, plus `usage_records_default`.

* `ensure_partitions` (the `cdr-partitions` job, daily, and once at every start) creates the partitions
  of the current month and the next `AHEAD` months, and of any month found in the DEFAULT partition,
  moving those rows into their month's partition in the same transaction. It is idempotent and takes
  a transaction-level advisory lock, so two schedulers or starting workers do not race.
* A CDR of a month without a partition (the job did not run; the clock moved far) lands in the DEFAULT
  partition: it is never refused nor lost; the next run moves it and logs a warning.
* `detach_partition` detaches a closed, billed month's partition: the table stays (`usage_records_YYYY_MM`,
  no longer part of usage_records) for the operator to archive (pg_dump -t) and drop. Statements and
  usage pages read the daily rollups, which stay.

Creating a month's partition is CREATE TABLE … (LIKE usage_records) + ATTACH PARTITION, not CREATE
TABLE … PARTITION OF: attaching takes a SHARE UPDATE EXCLUSIVE lock on usage_records, so CDR inserts
into the current month go on meanwhile. SQLite keeps one plain table: every function here is a no-op
there. docs/charging.md "CDR partitions".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import text

from openability.kernel.clock import month_key, next_month
from openability.kernel.errors import NotFound, RuleViolation

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

PARENT = "usage_records"
DEFAULT = "usage_records_default"
AHEAD = 2  # months created ahead of the current one
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# The partitions, attached or detached: left out of Alembic's comparison with the models.
PARTITION_NAME_RE = re.compile(r"^usage_records_(default|\d{4}_\d{2})$")
_BOUND_RE = re.compile(r"FOR VALUES IN \('(\d{4}-\d{2})'\)")
_LOCK_KEY = "openability:cdr-partitions"
_COLUMNS = (
    "id, partner_id, product_id, capability, operation, client_id, request_key, quantity, unit, amount,"
    " billing_mode, price_plan_id, band, scope, month, grant_id, journal_entry_id, occurred_at,"
    " recipients, response, request_hash"
)


# ---- pure rules ---------------------------------------------------------------------------------


def partition_name(month: str) -> str:
    if not MONTH_RE.match(month):
        raise ValueError(f"not a month: {month!r} (YYYY-MM)")
    return f"{PARENT}_{month[:4]}_{month[5:]}"


def months_ahead(current: str, ahead: int = AHEAD) -> list[str]:
    """The current month and the `ahead` months after it."""
    out = [current]
    for _ in range(ahead):
        out.append(next_month(out[-1]))
    return out


def is_partition_name(name: str | None) -> bool:
    return name is not None and PARTITION_NAME_RE.match(name) is not None


def detach_refusal(month: str, current: str, billed: bool) -> str | None:
    """Why a month's partition may not be detached (None: it may). The current month and later are
    open (CDRs still arrive); a month whose bill run has not completed is still read by it and by the
    statement checks (R-BILL-02)."""
    if month >= current:
        return f"month {month} is open (current month {current}): its CDRs are still being written"
    if not billed:
        return f"month {month} is not billed yet: run its bill run first (R-BILL-02)"
    return None


# ---- PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class PartitionReport:
    created: list[str] = field(default_factory=list)  # months whose partition this run created
    moved: dict[str, int] = field(default_factory=dict)  # rows moved out of DEFAULT, by month
    stray: int = 0  # rows left in DEFAULT (a month value that is not YYYY-MM)
    partitioned: bool = True  # False: SQLite, or a table that is not partitioned

    def summary(self) -> str:
        if not self.partitioned:
            return "usage_records is not partitioned (SQLite): nothing to do"
        parts = [
            f"created {len(self.created)} partition(s){': ' + ', '.join(self.created) if self.created else ''}"
        ]
        if self.moved:
            parts.append(
                "moved from DEFAULT: " + ", ".join(f"{m} {n} row(s)" for m, n in sorted(self.moved.items()))
            )
        if self.stray:
            parts.append(f"{self.stray} row(s) with an invalid month left in DEFAULT")
        return "; ".join(parts)


async def _is_partitioned(conn: AsyncConnection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = await conn.scalar(
        text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(:t)"), {"t": PARENT}
    )
    return bool(kind == "p")


async def attached_partitions(conn: AsyncConnection) -> dict[str, str]:
    """Attached partitions: month (or 'DEFAULT') -> table name."""
    rows = await conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    )
    out: dict[str, str] = {}
    for name, bound in rows:
        if bound == "DEFAULT":
            out["DEFAULT"] = name
        else:
            m = _BOUND_RE.search(bound or "")
            if m:
                out[m.group(1)] = name
    return out


async def _attach_month(conn: AsyncConnection, month: str) -> int:
    """Create `month`'s partition, move its rows out of DEFAULT, attach it. Returns the rows moved."""
    name = partition_name(month)  # validated: safe to inline below
    await conn.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    moved = await conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE month = :m RETURNING {_COLUMNS})"
            f" INSERT INTO {name} ({_COLUMNS}) SELECT {_COLUMNS} FROM moved"
        ),
        {"m": month},
    )
    await conn.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES IN ('{month}')"))
    return int(moved.rowcount or 0)


async def ensure_partitions(engine: AsyncEngine, now: datetime, ahead: int = AHEAD) -> PartitionReport:
    """Idempotent: the DEFAULT partition, the current month's and the next `ahead` months' partitions,
    and a partition for every month found in DEFAULT (its rows moved there). One transaction."""
    report = PartitionReport()
    async with engine.begin() as conn:
        if not await _is_partitioned(conn):
            report.partitioned = False
            return report
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _LOCK_KEY})
        existing = await attached_partitions(conn)
        if "DEFAULT" not in existing:
            await conn.execute(text(f"CREATE TABLE {DEFAULT} PARTITION OF {PARENT} DEFAULT"))
        found = [str(m) for m in (await conn.scalars(text(f"SELECT DISTINCT month FROM {DEFAULT}"))).all()]
        wanted = set(months_ahead(month_key(now), ahead))
        for m in found:
            if MONTH_RE.match(m):
                wanted.add(m)
            else:
                report.stray += int(
                    await conn.scalar(text(f"SELECT count(*) FROM {DEFAULT} WHERE month = :m"), {"m": m}) or 0
                )
        missing = sorted(m for m in wanted if m not in existing)
        if missing and found:
            # ATTACH scans DEFAULT under this lock anyway; taking it first means no CDR of a month being
            # attached can arrive between the move and the attach.
            await conn.execute(text(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE"))
        for m in missing:
            n = await _attach_month(conn, m)
            report.created.append(m)
            if n:
                report.moved[m] = n
    if report.moved:
        log.warning(
            "CDRs were in the DEFAULT partition (no partition for their month when written): %s",
            report.summary(),
        )
    if report.stray:
        log.error("%d CDR(s) with an invalid month stay in %s", report.stray, DEFAULT)
    return report


async def detach_partition(engine: AsyncEngine, month: str, now: datetime, *, billed: bool) -> str:
    """Detach a closed, billed month's partition; returns the table's name (it is kept, outside
    usage_records). Refused for the current month or later and for a month not billed yet."""
    name = partition_name(month)
    refusal = detach_refusal(month, month_key(now), billed)
    if refusal is not None:
        raise RuleViolation(refusal, code="CDR_MONTH_NOT_DETACHABLE")
    async with engine.begin() as conn:
        if not await _is_partitioned(conn):
            raise RuleViolation("usage_records is not partitioned (SQLite)", code="NOT_PARTITIONED")
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _LOCK_KEY})
        if (await attached_partitions(conn)).get(month) != name:
            raise NotFound(f"no attached partition for month {month}")
        await conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
    log.info("CDR partition %s detached", name)
    return name


async def partition_sizes(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    """(month or DEFAULT, table, estimated rows) of the attached partitions, by month."""
    async with engine.connect() as conn:
        if not await _is_partitioned(conn):
            return []
        parts = await attached_partitions(conn)
        out = []
        for month, name in sorted(parts.items()):
            est = await conn.scalar(
                text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:t)"), {"t": name}
            )
            out.append((month, name, max(int(est or 0), 0)))
        return out
