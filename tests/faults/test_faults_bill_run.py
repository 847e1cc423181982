"""Fault: the bill run killed mid-run and run again (issue 8, docs/reliability.md "Fault tests").

Last month's usage of many prepaid partners (CDRs written by the CDR writer: rollups and charges as the
gateway books them; graduated prices, so most statements carry a true-up credited back) is copied into
two databases. On the first, the bill-run job for month M runs uninterrupted (in the test's process). On
the second, `openability jobs run bill-run --period M` is killed with SIGKILL once about a third of the statements exist and run
again once the dead run's claim on the period (its lease, 2 s here) has expired: it takes the period
over, makes the statements still missing and finishes. The statements, their lines, every partner's balances
and the journal entries of the two databases must be the same, and the audit clean on both
(R-BILL-02: a month is billed once; R-BILL-10: every money movement once).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from faultkit import Template, cloned
from sqlalchemy import func, select

from openability.bootstrap import build_container
from openability.charging.cdr_writer import CdrWriter
from openability.charging.types import CdrRecord
from openability.config import Settings
from openability.kernel.clock import SHANGHAI, FrozenClock, business_date, month_key, previous_month
from openability.kernel.db import make_engine, make_sessionmaker
from openability.kernel.ids import new_id

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

PARTNERS = 60
LEASE_SECONDS = 2.0
OPENABILITY = str(Path(sys.executable).with_name("openability"))


def _gateway_world() -> ModuleType:
    """tests/gateway/conftest.py (partners, products with tiered plans, top-ups), loaded by path."""
    if "gateway_world" in sys.modules:
        return sys.modules["gateway_world"]
    path = Path(__file__).resolve().parents[1] / "gateway" / "conftest.py"
    spec = importlib.util.spec_from_file_location("gateway_world", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gateway_world"] = mod
    spec.loader.exec_module(mod)
    return mod


async def _seed_usage(url: str, data_dir: Path, month: str) -> int:
    """PARTNERS prepaid partners, each with 2-4 calls on days of `month` through the CDR writer; SMS at
    0.05 a unit, 0.04 from the 1000th of the month: real time charged every unit 0.05, so a partner past
    1000 units gets a true-up. Returns the CDRs written."""
    gw = _gateway_world()
    first = datetime(int(month[:4]), int(month[5:7]), 1, 12, tzinfo=SHANGHAI)
    clock = FrozenClock(first)
    c = build_container(
        Settings(database_url=url, data_dir=data_dir, _env_file=None), clock=clock, engine=make_engine(url)
    )
    writer = CdrWriter(c)
    written = 0
    try:
        product = await gw.make_product(c, "sms", valid_from=first - timedelta(days=40))
        async with c.uow() as uow:
            from openability.catalog import service as catalog

            rating = await catalog.product_rating(uow, product)
            assert rating is not None
            plan_id = rating.plans[0].plan_id
        await writer.start()
        for i in range(PARTNERS):
            world = await gw.make_world(
                c, balance=Decimal("500.0000"), caps=("sms",), products={"sms": product}
            )
            for j, units in enumerate((300 + 7 * i, 450, 150 + i)[: 2 + i % 2]):
                at = first + timedelta(days=1 + (i + 5 * j) % 27)
                await writer.write(
                    CdrRecord(
                        new_id("cdr"),
                        world.partner_id,
                        product,
                        "sms",
                        "sendMessage",
                        world.client_id,
                        new_id("req"),
                        "",
                        units,
                        "segment",
                        Decimal("0.0500") * units,
                        "prepaid",
                        plan_id,
                        "list",
                        "national",
                        month,
                        None,
                        at,
                        business_date(at),
                        ["+8613800138000"],
                        {},
                        [],
                    )
                )
                written += 1
    finally:
        await writer.stop()
        await c.dispose()
    return written


def _bill_run(url: str, workdir: Path, month: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OPENABILITY_DATABASE_URL": url,
        "OPENABILITY_DATA_DIR": str(workdir / "cli"),
        "OPENABILITY_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    env.pop("OPENABILITY_TEST_DATABASE_URL", None)
    return subprocess.Popen(
        [OPENABILITY, "jobs", "run", "bill-run", "--period", month],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def _bill_in_process(url: str, data_dir: Path, month: str) -> str:
    """The same job run uninterrupted, in this process (what the command runs, without its start-up)."""
    from openability.jobs.scheduler import run_job
    from openability.jobs_catalog import all_jobs

    c = build_container(
        Settings(database_url=url, data_dir=data_dir, _env_file=None), engine=make_engine(url)
    )
    try:
        return str(await run_job(c, all_jobs()["bill-run"], period=month))
    finally:
        await c.dispose()


def _finish(proc: subprocess.Popen[bytes]) -> str:
    out, _ = proc.communicate(timeout=120)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "Traceback" not in text, text
    return text


async def _statements(
    url: str, month: str, *, until: int = 0, proc: subprocess.Popen[bytes] | None = None
) -> int:
    """The month's statements; with `until`, polled (one connection) until there are that many."""
    from openability.billing.models import Statement

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            while True:
                n = int(
                    await conn.scalar(
                        select(func.count()).select_from(Statement).where(Statement.month == month)
                    )
                    or 0
                )
                await conn.rollback()
                if n >= until:
                    return n
                assert proc is None or proc.poll() is None, f"the bill run ended before it was killed ({n})"
                await asyncio.sleep(0.005)
    finally:
        await engine.dispose()


async def _billed(url: str, month: str) -> dict[str, Any]:
    """What a bill run leaves, without ids and times: statements with their lines, the bill run, every
    partner's balances, the journal entries by kind, the month's job run, and the audit."""
    from openability.billing.models import BillRun, Statement, StatementLine
    from openability.integrity import run_audit
    from openability.jobs.registry import JobRun
    from openability.ledger import service as ledger
    from openability.ledger.models import JournalEntry
    from openability.partners.models import Partner

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            stmts = (await s.scalars(select(Statement).where(Statement.month == month))).all()
            lines = (await s.scalars(select(StatementLine))).all()
            by_stmt: dict[str, list[tuple[Any, ...]]] = {}
            for ln in lines:
                by_stmt.setdefault(ln.statement_id, []).append(
                    (
                        ln.seq,
                        ln.kind,
                        ln.product_id,
                        ln.price_plan_id,
                        ln.plan_version,
                        ln.band,
                        ln.scope,
                        ln.tier_from,
                        ln.tier_to,
                        ln.units,
                        ln.unit_price,
                        ln.amount,
                        ln.description,
                    )
                )
            statements = {
                st.partner_id: (
                    st.state,
                    st.billing_mode,
                    st.calls,
                    st.quantity,
                    st.provisional,
                    st.exact,
                    st.adjustments,
                    st.rounding,
                    st.total,
                    st.true_up,
                    st.undercharge,
                    st.note,
                    sorted(by_stmt.get(st.id, [])),
                )
                for st in stmts
            }
            run = await s.get(BillRun, month)
            balances = {
                pid: await ledger.balances(s, pid) for pid in (await s.scalars(select(Partner.id))).all()
            }
            kinds = Counter((await s.scalars(select(JournalEntry.kind))).all())
            job = await s.scalar(select(JobRun).where(JobRun.job == "bill-run", JobRun.period == month))
            audit = await run_audit(s)
        return {
            "statements": statements,
            "run": (run.state, run.statements, run.total) if run else None,
            "balances": balances,
            "entries": kinds,
            "job": (job.finished_at is not None, job.attempts) if job else None,
            "audit": audit,
        }
    finally:
        await engine.dispose()


def test_r_bill_02_r_bill_10_bill_run_killed_mid_run_and_run_again_equals_an_uninterrupted_run(
    template: Template, tmp_path: Path
) -> None:
    # R-BILL-02 R-BILL-10
    month = previous_month(month_key(datetime.now(SHANGHAI)))  # over: its bill run is due
    with cloned(template, tmp_path) as seeded:
        t0 = time.monotonic()
        cdrs = asyncio.run(_seed_usage(seeded.url, tmp_path / "seed", month))
        seed_s = time.monotonic() - t0
        seeded_db = seeded.url.rsplit("/", 1)[1]
        with (
            cloned(template.__class__(seeded_db, "", ""), tmp_path) as whole,
            cloned(template.__class__(seeded_db, "", ""), tmp_path) as killed,
        ):
            t0 = time.monotonic()
            whole_out = asyncio.run(_bill_in_process(whole.url, tmp_path / "whole", month))
            uninterrupted_s = time.monotonic() - t0

            proc = _bill_run(killed.url, tmp_path, month)
            asyncio.run(_statements(killed.url, month, until=PARTNERS // 3, proc=proc))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            assert proc.stdout is not None
            proc.stdout.close()
            at_kill = asyncio.run(_statements(killed.url, month))
            time.sleep(LEASE_SECONDS)  # the dead run's claim on the period expires
            t0 = time.monotonic()
            rerun_out = _finish(_bill_run(killed.url, tmp_path, month))
            rerun_s = time.monotonic() - t0

            a, b = asyncio.run(_billed(whole.url, month)), asyncio.run(_billed(killed.url, month))
    figures = {
        "partners": PARTNERS,
        "CDRs": cdrs,
        "seeded in s": round(seed_s, 1),
        "uninterrupted s": round(uninterrupted_s, 1),
        "statements at the kill": at_kill,
        "statements after the re-run": len(b["statements"]),
        "re-run s": round(rerun_s, 1),
        "adjustment entries": b["entries"].get("adjustment", 0),
        "job attempts": b["job"],
        "audit": (len(a["audit"]), len(b["audit"])),
    }
    print(f"\nbill run killed: {figures}\nuninterrupted: {whole_out.strip()}\nre-run: {rerun_out.strip()}")
    assert 0 < at_kill < PARTNERS, figures  # killed mid-run
    assert f"{PARTNERS - at_kill} statement(s) made, {PARTNERS} in all" in rerun_out, rerun_out
    assert len(a["statements"]) == PARTNERS, figures
    assert a["audit"] == [] and b["audit"] == [], (a["audit"], b["audit"])
    assert b["statements"] == a["statements"]
    assert b["run"] == a["run"] and a["run"] is not None and a["run"][1] == PARTNERS
    assert b["balances"] == a["balances"]
    assert b["entries"] == a["entries"]
    assert a["job"] == (True, 1) and b["job"] == (True, 2), figures  # the killed run's claim taken over
    assert sum(1 for st in a["statements"].values() if st[9] > 0) > PARTNERS // 2  # true-ups were booked
