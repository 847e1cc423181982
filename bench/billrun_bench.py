"""Bill run vs. a bare GROUP BY scan of the month's CDRs (PostgreSQL; DESIGN.md "Benchmarks", issue 9).

The world: the demo catalog and one partner seeded with the real services (bench/world.py), N - 1 more
cloned set-wise (bench/spread_bench.py `clone_partners`: accounts, order, a funded top-up); then for one
closed month (BENCH_MONTH):

* one CHARGE journal entry per partner (`ledger.post`, debit prepaid:available, credit revenue) for the
  money of its CDRs, computed before they exist, so the ledger audit holds;
* the CDRs, `cdrs` rows, written with COPY (text format, generated in Python in chunks): partner
  i % N, product (i // N) % 3 (sms-standard, mms-standard, voice-notify), spread over the month's days
  in Asia/Shanghai time, each priced at its plan's first tier (so the exact re-rate of this volume gives
  the same money: no true-up), pointing to its partner's CHARGE entry;
* the daily rollups the CDR writer keeps (usage_daily), built from those CDRs with one INSERT … SELECT
  … GROUP BY (the CDR writer's key: partner, product, Asia/Shanghai day, price version, band, scope),
  and the monthly rollups it keeps next to them (usage_monthly, what the bill run reads) summed from
  those (charging/rollups.py `rebuild_monthly`).

Measured: the real bill run (`billing.statements.bill_run`, what the `bill-run` job runs) in a
subprocess (its peak RSS from `resource.getrusage`, ru_maxrss), timed inside the subprocess from its
first query to its result (the ORM's mappers configured before: process start-up); against one bare `SELECT partner_id, product_id, sum(amount), count(*) FROM
usage_records WHERE month = … GROUP BY 1, 2` (after one untimed warm-up run of the same scan, so both
read a warm cache). The bill run reads rollups, so its cost grows with partners x products x days,
the scan's with calls: target ratio <= 0.25 and peak memory < 1 GiB."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

BENCH_MONTH = "2026-10"  # 31 days
BILL_RUN_AT = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)  # after the month's bill run is due
PRODUCTS = ("sms-standard", "mms-standard", "voice-notify")
COPY_CHUNK = 50_000
COLUMNS = (
    "id",
    "partner_id",
    "product_id",
    "capability",
    "operation",
    "client_id",
    "request_key",
    "quantity",
    "unit",
    "amount",
    "billing_mode",
    "price_plan_id",
    "band",
    "scope",
    "month",
    "grant_id",
    "journal_entry_id",
    "occurred_at",
    "recipients",
    "response",
    "request_hash",
)


@dataclass(frozen=True)
class BillRunFigures:
    partners: int
    cdrs: int
    rollups: int
    setup_seconds: float  # partners, entries
    copy_seconds: float  # the CDRs' COPY
    index_seconds: float  # their keys and indexes, and the ATTACH
    rollup_seconds: float  # usage_daily from the CDRs
    scan_seconds: float
    scan_groups: int
    bill_seconds: float
    bill_statements: int
    bill_peak_mib: float
    audit: list[str]

    @property
    def ratio(self) -> float:
        return self.bill_seconds / max(self.scan_seconds, 1e-9)


@dataclass(frozen=True)
class _Product:
    id: str
    capability: str
    unit: str
    plan_id: str
    band: str
    scope: str
    units: int  # first-tier price in 0.0001 CNY


def _counts(cdrs: int, partners: int, p: int) -> list[int]:
    """CDRs of partner p per product (the generator's assignment, computed without generating)."""
    j = cdrs // partners + (1 if p < cdrs % partners else 0)
    return [(j - k + 2) // 3 for k in range(3)]


async def _products(c: Any) -> list[_Product]:
    from openability.catalog import service as catalog

    out = []
    async with c.uow() as uow:
        for code in PRODUCTS:
            rows = await uow.session.execute(text("SELECT id FROM products WHERE code = :c"), {"c": code})
            pid = str(rows.scalar_one())
            rating = await catalog.product_rating(uow, pid)
            assert rating is not None and rating.plans, code
            plan = rating.plans[-1]
            (scope, band), tiers = next(iter(sorted(plan.tiers.items())))
            out.append(
                _Product(
                    pid, rating.capability, rating.unit, plan.plan_id, band, scope, int(tiers[0][1] * 10_000)
                )
            )
    return out


async def _charge_entries(c: Any, pids: list[str], products: list[_Product], cdrs: int) -> list[str]:
    """One CHARGE entry per partner for the money of its CDRs of the month; returns the entry ids."""
    from openability.ledger import service as ledger
    from openability.ledger.types import PLATFORM, AccountType, EntryKind

    at = datetime(2026, 10, 31, 15, 0, tzinfo=UTC)  # the month's last day, Shanghai evening
    ids: list[str] = []
    for start in range(0, len(pids), 500):
        chunk = pids[start : start + 500]
        async with c.uow() as uow:
            refs = await ledger.account_refs(uow.session, {PLATFORM, *chunk})
            revenue = refs[(PLATFORM, AccountType.REVENUE)]
            for i, pid in enumerate(chunk, start=start):
                total = sum(
                    (
                        Decimal(n * pr.units) / 10_000
                        for n, pr in zip(_counts(cdrs, len(pids), i), products, strict=True)
                    ),
                    Decimal(0),
                )
                available = refs[(pid, AccountType.PREPAID_AVAILABLE)]
                entry = await ledger.post(
                    uow.session,
                    kind=EntryKind.CHARGE,
                    legs=sorted(
                        [ledger.debit(available, total), ledger.credit(revenue, total)],
                        key=lambda leg: leg.account.id,
                    ),
                    now=at,
                    memo=f"bench: CDRs of {BENCH_MONTH}",
                )
                ids.append(entry.id)
    return ids


def _lines(start: int, stop: int, pids: list[str], entries: list[str], products: list[_Product]) -> bytes:
    n = len(pids)
    y, m = int(BENCH_MONTH[:4]), int(BENCH_MONTH[5:])
    days = 31
    pre = [
        (
            pr.id,
            f"{pr.capability}\tsend\tcli_bench",
            f"1\t{pr.unit}\t{pr.units}\tprepaid\t{pr.plan_id}\t{pr.band}\t{pr.scope}\t{BENCH_MONTH}\t\\N",
        )
        for pr in products
    ]
    tail = '\t["+8613800138000"]\t{}\t'
    out = []
    for i in range(start, stop):
        p = i % n
        j = i // n
        prod, mid, rest = pre[j % 3]
        day = j % days + 1
        sec = (i * 7919) % 86_400
        out.append(
            f"ur{i:013d}\t{pids[p]}\t{prod}\t{mid}\tk{i}\t{rest}\t{entries[p]}\t"
            f"{y:04d}-{m:02d}-{day:02d} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}+08{tail}\n"
        )
    return "".join(out).encode()


async def _copy_cdrs(
    url: str, cdrs: int, pids: list[str], entries: list[str], products: list[_Product]
) -> tuple[float, float]:
    """The month's CDRs loaded as a bulk load of a month is done on a partitioned table: COPY into a
    standalone table shaped like usage_records, build its keys and indexes, ATTACH it as the month's
    partition (PostgreSQL adopts the matching indexes and checks the foreign keys set-wise). Returns
    (COPY seconds, index + attach seconds)."""
    import asyncpg

    from openability.charging.partitions import PARENT, partition_name

    name = partition_name(BENCH_MONTH)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")

        async def chunks() -> Any:
            for start in range(0, cdrs, COPY_CHUNK):
                yield _lines(start, min(start + COPY_CHUNK, cdrs), pids, entries, products)

        t0 = time.perf_counter()
        await conn.copy_to_table(name, source=chunks(), columns=list(COLUMNS), format="text")
        t1 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for sql in (
            f"ALTER TABLE {name} ADD PRIMARY KEY (id, partner_id, month)",
            f"ALTER TABLE {name} ADD UNIQUE (partner_id, request_key, month)",
            f"CREATE INDEX ON {name} (partner_id, occurred_at)",
            f"CREATE INDEX ON {name} (journal_entry_id, partner_id)",
            f"CREATE INDEX ON {name} (month, partner_id)",
            f"ALTER TABLE {name} ADD CHECK (month = '{BENCH_MONTH}')",  # ATTACH then skips its scan
            f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES IN ('{BENCH_MONTH}')",
        ):
            await conn.execute(sql)
        return t1 - t0, time.perf_counter() - t1
    finally:
        await conn.close()


ROLLUPS_SQL = """
INSERT INTO usage_daily (partner_id, product_id, day, price_plan_id, band, scope, month, calls, quantity, amount)
SELECT partner_id, product_id, (occurred_at AT TIME ZONE 'Asia/Shanghai')::date, price_plan_id, band, scope,
       month, count(*), sum(quantity), sum(amount)
FROM usage_records WHERE month = :m
GROUP BY partner_id, product_id, (occurred_at AT TIME ZONE 'Asia/Shanghai')::date, price_plan_id, band, scope, month
"""
SCAN_SQL = (
    "SELECT partner_id, product_id, sum(amount), count(*) FROM usage_records WHERE month = $1 GROUP BY 1, 2"
)


async def _scan(url: str) -> tuple[float, int]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        t0 = time.perf_counter()
        rows = await conn.fetch(SCAN_SQL, BENCH_MONTH)
        return time.perf_counter() - t0, len(rows)
    finally:
        await conn.close()


def _bill_run_subprocess(url: str, data: Path) -> dict[str, Any]:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bench.billrun_bench", url, str(data)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bill run subprocess failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


async def _bill_run_here(url: str, data: Path) -> dict[str, Any]:
    """In the subprocess: the real bill run of BENCH_MONTH on a clock after its due time."""
    from sqlalchemy.orm import configure_mappers

    from bench.world import OPERATOR
    from openability.billing import statements
    from openability.bootstrap import build_container
    from openability.config import Settings
    from openability.kernel.clock import FrozenClock
    from openability.kernel.db import make_engine

    settings = Settings(
        database_url=url, data_dir=data, smsc_enabled=False, run_test_smsc=False, _env_file=None
    )  # type: ignore[call-arg]
    c = build_container(settings, clock=FrozenClock(BILL_RUN_AT), engine=make_engine(url))
    # The ORM's mappers are configured by a process's first query (~1-2 s for the platform's models
    # on the shared machine): process start-up, which the jobs runner and the web workers pay once, not
    # the bill run's work. Done before the timer, as the scan's connection and warm-up are.
    configure_mappers()
    try:
        t0 = time.perf_counter()
        res = await statements.bill_run(c, BENCH_MONTH, actor=OPERATOR)
        seconds = time.perf_counter() - t0
    finally:
        await c.dispose()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "seconds": seconds,
        "statements": res.statements,
        "created": res.created,
        "peak_mib": peak_kib / 1024,
    }


async def _setup(url: str, data: Path, partners: int, cdrs: int) -> tuple[int, float, float, float, float]:
    from bench.spread_bench import clone_partners
    from bench.world import container_for, seed_account
    from openability.charging.rollups import rebuild_monthly

    t0 = time.perf_counter()
    c = container_for(url, data)
    try:
        template = await seed_account(c)
        await clone_partners(c, template, partners)
        products = await _products(c)
        async with c.uow() as uow:
            pids = [
                str(p) for p in (await uow.session.scalars(text("SELECT id FROM partners ORDER BY id"))).all()
            ]
        assert len(pids) == partners, (len(pids), partners)
        entries = await _charge_entries(c, pids, products, cdrs)
    finally:
        await c.dispose()
    setup = time.perf_counter() - t0
    copy, index = await _copy_cdrs(url, cdrs, pids, entries, products)
    c = container_for(url, data)
    try:
        t2 = time.perf_counter()
        async with c.engine.begin() as conn:
            rollups = (await conn.execute(text(ROLLUPS_SQL), {"m": BENCH_MONTH})).rowcount
            # the monthly rollups the CDR writer keeps next to the daily ones, summed from them
            await rebuild_monthly(conn, BENCH_MONTH)
        async with c.engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("ANALYZE usage_records"))
            await conn.execute(text("ANALYZE usage_daily"))
            await conn.execute(text("ANALYZE usage_monthly"))
        roll = time.perf_counter() - t2
    finally:
        await c.dispose()
    return int(rollups or 0), setup, copy, index, roll


async def _partitions(url: str, data: Path) -> None:
    from bench.world import container_for
    from openability.charging.partitions import ensure_partitions

    c = container_for(url, data)
    try:
        # the months after the benchmark's (the month's own is bulk-loaded and attached: _copy_cdrs)
        await ensure_partitions(c.engine, datetime(2026, 11, 10, 2, 0, tzinfo=UTC))
    finally:
        await c.dispose()


def run_billrun_bench(url: str, data: Path, partners: int, cdrs: int) -> BillRunFigures:
    from bench.world import audit, container_for

    asyncio.run(_partitions(url, data))
    rollups, setup, copy, index, roll = asyncio.run(_setup(url, data, partners, cdrs))
    asyncio.run(_scan(url))  # warm-up: both measurements read a warm cache
    scan, groups = asyncio.run(_scan(url))
    bill = _bill_run_subprocess(url, data)

    async def check() -> list[str]:
        c = container_for(url, data)
        try:
            return await audit(c)
        finally:
            await c.dispose()

    return BillRunFigures(
        partners,
        cdrs,
        rollups,
        setup,
        copy,
        index,
        roll,
        scan,
        groups,
        float(bill["seconds"]),
        int(bill["statements"]),
        float(bill["peak_mib"]),
        asyncio.run(check()),
    )


if __name__ == "__main__":  # the bill run's subprocess
    result = asyncio.run(_bill_run_here(sys.argv[1], Path(sys.argv[2])))
    print(json.dumps(result))
