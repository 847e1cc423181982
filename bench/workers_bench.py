"""One uvicorn worker vs two (`uvicorn --workers 2`, as production runs several: runner.serve), the
same charged SMS load against each, on PostgreSQL: req/s, CPU per call of the worker processes (and of
the PostgreSQL backends serving them), lock waits sampled from pg_stat_activity, each worker's RSS at
the end of the run, and p50/p99 latency at 80% of the configuration's peak.

The two configurations share one seeded database (the 2-worker run follows the 1-worker run; grants
are released at each server's SIGTERM) and, with --pin, the same CPUs: the server's processes on CPU
0, wrk on CPU 1 (PostgreSQL unpinned). On a 2-core machine two workers cannot add throughput; what the
benchmark measures is what a second worker costs: CPU per call and lock waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from bench import http_bench, summary
from bench.http_bench import BenchServer, ProcMemory
from bench.pg_sampler import PgSampler, PgStats
from bench.world import container_for, count_cdrs, seed_account
from bench.wrk import LoadResult


@dataclass
class WorkersRun:
    workers: int
    load: LoadResult
    pg: PgStats
    memory: list[ProcMemory]
    cpu_split: list[float]  # each worker process's share of the server CPU
    latency: LoadResult | None

    @property
    def server_ms(self) -> float | None:
        return self.load.cpu_ms_per_call

    @property
    def pg_ms(self) -> float | None:
        cpu = self.pg.backend_cpu_seconds
        return 1000 * cpu / self.load.requests if cpu is not None and self.load.requests else None

    @property
    def total_ms(self) -> float | None:
        return self.server_ms + self.pg_ms if self.server_ms is not None and self.pg_ms is not None else None

    @property
    def cluster_ms(self) -> float | None:
        cpu = self.pg.cluster_cpu_seconds
        return 1000 * cpu / self.load.requests if cpu is not None and self.load.requests else None


def _cpu_by_pid(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            out[pid] = http_bench._proc_cpu(pid)
    return out


def run_one(
    url: str, data: Path, token: str, workers: int, seconds: int, connections: int, warmup: int, pin: bool
) -> WorkersRun:
    server_cpu, client_cpu = ("0", "1") if pin else (None, None)
    server = BenchServer(url, data / f"workers-{workers}", workers=workers, cpu=server_cpu)
    server.start_timeout = 180.0  # two workers import the application on one pinned core
    with server:
        # Warm-up: every worker's caches filled and grants taken (wrk's connections reach both), and
        # repeated (up to a minute) until enough calls were answered: on an overloaded machine a
        # worker's first calls take seconds, and a short measured run of cold workers answers none.
        deadline = time.monotonic() + 60
        while True:
            w = http_bench.load(server.base, "charged_sms", token, warmup, connections, client_cpu=client_cpu)
            if w.ok >= 4 * connections * workers or time.monotonic() > deadline:
                break
        pids = http_bench.worker_pids(server)
        before = _cpu_by_pid(pids)
        with PgSampler(url) as pg:
            res = http_bench.load(server.base, "charged_sms", token, seconds, connections, server, client_cpu)
        after = _cpu_by_pid(pids)
        mem = http_bench.memory(pids)
        used = {p: after[p] - before[p] for p in before if p in after}
        split = [u / max(sum(used.values()), 1e-9) for u in used.values()]
        lat = http_bench.latency_at_rate(
            server, "charged_sms", token, 0.8 * res.rps, seconds, connections, client_cpu
        )
    return WorkersRun(workers, res, pg.stats, mem, split, lat)


async def _seed(url: str, data: Path) -> str:
    c = container_for(url, data)
    try:
        return (await seed_account(c)).token
    finally:
        await c.dispose()


def _ms(x: float | None) -> str:
    return f"{x:.3f}" if x is not None else "n/a"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def report(
    backend: str,
    rounds: list[list[WorkersRun]],
    seconds: int,
    pin: bool,
    cdrs: int,
    audit: list[str],
) -> None:
    """Every round's figures (1 worker, then 2: interleaved A/B/A/B), then the ratios' medians."""
    where = "; server processes on CPU 0, wrk on CPU 1" if pin else ""
    print(
        f"\n[workers/{backend}] charged SMS against 1 and 2 uvicorn workers (--workers N), load:"
        f" {rounds[0][0].load.tool}, {seconds}s each{where}; {len(rounds)} round(s)"
    )
    totals: list[float] = []
    servers: list[float] = []
    rps: list[float] = []
    waits: list[int] = []
    for i, runs in enumerate(rounds, 1):
        one, two = runs
        tag = f"#{i} " if len(rounds) > 1 else ""
        for r in runs:
            peak = max((m.hwm_mib for m in r.memory), default=0.0)
            rss = ", ".join(f"{m.rss_mib:.0f}" for m in r.memory)
            split = "/".join(f"{100 * s:.0f}" for s in r.cpu_split)
            print(
                f"  {tag}{r.workers} worker{'s' if r.workers > 1 else ' '} {r.load.rps:8.0f} req/s (2xx"
                f" {r.load.ok} of {r.load.requests}); CPU per call: server {_ms(r.server_ms)} ms +"
                f" PostgreSQL backends {_ms(r.pg_ms)} ms = {_ms(r.total_ms)} ms (whole PostgreSQL cluster"
                f" {_ms(r.cluster_ms)} ms); CPU split {split}%; RSS {rss} MiB (peak {peak:.0f} MiB)"
            )
        for r in runs:
            top = f": {r.pg.top_waits()}" if r.pg.lock_waits else ""
            print(
                f"  {tag}lock waits, {r.workers} worker{'s' if r.workers > 1 else ''}: {r.pg.lock_samples}"
                f" of {r.pg.samples} pg_stat_activity samples (every {r.pg.interval_ms:.0f} ms, {r.pg.backends} backends){top}"
            )
            for line in r.pg.blocker_lines():  # each traced wait: waiter, lock and row, blocker
                print(f"    blocked: {line}")
        for r in runs:
            http_bench.print_latency(f"{r.workers} worker(s)", f"workers/{backend}", r.latency)
        if any(r.load.ok < r.load.requests for r in runs):
            print(f"  {tag}WARNING: charged calls failed (see the 2xx counts)")
        rps.append(two.load.rps / max(one.load.rps, 1e-9))
        server = _ratio(two.server_ms, one.server_ms)
        total = _ratio(two.total_ms, one.total_ms)
        if server is not None:
            servers.append(server)
        if total is not None:
            totals.append(total)
        waits.append(two.pg.lock_samples)
        for r in runs:
            for m in r.memory:
                summary.record("worker_rss_mib", m.hwm_mib, backend, f"VmHWM, {r.workers} worker(s)")
    print(f"  CDRs in the database: {cdrs} (incl. warm-up), ledger audit: {audit or 'clean'}")

    def each(xs: Sequence[float]) -> str:
        return f"; rounds {' · '.join(f'{x:.3f}' for x in xs)}, median" if len(rounds) > 1 else ""

    print(f"RATIO workers/{backend} rps_2w/1w = {median(rps):.3f}  (req/s{each(rps)})")
    if len(servers) == len(rounds):
        print(
            f"RATIO workers/{backend} cpu_per_call_2w/1w = {median(servers):.3f}  (server only{each(servers)})"
        )
    if len(totals) == len(rounds):
        print(
            f"RATIO workers/{backend} cpu_per_call_with_pg_2w/1w = {median(totals):.3f}"
            f"  (server + PostgreSQL backends{each(totals)})"
        )
    figures = totals if len(totals) == len(rounds) else servers
    if len(figures) == len(rounds):
        what = (
            "server + PostgreSQL backends"
            if figures is totals
            else "server only (PostgreSQL not on this host)"
        )
        server_only = f"{median(servers):.3f}" if len(servers) == len(rounds) else "n/a"
        summary.record("workers_cpu", median(figures), backend, f"{what}; server only {server_only}")
    n = rounds[-1][1].pg.samples
    summary.record(
        "workers_lock_waits", median(waits), backend, f"of ~{n} samples{each([float(w) for w in waits])}"
    )


def run(
    backend: str,
    url: str,
    data: Path,
    seconds: int,
    connections: int,
    warmup: int,
    pin: bool,
    rounds: int = 1,
) -> None:
    token = asyncio.run(_seed(url, data))
    runs = [
        [run_one(url, data, token, n, seconds, connections, warmup, pin) for n in (1, 2)]
        for _ in range(rounds)
    ]
    cdrs, violations = asyncio.run(count_cdrs(url, data))
    report(backend, runs, seconds, pin, cdrs, violations)
