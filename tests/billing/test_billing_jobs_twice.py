"""Every billing job, run twice or from two schedulers at once, changes nothing the second time (issue 7).

For each job `jobs_catalog.all_jobs()` has from the billing domain, a postpaid and a prepaid month with
real gateway usage is played up to the job's instant; then two schedulers (two platforms, each with its
own engine, on the same database and clock) run the job at once: one claims its period and does the
work. A snapshot of every table (billing, ledger, charging, notifications, partners, audit: all but the
scheduler's own `job_runs`) is taken, and the job runs again: a plain run (its period is done), a forced
run from each scheduler at once and the job's work called directly besides (the claim is no part of the
safety). The snapshot after is the snapshot before. On PostgreSQL the runs are concurrent for real; on
SQLite the writers queue."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openability.bootstrap import Container, build_container
from openability.jobs.registry import Job
from openability.jobs.scheduler import run_job
from openability.jobs_catalog import all_jobs
from openability.kernel.clock import SHANGHAI
from openability.kernel.db import make_engine
from openability.models import metadata
from openability.partners import identity


def _load(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_HERE = Path(__file__).resolve().parent
statements_world = _load("statements_world", _HERE / "statements" / "conftest.py")
collections_world = _load("collections_world", _HERE / "collections" / "conftest.py")

client = statements_world.client
fakes = statements_world.fakes
kit = statements_world.kit
month = statements_world.month

D = Decimal

# The billing domain's jobs, as the scheduler has them.
BILLING_JOBS = sorted(n for n, j in all_jobs().items() if j.fn.__module__.startswith("openability.billing."))

# What each job's first run changes (so the second run has something it could do again).
FIRST_RUN_CHANGES = {
    "bill-run": "statements",
    "statement-issue": "statements",
    "statement-late-alert": "notifications",
    "deemed-confirmation": "statements",
    "prepaid-consumption-invoices": "invoices",  # with invoice_prepaid_mode=monthly
    "collections": "journal_entries",
    "collections-deferred": "journal_entries",
    "low-balance-alerts": "notifications",
}

# The scheduler's own bookkeeping: a forced run re-claims its period (attempts, lease, result).
NOT_SNAPSHOT = {"job_runs"}


def sh(month_: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month_, day, hour, minute, second, tzinfo=SHANGHAI)


async def snapshot(container: Container) -> dict[str, list[str]]:
    """Every row of every table but the scheduler's, as text, sorted."""
    out: dict[str, list[str]] = {}
    async with container.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in NOT_SNAPSHOT:
                continue
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out


@dataclass
class Calendar:
    """Two postpaid SIs (one with a deposit too small, one that files a payment notice in time and
    does not pay) and a prepaid AP with a low-balance alert, November's usage through the gateway, and
    the month's jobs in calendar order up to the job under test."""

    office: Any
    jobs: dict[str, Job]

    async def play_until(self, name: str) -> datetime:
        m, office = self.office.m, self.office
        async with office.container.uow() as uow:
            await identity.create_operator(uow, "clerk", "secret123abc", ["billing_clerk"])
        short = await office.postpaid(D("1.00"))
        notifier = await office.postpaid(D("100.00"))
        ap = await office.kit.make_world(office.container, balance=D("2.0000"), caps=("sms",))
        m.at(11, 12, 10)
        r = await office.http.put(
            f"/api/v1/accounts/{ap.partner_id}/low-balance-alert",
            json={"threshold": "1.50"},
            headers=office.clerk,
        )
        assert r.status_code == 200, r.text
        for w, units in ((short, 100), (notifier, 100), (ap, 20)):  # the AP falls to 1.00
            await m.send(w, units)
        # The gateway's grants returned now, as its housekeeping would do once they expire (at any
        # moment of real time): from here on nothing but the jobs writes.
        gateway = office.container.gateway
        assert gateway is not None
        await gateway.engine.grants.release_idle(all_grants=True)

        steps: list[tuple[str, datetime, Callable[[], Awaitable[None]] | None]] = [
            ("low-balance-alerts", sh(11, 12, 10, 1), None),
            ("bill-run", sh(12, 1, 0, 0, 1), None),
            ("statement-issue", sh(12, 3, 0, 0, 1), None),
            ("statement-late-alert", sh(12, 9, 0, 0, 1), None),
            ("deemed-confirmation", sh(12, 16, 0, 0, 1), None),
            ("prepaid-consumption-invoices", sh(12, 16, 0, 0, 2), None),
            ("payment-notice", sh(12, 20, 10), lambda: self.notice(notifier)),
            ("collections", sh(12, 27, 0, 0, 1), None),
            ("collections-deferred", sh(1, 1, 0, 0, 1, year=2027), None),
        ]
        assert {s for s, _, _ in steps} >= set(BILLING_JOBS)
        for step, when, action in steps:
            m.clock.set(when)
            if step == name:
                return when
            if action is not None:
                await action()
            elif not (step == "statement-issue" and name == "statement-late-alert"):  # drafts left
                assert await run_job(office.container, self.jobs[step]) is not None, step
        raise AssertionError(f"no step for {name}")

    async def notice(self, w: Any) -> None:
        due = await self.office.due(w)
        r = await self.office.notice(w, due["statementId"], "1.00")  # filed in time, never confirmed
        assert r.status_code == 201, r.text


@pytest.fixture
async def second_scheduler(container: Container, db: Any) -> AsyncIterator[Container]:
    """Another platform on the same database and clock: its own engine (its own connections)."""
    other = build_container(
        container.settings, clock=container.clock, engine=make_engine(db.url, search_path=db.schema)
    )
    yield other
    await other.engine.dispose()


def test_every_billing_job_has_a_scenario() -> None:
    assert sorted(FIRST_RUN_CHANGES) == BILLING_JOBS


@pytest.mark.parametrize("name", BILLING_JOBS)
async def test_a_billing_job_run_twice_or_by_two_schedulers_at_once_changes_nothing_the_second_time(
    name: str,
    month: Any,
    kit: Any,
    container: Container,
    second_scheduler: Container,
    assert_ledger_clean: Any,
) -> None:
    container.authenticator = collections_world.office_authenticator
    if name == "prepaid-consumption-invoices":
        # the job invoices prepaid consumption only when prepaid money is invoiced monthly (both platforms
        # share these settings)
        container.settings.invoice_prepaid_mode = "monthly"
    office = collections_world.Office(month, kit)
    jobs = all_jobs()
    job = jobs[name]
    await Calendar(office, jobs).play_until(name)

    before = await snapshot(container)
    first = await asyncio.gather(
        run_job(container, job, owner="scheduler-1"),
        run_job(second_scheduler, job, owner="scheduler-2"),
    )
    assert sum(r is not None for r in first) == 1, first  # one scheduler claimed the period
    once = await snapshot(container)
    table = FIRST_RUN_CHANGES[name]
    assert once[table] != before[table], f"{name}'s first run changed nothing in {table}"

    period = job.period(container.clock.now())
    direct = job.run_period(second_scheduler, period) if job.run_period else job.fn(second_scheduler)
    again = await asyncio.gather(
        run_job(container, job, owner="scheduler-1"),
        run_job(container, job, owner="scheduler-1", force=True),
        run_job(second_scheduler, job, owner="scheduler-2", force=True),
        direct,
    )
    assert again[0] is None  # its period is done
    after = await snapshot(container)
    changed = {t: (once[t], after[t]) for t in once if once[t] != after[t]}
    assert changed == {}, f"{name}'s second run changed {sorted(changed)}"
    await assert_ledger_clean()
