"""`python -m bench [--smoke]` (`make bench`): run the benchmarks on SQLite and, when
OPENABILITY_TEST_DATABASE_URL is set, on PostgreSQL; print each ratio next to its absolute figures.

Lines starting with "RATIO" are the results (the smoke test looks for them)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import median

from bench import billrun_bench, cdr_bench, http_bench, spread_bench, summary, workers_bench
from bench.pg_sampler import PgSampler, PgStats
from bench.world import backends, container_for, count_cdrs, fresh_database, seed_account
from bench.wrk import LoadResult

FULL = {
    "seconds": 10,
    "connections": 64,
    "cdrs": 20_000,
    "partners": 1000,
    "zipf_partners": 100_000,
    "warmup": 5,
}
SMOKE = {"seconds": 1, "connections": 4, "cdrs": 300, "partners": 20, "zipf_partners": 50, "warmup": 1}
ZIPF_S = 1.1  # the spread benchmark's Zipf exponent (--zipf)
TOUCH_ALL_MAX = 10_000  # spread: more partners than that are not each called once before measuring
# The bill run (PostgreSQL): CDRs of one month over partners x 3 products.
FULL.update(cdrs_month=10_000_000, billrun_partners=10_000)
SMOKE.update(cdrs_month=20_000, billrun_partners=100)
# http, spread and workers: the compared loads interleaved A/B/A/B, the ratio reported as the median.
FULL.update(rounds=3)
SMOKE.update(rounds=1)


@contextlib.contextmanager
def _pg_cpu(backend: str, url: str) -> Iterator[PgStats]:
    """PostgreSQL's side of a load run: the CPU of the bench database's backends (PgSampler; None on
    SQLite or when PostgreSQL is not on this host)."""
    if backend != "postgresql":
        yield PgStats()
        return
    with PgSampler(url) as pg:
        yield pg.stats


def _http(
    backend: str,
    workdir: Path,
    seconds: int,
    connections: int,
    stack: str,
    pin: bool = False,
    routes: list[str] | None = None,
    server_kind: str = "uvicorn",
    rounds: int = 1,
) -> None:
    # --pin: the server on CPU 0, the load generator on CPU 1 (steadier figures on a shared machine).
    server_cpu, client_cpu = ("0", "1") if pin else (None, None)
    wanted = [r for r in http_bench.ROUTES if routes is None or r in routes]
    with fresh_database(backend, workdir) as url:
        data = workdir / f"http-{backend}"

        async def seed() -> str:
            c = container_for(url, data)
            try:
                return (await seed_account(c)).token
            finally:
                await c.dispose()

        token = asyncio.run(seed())
        with http_bench.BenchServer(url, data, stack=stack, cpu=server_cpu, server=server_kind) as server:
            # Warm-up: caches filled, first grant taken, JIT-less Python paths imported.
            http_bench.load(server.base, "charged_sms", token, 1, connections, client_cpu=client_cpu)
            # The routes interleaved A/B/A/B: `rounds` rounds, each loading every route once.
            runs: list[dict[str, LoadResult]] = []
            pg_ms: dict[str, list[float]] = {}  # route -> PostgreSQL backends' CPU per call, each round
            mem: list[http_bench.ProcMemory] = []
            for _ in range(rounds):
                res: dict[str, LoadResult] = {}
                for route in wanted:
                    with _pg_cpu(backend, url) as pg:
                        res[route] = http_bench.load(
                            server.base, route, token, seconds, connections, server, client_cpu
                        )
                    if pg.backend_cpu_seconds is not None and res[route].requests:
                        pg_ms.setdefault(route, []).append(
                            1000 * pg.backend_cpu_seconds / res[route].requests
                        )
                    if route == "charged_sms":  # the worker's memory at the end of the charged run
                        mem = http_bench.memory(http_bench.worker_pids(server))
                runs.append(res)
            # p50/p99 with the charged route driven at 80% of the peak just measured (the median).
            rate = 0.8 * median(r["charged_sms"].rps for r in runs)
            lat = http_bench.latency_at_rate(
                server, "charged_sms", token, rate, seconds, connections, client_cpu
            )
            sample = ""
            if any(
                r[k].ok < r[k].requests for r in runs for k in ("charged_sms", "charged_sms_key") if k in r
            ):
                sample = http_bench.sample_call(server.base, token)
        cdrs, violations = asyncio.run(count_cdrs(url, data))
    tool = runs[0]["charged_sms"].tool
    pinned = " (server pinned to CPU 0, load to CPU 1)" if pin else ""
    print(
        f"\n[http/{backend}] one {server_kind} worker, load: {tool}, {seconds}s per route{pinned};"
        f" routes interleaved, {rounds} round(s)"
    )
    for i, res in enumerate(runs, 1):
        for r in res.values():
            cpu = f", server CPU {r.cpu_ms_per_call:.3f} ms/call" if r.cpu_ms_per_call is not None else ""
            pgc = pg_ms.get(r.route, [])
            if len(pgc) == len(runs):
                cpu += f" + PostgreSQL backends {pgc[i - 1]:.3f} ms/call"
            print(
                f"  {f'#{i} ' if rounds > 1 else ''}{r.route:15s} {r.rps:9.0f} req/s  (2xx {r.ok} of"
                f" {r.requests}, mean latency {r.latency_ms:.2f} ms{cpu})"
            )
    print(f"  CDRs in the database: {cdrs} (incl. warm-up), ledger audit: {violations or 'clean'}")
    _http_latency_rss(backend, lat, mem)
    if sample:
        print(f"  WARNING: charged calls failed; one call now answers: {sample}")

    def med(route: str, f: Callable[[LoadResult], float | None]) -> float | None:
        xs = [x for x in (f(r[route]) for r in runs) if x is not None]
        return median(xs) if len(xs) == len(runs) else None

    def with_pg(route: str) -> float | None:
        cpu = med(route, lambda r: r.cpu_ms_per_call)
        pg = pg_ms.get(route, [])
        return None if cpu is None or len(pg) != len(runs) else cpu + median(pg)

    cpu_charged = med("charged_sms", lambda r: r.cpu_ms_per_call)
    for base in ("starlette_noop", "fastapi_noop", "charged_sms_key"):
        cpu_base = med(base, lambda r: r.cpu_ms_per_call) if base in wanted else None
        if cpu_charged is not None and cpu_base:
            # Not a RATIO line: CPU per call is a diagnostic next to the req/s ratio (DESIGN.md).
            line = f"  server CPU per call, charged_sms / {base}: {cpu_charged / cpu_base:.2f}x"
            a, b = with_pg("charged_sms"), with_pg(base)
            if a is not None and b:
                line += f"; with the PostgreSQL backends' CPU: {a:.3f} vs {b:.3f} ms = {a / b:.2f}x"
            print(line + (" (medians)" if rounds > 1 else ""))

    def ratio_line(a: str, b: str, note: str = "") -> float:
        ratios = [r[a].rps / max(r[b].rps, 1e-9) for r in runs]
        m: float = median(ratios)
        each = f"; rounds {' · '.join(f'{x:.3f}' for x in ratios)}, median" if rounds > 1 else ""
        ra = median(r[a].rps for r in runs)
        rb = median(r[b].rps for r in runs)
        print(f"RATIO http/{backend} {a}/{b} = {m:.3f}  ({ra:.0f} vs {rb:.0f} req/s{each}{note})")
        return m

    if "charged_sms_key" in wanted:
        ratio_line("charged_sms_key", "charged_sms", ": the cost of claiming the key")
    for base in ("starlette_noop", "fastapi_noop"):
        if base not in wanted:
            continue
        m = ratio_line("charged_sms", base)
        if base == "fastapi_noop":
            summary.record("charged_vs_fastapi", m, backend, f"median of {rounds}" if rounds > 1 else "")


def _http_latency_rss(backend: str, lat: LoadResult | None, mem: list[http_bench.ProcMemory]) -> None:
    http_bench.print_latency("one worker", f"http/{backend}", lat)
    for m in mem:
        print(
            f"  worker memory at the end of the charged run: VmRSS {m.rss_mib:.1f} MiB, VmHWM {m.hwm_mib:.1f} MiB (target < 150 MiB)"
        )
        summary.record("worker_rss_mib", m.hwm_mib, backend, "VmHWM, one worker")


def _spread(
    backend: str,
    workdir: Path,
    seconds: int,
    connections: int,
    partners: int,
    zipf: float | None,
    warmup: int,
    pin: bool,
    touch_all: bool,
    rounds: int = 1,
) -> None:
    import time

    if partners <= 0:
        return
    touch_all = touch_all and partners <= TOUCH_ALL_MAX

    with fresh_database(backend, workdir) as url:
        data = workdir / f"spread-{backend}"

        async def seed() -> list[str]:
            c = container_for(url, data)
            try:
                return await spread_bench.clone_partners(c, await seed_account(c), partners)
            finally:
                await c.dispose()

        t0 = time.monotonic()
        tokens = asyncio.run(seed())
        setup = time.monotonic() - t0
        seq = spread_bench.sequence(partners, zipf)
        hot_seq = [0]
        with http_bench.BenchServer(url, data, pin=pin) as server:
            spread_bench.measure(server, "warm-up", tokens, hot_seq, 1, connections, pin)
            t1, c1 = time.monotonic(), server.cpu_seconds()
            touched = spread_bench.touch_all(server.base, tokens, connections) if touch_all else {}
            touch, c2 = time.monotonic() - t1, server.cpu_seconds()
            touch_cpu = (c2 - c1) * 1000 / partners if c1 is not None and c2 is not None else None
            # The spread calls are one stream: each run (the warm-up, then every round) goes on where
            # the one before stopped, so no round replays calls an earlier one made (a replay meets
            # partners already warm: rounds 2 and 3 of a Zipf run over 100,000 partners read 0.64
            # and 0.74 against round 1's 0.39, pass 6). wrk may have sent up to `connections` calls
            # more than it counted: they are skipped.
            done = spread_bench.measure(server, "warm-up", tokens, seq, warmup, connections, pin).requests
            pos = done + connections
            pairs = []
            for _ in range(rounds):  # hot and spread interleaved A/B/A/B
                hot = spread_bench.measure(server, "hot", tokens, hot_seq, seconds, connections, pin)
                spread = spread_bench.measure(server, "spread", tokens, seq, seconds, connections, pin, pos)
                pos += spread.requests + connections
                pairs.append(spread_bench.SpreadResult(partners, zipf, hot, spread))
            if pos > len(seq):
                print(f"  note: the run took {pos:,} calls of a sequence of {len(seq):,}: it cycled")
            mem = http_bench.memory(http_bench.worker_pids(server))
        cdrs, violations = asyncio.run(count_cdrs(url, data))
    # The round with the median ratio stands for the run (its req/s are printed with the ratio).
    r = sorted(pairs, key=lambda p: p.ratio)[len(pairs) // 2]
    dist = "uniform" if zipf is None else f"Zipf s={zipf:g}"
    print(
        f"\n[spread/{backend}] {partners} partners ({dist}), set up in {setup:.1f} s; one uvicorn worker"
        f"{' on CPU 0, wrk on CPU 1' if pin else ''}; warm-up {warmup}s, {seconds}s per scenario"
    )
    if touch_all:
        cpu = f" (server CPU {touch_cpu:.2f} ms per first call)" if touch_cpu is not None else ""
        print(f"  warm-up: one call per partner in {touch:.1f} s{cpu}, answers {touched}")
    else:
        print("  warm-up: no call per partner first (the spread load meets cold partners)")
    for i, p in enumerate(pairs, 1):
        for x in (p.hot, p.spread):
            cpu = f", server CPU {x.cpu_ms_per_call:.3f} ms/call" if x.cpu_ms_per_call is not None else ""
            print(
                f"  {f'#{i} ' if rounds > 1 else ''}{x.route:8s} {x.rps:9.0f} req/s  (2xx {x.ok} of"
                f" {x.requests}, mean latency {x.latency_ms:.2f} ms{cpu})"
            )
    hot, spread = r.hot, r.spread
    each = f"; rounds {' · '.join(f'{p.ratio:.3f}' for p in pairs)}, median" if rounds > 1 else ""
    print(f"  CDRs in the database: {cdrs} (incl. warm-up), ledger audit: {violations or 'clean'}")
    for m in mem:
        print(f"  worker memory after the load: VmRSS {m.rss_mib:.1f} MiB, VmHWM {m.hwm_mib:.1f} MiB")
        # A worker that has met many partners holds their cache entries, grants and volume blocks: its
        # memory under this load counts for the RSS target as the charged load's does.
        summary.record(
            "worker_rss_mib", m.hwm_mib, backend, f"VmHWM, one worker after the spread load over {partners:,}"
        )
    print(
        f"RATIO spread/{backend} {r.label}/hot = {r.ratio:.3f}  ({spread.rps:.0f} vs {hot.rps:.0f} req/s"
        f"{each})"
    )
    # The two spread targets; other sizes and distributions are printed, not judged.
    key = "spread_1k_uniform" if (partners, zipf) == (1000, None) else None
    if partners == 100_000 and zipf is not None:
        key = "spread_100k_zipf"
    if key is not None:
        summary.record(key, r.ratio, backend, f"{spread.rps:.0f} vs {hot.rps:.0f} req/s{each}")


# The CDR bench's batch sizes: ~30 is what the writer sees under HTTP load, 300 its maximum.
CDR_BATCHES = (30, 300)
CDR_TARGET = 0.8  # issue 9: the CDR writer at >= 0.8x a raw COPY of the same rows


def _cdr(backend: str, workdir: Path, n: int) -> None:
    for batch in CDR_BATCHES:
        _cdr_one(backend, workdir, n, batch)


def _cdr_one(backend: str, workdir: Path, n: int, batch: int) -> None:
    with fresh_database(backend, workdir) as url:
        r = asyncio.run(cdr_bench.run_cdr_bench(backend, url, workdir / f"cdr-{backend}-{batch}", n, batch))
    raw = "COPY" if backend == "postgresql" else "executemany"
    print(f"\n[cdr/{backend}] {r.records} CDRs (+1 message row each), writer batch max {r.batch_max}")
    print(
        f"  CDR writer      {r.writer_rps:9.0f} records/s  ({r.writer_seconds:.3f} s, {r.batches} group commits)"
    )
    print(f"  raw {raw:11s} {r.raw_rps:9.0f} records/s  ({r.raw_seconds:.3f} s, same rows, same batch size)")
    print(f"  ledger audit after the writer: {r.audit or 'clean'}")
    print(
        f"RATIO cdr/{backend} writer/raw_{raw.lower()}@{r.batch_max} = {r.writer_rps / r.raw_rps:.3f}"
        f"  ({r.writer_rps:.0f} vs {r.raw_rps:.0f} records/s; target >= {CDR_TARGET}:"
        f" {'PASS' if r.writer_rps / r.raw_rps >= CDR_TARGET else 'FAIL'})"
    )
    summary.record("cdr_writer_vs_copy", r.writer_rps / r.raw_rps, backend, f"vs raw {raw}")


def _billrun(workdir: Path, partners: int, cdrs: int) -> None:
    with fresh_database("postgresql", workdir) as url:
        r = billrun_bench.run_billrun_bench(url, workdir / "billrun", partners, cdrs)
    print(
        f"\n[billrun/postgresql] {r.cdrs:,} CDRs of {billrun_bench.BENCH_MONTH} for {r.partners:,} partners x 3"
        f" products, {r.rollups:,} daily rollup rows"
    )
    print(
        f"  generated in {r.setup_seconds + r.copy_seconds + r.index_seconds + r.rollup_seconds:.1f} s:"
        f" partners + charge entries {r.setup_seconds:.1f} s, CDRs by COPY {r.copy_seconds:.1f} s"
        f" ({r.cdrs / max(r.copy_seconds, 1e-9):,.0f} rows/s), their indexes + ATTACH {r.index_seconds:.1f} s,"
        f" rollups {r.rollup_seconds:.1f} s"
    )
    print(f"  bare GROUP BY scan  {r.scan_seconds:8.3f} s  ({r.scan_groups:,} partner x product groups)")
    print(
        f"  bill run            {r.bill_seconds:8.3f} s  ({r.bill_statements:,} statements;"
        f" {r.bill_seconds / max(r.partners, 1) * 1000:.2f} ms per partner)"
    )
    mem = "PASS" if r.bill_peak_mib < 1024 else "FAIL"
    print(f"  bill run peak memory (ru_maxrss) {r.bill_peak_mib:.0f} MiB  (target < 1024 MiB: {mem})")
    print(f"  ledger audit: {r.audit or 'clean'}")
    verdict = "PASS" if r.ratio <= 0.25 else "FAIL"
    print(
        f"RATIO billrun/postgresql billrun/groupby_scan = {r.ratio:.3f}  (target <= 0.25: {verdict};"
        f" {r.bill_seconds:.3f} vs {r.scan_seconds:.3f} s; peak {r.bill_peak_mib:.0f} MiB)"
    )
    size = f"{r.cdrs:,} CDRs, {r.partners:,} partners"
    summary.record("billrun_vs_scan", r.ratio, "postgresql", size)
    summary.record("billrun_memory_mib", r.bill_peak_mib, "postgresql", size)


def _http_stack(choice: str) -> str:
    """uvicorn's 'auto' choices: httptools and uvloop when installed, else h11 and asyncio's loop."""
    from importlib.util import find_spec

    if choice == "h11":
        return "h11 + asyncio (forced)"
    http = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"{http} + {loop}"


def _grant_settings() -> str:
    from openability.config import Settings

    s = Settings()
    return f"window {s.grant_window_seconds}s, min {s.grant_min_calls} calls, ttl {s.grant_ttl_seconds}s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CI): checks the benchmarks run")
    ap.add_argument(
        "--only",
        choices=["http", "cdr", "spread", "workers", "billrun"],
        help="run one benchmark (spread: calls over many partners vs one hot partner, needs wrk;"
        " workers: 1 vs 2 uvicorn workers, PostgreSQL only; billrun: PostgreSQL only)",
    )
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], help="one backend only")
    ap.add_argument("--seconds", type=int, help="load duration per route")
    ap.add_argument("--connections", type=int, help="concurrent connections")
    ap.add_argument("--cdrs", type=int, help="CDRs to write")
    ap.add_argument(
        "--partners", type=int, help="spread: partners of the uniform run (1000; 0: no uniform run)"
    )
    ap.add_argument(
        "--zipf-partners", type=int, help="spread: partners of the Zipf run (100000; 0: no Zipf run)"
    )
    ap.add_argument("--zipf", type=float, default=ZIPF_S, help=f"spread: Zipf exponent s ({ZIPF_S})")
    ap.add_argument("--cdrs-month", type=int, help="billrun: CDRs in the billed month (10,000,000)")
    ap.add_argument("--billrun-partners", type=int, help="billrun: partners (10,000), 3 products each")
    ap.add_argument(
        "--rounds",
        type=int,
        help="http, spread, workers: rounds of the compared loads interleaved A/B/A/B, median reported (3)",
    )
    ap.add_argument("--warmup", type=int, help="spread: seconds of spread load before measuring (5)")
    ap.add_argument(
        "--pin", action="store_true", help="taskset: the server on CPU 0, the load generator (wrk) on CPU 1"
    )
    ap.add_argument(
        "--no-touch-all",
        action="store_true",
        help="spread: no warm-up call per partner (by default every partner is called once first)",
    )
    ap.add_argument(
        "--http-stack",
        choices=["auto", "h11"],
        default="auto",
        help="uvicorn's HTTP parser and event loop: auto (httptools + uvloop when installed) or h11 + asyncio",
    )
    ap.add_argument(
        "--server",
        choices=list(http_bench.SERVERS),
        default="uvicorn",
        help="http: the server the bench app runs on (granian: its ASGI interface, uvloop)",
    )
    ap.add_argument(
        "--routes", help=f"comma-separated routes to load (default all: {', '.join(http_bench.ROUTES)})"
    )
    args = ap.parse_args(argv)
    routes = [r for r in args.routes.split(",") if r] if args.routes else None
    if routes is not None and ("charged_sms" not in routes or set(routes) - set(http_bench.ROUTES)):
        ap.error(f"--routes must include charged_sms and name only {', '.join(http_bench.ROUTES)}")
    size: dict[str, int] = dict(SMOKE if args.smoke else FULL)
    for k in size:
        if getattr(args, k) is not None:
            size[k] = getattr(args, k)
    chosen = [args.backend] if args.backend else backends()
    if "postgresql" in chosen and not os.environ.get("OPENABILITY_TEST_DATABASE_URL"):
        ap.error("PostgreSQL needs OPENABILITY_TEST_DATABASE_URL")
    print(
        f"openability benchmarks ({'smoke' if args.smoke else 'full'} size {size}); "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, backends {chosen};"
        f" http, spread and workers: {size['rounds']} interleaved round(s), medians"
    )
    print(f"uvicorn HTTP stack: {_http_stack(args.http_stack)}; grant settings: {_grant_settings()}")
    with tempfile.TemporaryDirectory(prefix="oa-bench-") as tmp:
        workdir = Path(tmp)
        for backend in chosen:
            if args.only in (None, "http"):
                _http(
                    backend,
                    workdir,
                    size["seconds"],
                    size["connections"],
                    args.http_stack,
                    args.pin,
                    routes,
                    args.server,
                    size["rounds"],
                )
            if args.only in (None, "cdr"):
                _cdr(backend, workdir, size["cdrs"])
            if backend == "postgresql" and args.only in (None, "billrun"):
                _billrun(workdir, size["billrun_partners"], size["cdrs_month"])
            # The spread benchmark needs wrk (it drives many tokens).
            if args.only == "spread" or (args.only is None and http_bench.has_wrk()):
                for n, zipf in ((size["partners"], None), (size["zipf_partners"], args.zipf)):
                    _spread(
                        backend,
                        workdir,
                        size["seconds"],
                        size["connections"],
                        n,
                        zipf,
                        size["warmup"],
                        args.pin and spread_bench.can_pin(),
                        not args.no_touch_all,
                        size["rounds"],
                    )
            if args.only in (None, "workers") and backend == "postgresql":
                with fresh_database(backend, workdir) as url:
                    workers_bench.run(
                        backend, url, workdir / "workers", size["seconds"], size["connections"],
                        size["warmup"], args.pin, size["rounds"],
                    )  # fmt: skip
        if args.only == "workers" and "postgresql" not in chosen:
            print("\n[workers] not run: PostgreSQL only (set OPENABILITY_TEST_DATABASE_URL)")
    summary.print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
