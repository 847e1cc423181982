"""PostgreSQL seen from outside during a load run: `pg_stat_activity` of the bench database sampled
every ~100 ms in a thread of its own (its own connection, to another database, left out of the
figures), for

- lock waits: the samples in which a backend of the bench database waits on a heavyweight lock
  (`wait_event_type = 'Lock'`), with the wait events and the queries that waited;
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
FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"""
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


@dataclass
class PgStats:
    samples: int = 0
    lock_samples: int = 0  # samples with at least one backend waiting on a Lock
    lock_waits: Counter[tuple[str, str]] = field(default_factory=Counter)  # (wait_event, query) → backends
    backend_cpu_seconds: float | None = None  # None: PostgreSQL is not on this host
    cluster_cpu_seconds: float | None = None
    backends: int = 0  # distinct backends of the bench database seen

    def top_waits(self, n: int = 3) -> str:
        return "; ".join(f"Lock:{ev} ×{k} ({q})" for (ev, q), k in self.lock_waits.most_common(n))


class PgSampler:
    """`with PgSampler(url) as s: <load>` then `s.stats`; url: the bench database's URL."""

    def __init__(self, url: str, interval: float = 0.1) -> None:
        u = make_url(url)
        self.database = u.database or ""
        # Another database of the same cluster (the server's own "postgres"), so the sampler's
        # backend is not one of the bench database's.
        self.dsn = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        self.interval = interval
        self.stats = PgStats()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="pg-sampler", daemon=True)
        self._cpu: dict[int, list[float]] = {}  # pid → [at first sight (0: born during the run), last]
        self._local = False

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

    async def _sample(self, conn: asyncpg.Connection, first: bool) -> None:
        rows = await conn.fetch(_SQL, self.database)
        s = self.stats
        if not first:  # the first sample is the baseline, before the load starts
            s.samples += 1
            waiting = [(r[2] or "", r[3] or "") for r in rows if r[1] == "Lock"]
            if waiting:
                s.lock_samples += 1
                s.lock_waits.update(waiting)
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
