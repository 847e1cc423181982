"""The CDR writer's one statement per batch (charging/cdr_pg.py), timed on ONE connection: the
statement's backend CPU per batch (/proc/<pid>/schedstat of its PostgreSQL backend) and this
process's CPU per batch (building the rows and arguments, the driver's encoding). Steadier than the
wall-clock `--only cdr` ratio on a shared machine, and what docs/benchmarks.md "Pass 5" compares.

    python -m bench.cdr_statement_probe [--batches 400] [--size 30] [--partners 1]

`--partners N` > 1: N funded partners (bench/spread_bench.py's clones), each batch's CDRs on `size`
of them (the spread case); 1: every CDR on one partner's grant (the hot case). Needs
OPENABILITY_TEST_DATABASE_URL (a fresh database is made and dropped) and PostgreSQL on this host."""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select, text

from bench.cdr_bench import PRICE, _cdr, _run_seconds, _typed
from bench.spread_bench import clone_partners
from bench.world import container_for, fresh_database, seed_account
from openability.charging import cdr_pg
from openability.charging.cdr_writer import CdrWriter
from openability.charging.grants import GrantManager
from openability.charging.types import CdrRecord
from openability.kernel.clock import business_date
from openability.kernel.ids import new_id
from openability.ledger.types import PLATFORM, AccountType

WARM = 8  # batches before the timer: the generic plan is used from the sixth execution on


async def probe(url: str, data: Path, batches: int, size: int, partners: int) -> str:
    c = container_for(url, data)
    try:
        acct = await seed_account(c)
        from openability.catalog.models import PricePlan

        async with c.uow() as uow:
            plan_id = await uow.session.scalar(
                select(PricePlan.id).where(PricePlan.product_id == acct.product_id).limit(1)
            )
        assert plan_id is not None
        await clone_partners(c, acct, partners)
        async with c.uow() as uow:
            pids = list((await uow.session.scalars(text("SELECT id FROM partners ORDER BY id"))).all())
        rng = random.Random(7)
        used = rng.sample(pids, min(len(pids), max(size, 200))) if partners > 1 else [acct.partner_id]
        gm = GrantManager(c, "probe")
        total = batches + WARM + 1
        grants = {p: (await gm.reserve(p, PRICE * size * total)).grant_id for p in used}
        now = c.clock.now()
        day = business_date(now)
        # One batch through the writer: its account ids and the revenue shards, as in a worker.
        writer = CdrWriter(c)
        await writer.start()
        first = [_cdr(i, p, acct.product_id, plan_id, grants[p], now, "warm") for i, p in enumerate(used)]
        await asyncio.gather(*(writer.write(_typed(r, m, day)) for r, m in first))
        await writer.stop()
        todo: list[list[CdrRecord]] = []
        for b in range(total):
            owners = rng.sample(used, size) if partners > 1 else [used[0]] * size
            todo.append(
                [
                    _typed(*_cdr(b * size + i, p, acct.product_id, plan_id, grants[p], now, "p"), day)
                    for i, p in enumerate(owners)
                ]
            )
        w: Any = writer
        extra = {"revenue_shards": w._shards} if hasattr(w, "_shards") else {}
        fallback = w._account(PLATFORM, AccountType.REVENUE).id

        def args(recs: list[CdrRecord]) -> list[Any]:
            pg = cdr_pg.batch_args(
                recs,
                set(),
                w._accounts,
                entry_id=new_id("je"),
                ref_id=new_id("cb"),
                now=now,
                revenue_fallback=fallback,
                **extra,
            )
            return pg.args()

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            pid = conn.get_server_pid()
            for recs in todo[:WARM]:
                await conn.fetchrow(cdr_pg.SQL, *args(recs))
            be0, py0, t0 = _run_seconds(pid), time.process_time(), time.perf_counter()
            for recs in todo[WARM : WARM + batches]:
                await conn.fetchrow(cdr_pg.SQL, *args(recs))
            wall, py = time.perf_counter() - t0, time.process_time() - py0
            be = (_run_seconds(pid) or 0.0) - (be0 or 0.0)
            plans = await conn.fetchval(
                "SELECT max(generic_plans) || ' generic, ' || max(custom_plans) || ' custom' "
                "FROM pg_prepared_statements WHERE generic_plans + custom_plans > 1"
            )
        finally:
            await conn.close()
        ms = 1000 / batches
        return (
            f"PROBE batches={batches} size={size} partners={partners}: statement backend CPU "
            f"{be * ms:.3f} ms/batch, this process {py * ms:.3f} ms/batch, wall {wall * ms:.3f} ms/batch "
            f"(plans: {plans})"
        )
    finally:
        await c.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--batches", type=int, default=400)
    ap.add_argument("--size", type=int, default=30)
    ap.add_argument("--partners", type=int, default=1)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, fresh_database("postgresql", Path(d)) as url:
        print(asyncio.run(probe(url, Path(d), a.batches, a.size, a.partners)))


if __name__ == "__main__":
    main()
