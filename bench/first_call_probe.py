"""A partner's first call at full load, against one hot partner's calls (issue 9, the Zipf target).

    python -m bench.first_call_probe [--partners 40000] [--seconds 5] [--rounds 2] [--pyspy FILE]

N funded partners are cloned as the spread benchmark does (bench/spread_bench.py); the server runs
pinned to CPU 0 and `wrk -t1 -c64` to CPU 1. Each round loads one hot partner, then partners not
called before, each call a different partner's first call (its token, partner and orders loaded, its
month's volume block and its grant opened). Printed per load: req/s, the server's CPU per call and
PostgreSQL's (every process of the `postgres` user, from /proc: backends, WAL writer, autovacuum).
With the `pg_stat_statements` extension loaded, the statements of the first round's cold load are
printed, slowest first. `--pyspy FILE` records the server during the last cold load (py-spy raw
format: `python -m bench.pyspy_breakdown FILE`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import http_bench, spread_bench
from bench.world import backends, container_for, fresh_database, seed_account


def postgres_cpu_seconds() -> float:
    """CPU time so far of every process of the postgres user (0 when there is none)."""
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return 0.0
    ticks = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if d.stat().st_uid != uid:
                continue
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _sql(url: str, query: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


_TOP = """SELECT calls, round(total_exec_time::numeric, 1) AS ms,
  left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS q
FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC LIMIT 12"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--partners", type=int, default=40_000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pyspy", default="")
    args = ap.parse_args()
    if "postgresql" not in backends():
        raise SystemExit("set OPENABILITY_TEST_DATABASE_URL to a PostgreSQL database")
    work = Path(tempfile.mkdtemp(prefix="oa-first-call-"))
    with fresh_database("postgresql", work) as url:
        data = work / "data"

        async def seed() -> list[str]:
            c = container_for(url, data)
            try:
                return await spread_bench.clone_partners(c, await seed_account(c), args.partners)
            finally:
                await c.dispose()

        tokens = asyncio.run(seed())
        try:
            asyncio.run(_sql(url, "SELECT pg_stat_statements_reset()"))
            statements = True
        except Exception:  # the extension is not loaded: no statement list
            statements = False
        with http_bench.BenchServer(url, data, pin=True) as server:
            spread_bench.measure(server, "warm-up", tokens, [0], 2, 64, True)
            pid = http_bench.worker_pids(server)[0]
            nxt = 1
            for rnd in range(args.rounds):
                p0 = postgres_cpu_seconds()
                hot = spread_bench.measure(server, "hot", tokens, [0], args.seconds, 64, True)
                p1 = postgres_cpu_seconds()
                if statements and rnd == 0:
                    asyncio.run(_sql(url, "SELECT pg_stat_statements_reset()"))
                spy = None
                if args.pyspy and rnd == args.rounds - 1:
                    cmd = ["py-spy", "record", "--nonblocking", "-r", "250", "-f", "raw", "--nolineno"]
                    spy = subprocess.Popen(
                        [*cmd, "-o", args.pyspy, "-p", str(pid)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(0.5)
                chunk = tokens[nxt:]
                cold = spread_bench.measure(
                    server, "first", chunk, list(range(len(chunk))), args.seconds, 64, True
                )
                p2 = postgres_cpu_seconds()
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait()
                nxt += cold.requests + 64  # wrk may have sent a few more than it counted
                if statements and rnd == 0:
                    print("statements of the first-call load (calls, total ms, statement):")
                    for r in asyncio.run(_sql(url, _TOP)):
                        print(f"  {r['calls']:6d} {r['ms']:9.1f}  {r['q']}")
                for x, pg in ((hot, p1 - p0), (cold, p2 - p1)):
                    cpu = x.cpu_ms_per_call
                    print(
                        f"round {rnd + 1} {x.route:5s} {x.rps:7.0f} req/s (2xx {x.ok} of {x.requests}),"
                        f" server CPU {cpu if cpu is not None else float('nan'):.3f} ms/call,"
                        f" PostgreSQL CPU {pg * 1000 / max(1, x.requests):.3f} ms/call,"
                        f" mean latency {x.latency_ms:.1f} ms",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
