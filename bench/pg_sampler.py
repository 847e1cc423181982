"""PostgreSQL seen from outside during a load run: `pg_stat_activity` of the bench database sampled
every ~100 ms in a thread of its own (its own connection, to another database, left out of the
figures), for

- lock waits: the samples in which a backend of the bench database waits on a heavyweight lock
  (`wait_event_type = 'Lock'`), with the wait events and the queries that waited; and each wait
  traced (`Blocked`): the lock waited for (`pg_locks`: transactionid, or relation and tuple), the row
  it is on when it can still be read (an `accounts` row: owner, type, slot), the waiter's and each
  blocker's (`pg_blocking_pids`) statement, named by `statement_name`, and the blocker's state;
- the CPU the PostgreSQL backends serving the bench spent (user + system from /proc/<pid>/stat, when
  PostgreSQL runs on this host): read for every backend of the bench database at each sample, counted
  from the first sample (a backend that appears later counts whole: it was started during the run);
  a backend that exits between two samples loses at most one interval of CPU;
- the whole cluster's CPU (postmaster + all its processes, including exited ones through the
  postmaster's cutime/cstime): includes WAL writer, checkpointer — and other databases' work on a
  shared machine, so it is a diagnostic next to the backends' figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

_SQL = """SELECT pid, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 160)
FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND pid <> $2"""
# Each waiting backend's blockers (pg_blocking_pids), both statements, and the waiter's locks that say
# what it waits for: the one not granted, and the tuple lock it holds while it waits on a transaction.
_BLOCKERS = """SELECT w.pid, w.wait_event, w.query, b.pid, b.state, b.query, b.xact_start < w.xact_start,
  (SELECT array_agg(array[l.locktype, coalesce(l.relation::text, ''), coalesce(l.page::text, ''),
     coalesce(l.tuple::text, ''), coalesce(l.transactionid::text, ''), coalesce(l.objid::text, ''),
     l.mode, l.granted::text])
   FROM pg_locks l WHERE l.pid = w.pid AND (NOT l.granted OR l.locktype = 'tuple'))
FROM pg_stat_activity w LEFT JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid) ON true
LEFT JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.datname = $1 AND w.wait_event_type = 'Lock'"""
# A relation extension lock (`Lock:extend`: two transactions adding a page to one table at once) has
# no blocker pg_blocking_pids reports: traced with the blocker unknown.
# In the bench database: a table's name, and the accounts row at a tuple (while still visible).
_RELNAME = "SELECT relname FROM pg_class WHERE oid = $1::text::oid"
_ACCOUNT_AT = "SELECT owner_id, type, slot FROM accounts WHERE ctid = $1::text::tid"

# The application's statements, known by a fragment of their text (charging/grants_pg.py, cdr_pg.py,
# ledger/setwise.py, charging/grants.py), so a traced wait names them.
_STATEMENTS = (
    ("WITH acc AS MATERIALIZED", "grant refill (grants_pg.SQL)"),
    ("pg_advisory_xact_lock(7401", "new grant's slot lock"),
    ("FROM grants g WHERE g.partner_id", "new grant's taken slots"),
    ("ON CONFLICT (owner_id, type, slot)", "new grant's slot account"),
    ("WITH entry AS ( INSERT INTO journal_entries", "CDR batch (cdr_pg.SQL)"),
    ("WITH entry AS ( SELECT", "CDR batch after COPY (cdr_pg.SQL_AFTER_COPY)"),
    ("COPY ", "CDR batch COPY"),
    ("VALUES ($1::text, 'charge', 'cdr_batch'", "CDR batch entry (cdr_pg.SQL_ENTRY)"),
    ("UPDATE grants SET expires_at", "grant extension"),
    ("FROM grants WHERE grants.id IN", "grants locked for extension"),
    ("FROM accounts WHERE", "accounts locked (ledger.lock_accounts)"),
    ("UPDATE accounts SET balance", "balance update (ledger.post)"),
    ("UPDATE grants SET", "grant update (ORM)"),
    ("FROM grants WHERE grants.id =", "grant read/locked (ORM)"),
    ("UPDATE request_claims", "claim update"),
    ("INSERT INTO request_claims", "claim insert"),
)


def statement_name(query: str) -> str:
    """A short name of one of the application's statements (else the statement's first 60 characters)."""
    q = " ".join(query.split())
    for fragment, name in _STATEMENTS:
        if fragment in q:
            return name
    return q[:60]


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu(pid: int) -> float:
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / _TICK  # utime + stime


def _cluster_cpu(postmaster: int) -> float:
    f = _stat(postmaster)
    total = sum(int(x) for x in f[11:15]) / _TICK  # utime, stime, cutime, cstime (exited children)
    for task in Path(f"/proc/{postmaster}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):  # exited just now: its CPU moves into cutime
                total += _cpu(int(child))
    return total


def _local_postgres(pid: int) -> bool:
    """Is this backend pid a PostgreSQL process of this host (not another host's or namespace's)?"""
    try:
        return "postgres" in Path(f"/proc/{pid}/comm").read_text() + Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


@dataclass(frozen=True)
class Blocked:
    """One traced wait: who waits, on what, behind whom."""

    waiter: str  # statement_name of the waiting statement
    lock: str  # e.g. "transactionid" or "tuple accounts" — the lock not granted
    row: str  # the row, when known: "accounts prepaid:available slot 0", or "accounts (3,7)"
    blocker: str  # statement_name of the blocker's current (or last, when idle in transaction) statement
    blocker_state: str  # "active", "idle in transaction", …
    blocker_older: bool  # the blocker's transaction started before the waiter's

    def line(self) -> str:
        state = "" if self.blocker_state == "active" else f" [{self.blocker_state}]"
        return (
            f"{self.waiter} waits ({self.lock}{'; ' + self.row if self.row else ''}) on {self.blocker}{state}"
        )


@dataclass
class PgStats:
    samples: int = 0
    lock_samples: int = 0  # samples with at least one backend waiting on a Lock
    lock_waits: Counter[tuple[str, str]] = field(default_factory=Counter)  # (wait_event, query) → backends
    backend_cpu_seconds: float | None = None  # None: PostgreSQL is not on this host
    cluster_cpu_seconds: float | None = None
    backends: int = 0  # distinct backends of the bench database seen
    blocked: Counter[Blocked] = field(default_factory=Counter)  # traced waits → samples seen in
    interval_ms: float = 100.0

    def top_waits(self, n: int = 3) -> str:
        return "; ".join(f"Lock:{ev} ×{k} ({q})" for (ev, q), k in self.lock_waits.most_common(n))

    def blocker_lines(self) -> list[str]:
        """One line per traced wait, most seen first."""
        return [f"×{k} {b.line()}" for b, k in self.blocked.most_common()]


class PgSampler:
    """`with PgSampler(url) as s: <load>` then `s.stats`; url: the bench database's URL."""

    def __init__(self, url: str, interval: float | None = None) -> None:
        u = make_url(url)
        self.database = u.database or ""
        # The bench database itself, for the names of what a wait is on (opened at the first wait).
        self.bench_dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
        # Another database of the same cluster (the server's own "postgres"), so the sampler's
        # backend is not one of the bench database's.
        self.dsn = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        # OPENABILITY_BENCH_PG_SAMPLE_MS: sample more often to catch short waits when tracing them.
        self.interval = interval or float(os.environ.get("OPENABILITY_BENCH_PG_SAMPLE_MS", "100")) / 1000
        self.stats = PgStats(interval_ms=1000 * self.interval)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="pg-sampler", daemon=True)
        self._cpu: dict[int, list[float]] = {}  # pid → [at first sight (0: born during the run), last]
        self._local = False
        self._names: asyncpg.Connection | None = None
        self._relnames: dict[str, str] = {}

    def __enter__(self) -> PgSampler:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        if self._error is not None and exc[0] is None:
            raise self._error

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as e:  # reported by __enter__/__exit__ in the caller's thread
            self._error = e
            self._ready.set()

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            me = conn.get_server_pid()
            self._local = _local_postgres(me)
            postmaster = int(_stat(me)[1]) if self._local else 0
            cluster0 = _cluster_cpu(postmaster) if self._local else 0.0
            await self._sample(conn, first=True)
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(self.interval)
                await self._sample(conn, first=False)
            if self._local:
                self.stats.cluster_cpu_seconds = _cluster_cpu(postmaster) - cluster0
                self.stats.backend_cpu_seconds = sum(last - first for first, last in self._cpu.values())
            self.stats.backends = len(self._cpu)
        finally:
            await conn.close()
            if self._names is not None:
                await self._names.close()

    async def _sample(self, conn: asyncpg.Connection, first: bool) -> None:
        names_pid = self._names.get_server_pid() if self._names is not None else 0
        rows = await conn.fetch(_SQL, self.database, names_pid)
        s = self.stats
        if not first:  # the first sample is the baseline, before the load starts
            s.samples += 1
            waiting = [(r[2] or "", r[3] or "") for r in rows if r[1] == "Lock"]
            if waiting:
                s.lock_samples += 1
                s.lock_waits.update(waiting)
                s.blocked.update(await self._trace(conn))
        for r in rows:
            pid = int(r[0])
            try:
                cpu = _cpu(pid) if self._local else 0.0
            except OSError:
                continue  # exited since the query
            seen = self._cpu.get(pid)
            if seen is None:
                self._cpu[pid] = [cpu if first else 0.0, cpu]
            else:
                seen[1] = cpu

    async def _trace(self, conn: asyncpg.Connection) -> set[Blocked]:
        """The waits of this moment, each with its blockers (a wait ended meanwhile is not seen)."""
        rows = await conn.fetch(_BLOCKERS, self.database)
        if not rows:
            return set()
        if self._names is None:
            # Opened at the first wait; its backend is left out of the samples and the CPU figures.
            self._names = await asyncpg.connect(self.bench_dsn)
        out = set()
        for _wpid, event, wq, _bpid, bstate, bq, older, locks in rows:
            lock, row = await self._what(event or "", locks or [])
            out.add(
                Blocked(
                    statement_name(wq or ""),
                    lock,
                    row,
                    statement_name(bq or "") if bstate is not None else "(no blocker reported)",
                    bstate or "active",
                    bool(older),
                )
            )
        return out

    async def _what(self, event: str, locks: list[list[str]]) -> tuple[str, str]:
        """(the lock waited for, the row it is about) from the waiter's pg_locks rows."""
        assert self._names is not None
        lock, row = event, ""
        for locktype, rel, page, tup, _xid, objid, _mode, granted in locks:
            relname = await self._relname(rel) if rel else ""
            if granted == "false":
                lock = f"{locktype} {relname}".strip() if locktype != "advisory" else f"advisory {objid}"
            if locktype == "tuple" and page and tup:
                row = f"{relname} ({page},{tup})"
                if relname == "accounts":
                    with contextlib.suppress(asyncpg.PostgresError):
                        acc = await self._names.fetchrow(_ACCOUNT_AT, f"({page},{tup})")
                        if acc is not None:
                            row = f"accounts {acc[0]} {acc[1]} slot {acc[2]}"
        return lock, row

    async def _relname(self, oid: str) -> str:
        if oid not in self._relnames:
            assert self._names is not None
            self._relnames[oid] = await self._names.fetchval(_RELNAME, oid) or oid
        return self._relnames[oid]
