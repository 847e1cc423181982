"""The test clock (issue 7 item 2): with OPENABILITY_TEST_CLOCK on, an admin moves the platform's time
forward through /api/v1/test/clock; every part of the platform sees the moved time, it never moves
backwards, every set is audited, several processes agree through the database, and the jobs whose
period the clock entered run at once. Off, the routes do not exist."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from openability.app import create_app
from openability.bootstrap import Container, build_container
from openability.jobs.registry import JobRun
from openability.jobs.scheduler import tick
from openability.jobs_catalog import all_jobs
from openability.kernel.audit import AuditEntry
from openability.kernel.clock import SHANGHAI, FrozenClock
from openability.kernel.db import make_engine
from openability.kernel.errors import Conflict
from openability.kernel.testclock import PlatformClock, TestClock
from openability.partners import identity

OperatorToken = Callable[[Container, str, list[str]], Awaitable[str]]

# The tests' frozen system clock: 2026-11-02 10:00 Asia/Shanghai (tests/conftest.py DEFAULT_NOW).
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
DEC_10 = datetime(2026, 12, 10, 9, 0, tzinfo=SHANGHAI)


def clock_of(container: Container) -> TestClock:
    clock = container.clock
    assert isinstance(clock, TestClock)
    return clock


async def clock_audit(container: Container) -> list[AuditEntry]:
    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "clock.set").order_by(AuditEntry.at)
        )
        return list(rows.all())


async def test_admin_moves_the_clock_and_every_part_of_the_platform_sees_it(
    app_client: httpx.AsyncClient, container: Container, admin_headers: dict[str, str]
) -> None:
    r = await app_client.get("/api/v1/test/clock", headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["now"] == T0.isoformat() and r.json()["offsetSeconds"] == 0
    r = await app_client.post("/api/v1/test/clock", headers=admin_headers, json={"now": DEC_10.isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == T0.isoformat() and body["to"] == "2026-12-10T01:00:00+00:00"
    assert body["businessDate"] == "2026-12-10" and body["nowShanghai"].startswith("2026-12-10T09:00:00")
    # the platform's clock, a unit of work (what every use case reads) and a domain's record agree
    assert container.clock.now() == DEC_10
    async with container.uow() as uow:
        assert uow.now == DEC_10
        op = await identity.create_operator(uow, "later", "Later12345", ["service_agent"])
    assert op.created_at == DEC_10
    r = await app_client.get("/api/v1/test/clock", headers=admin_headers)
    assert r.json()["now"] == DEC_10.astimezone(UTC).isoformat()
    # time keeps flowing from the moved instant
    assert isinstance(container.clock, TestClock)
    base = container.clock.base
    assert isinstance(base, FrozenClock)
    base.advance(minutes=5)
    assert container.clock.now() == DEC_10 + timedelta(minutes=5)


async def test_every_set_is_audited_with_who_from_and_to(
    app_client: httpx.AsyncClient, container: Container, admin_headers: dict[str, str]
) -> None:
    r = await app_client.post("/api/v1/test/clock", headers=admin_headers, json={"now": DEC_10.isoformat()})
    assert r.status_code == 200, r.text
    later = DEC_10 + timedelta(days=1)
    r = await app_client.post("/api/v1/test/clock", headers=admin_headers, json={"now": later.isoformat()})
    assert r.status_code == 200, r.text
    async with container.uow() as uow:
        root = (await identity.list_operators(uow))[0][0]
    rows = await clock_audit(container)
    assert [(a.actor_type, a.actor_id) for a in rows] == [("operator", root.id)] * 2
    assert [(a.before, a.after) for a in rows] == [
        ({"now": T0.isoformat()}, {"now": DEC_10.astimezone(UTC).isoformat()}),
        ({"now": DEC_10.astimezone(UTC).isoformat()}, {"now": later.astimezone(UTC).isoformat()}),
    ]


async def test_the_clock_never_moves_backwards(
    app_client: httpx.AsyncClient, container: Container, admin_headers: dict[str, str]
) -> None:
    r = await app_client.post("/api/v1/test/clock", headers=admin_headers, json={"now": DEC_10.isoformat()})
    assert r.status_code == 200
    earlier = DEC_10 - timedelta(seconds=1)
    r = await app_client.post("/api/v1/test/clock", headers=admin_headers, json={"now": earlier.isoformat()})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "CLOCK_BACKWARDS"
    assert "never moves backwards" in r.json()["message"]
    assert "2026-12-10T01:00:00+00:00" in r.json()["message"]  # says where the clock is
    # before the system clock too (the clock at its start, offset 0)
    r = await app_client.post(
        "/api/v1/test/clock", headers=admin_headers, json={"now": "2026-11-01T00:00:00Z"}
    )
    assert r.status_code == 409
    assert container.clock.now() == DEC_10
    assert len(await clock_audit(container)) == 1  # a refused set leaves no trace


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"now": "2026-12-10T09:00:00"}, "INVALID_ARGUMENT"),  # no UTC offset: which 09:00?
        ({"now": "next tuesday"}, "INVALID_ARGUMENT"),
        ({}, "INVALID_ARGUMENT"),
        ({"now": "2040-01-01T00:00:00+08:00"}, "CLOCK_TOO_FAR"),
        ({"now": "9999-12-31T23:59:59-08:00"}, "CLOCK_TOO_FAR"),  # beyond what a datetime holds in UTC
        ({"now": "0001-01-01T00:00:00+08:00"}, "CLOCK_TOO_FAR"),
    ],
)
async def test_a_bad_time_is_a_400_and_moves_nothing(
    app_client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    body: dict[str, Any],
    code: str,
) -> None:
    r = await app_client.post("/api/v1/test/clock", headers=admin_headers, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code
    assert container.clock.now() == T0


async def test_only_an_admin_operator_reads_or_moves_the_clock(
    app_client: httpx.AsyncClient, container: Container, operator_token: OperatorToken
) -> None:
    agent = {"Authorization": f"Bearer {await operator_token(container, 'agent', ['service_agent'])}"}
    for method in ("GET", "POST"):
        kw: dict[str, Any] = {"json": {"now": DEC_10.isoformat()}} if method == "POST" else {}
        assert (await app_client.request(method, "/api/v1/test/clock", **kw)).status_code == 401
        r = await app_client.request(method, "/api/v1/test/clock", headers=agent, **kw)
        assert r.status_code == 403, r.text
    assert container.clock.now() == T0


async def test_with_the_setting_off_the_routes_answer_404(
    container: Container, clock: FrozenClock, operator_token: OperatorToken
) -> None:
    off = build_container(
        container.settings.model_copy(update={"test_clock": False}), clock=clock, engine=container.engine
    )
    assert off.clock is clock  # no test clock at all
    headers = {"Authorization": f"Bearer {await operator_token(off, 'root', ['admin'])}"}
    app = create_app(off, manage_container=False)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get("/api/v1/test/clock", headers=headers)
            assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
            r = await client.post("/api/v1/test/clock", headers=headers, json={"now": DEC_10.isoformat()})
            assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
            assert "/api/v1/test/clock" not in (await client.get("/openapi.json")).json()["paths"]
    assert clock.now() == T0


async def test_a_daily_job_runs_for_the_new_day_once_the_clock_passes_midnight(container: Container) -> None:
    jobs = all_jobs()
    clock = clock_of(container)
    assert "holiday-greetings" in await tick(container, jobs)
    assert "holiday-greetings" not in await tick(container, jobs)  # 2026-11-02 done
    await clock.move(container.uow, datetime(2026, 11, 3, 0, 0, 1, tzinfo=SHANGHAI))
    assert "holiday-greetings" in await tick(container, jobs)
    async with container.uow() as uow:
        periods = (
            await uow.session.scalars(
                select(JobRun.period).where(JobRun.job == "holiday-greetings").order_by(JobRun.period)
            )
        ).all()
    assert periods == ["2026-11-02", "2026-11-03"]


async def test_a_set_ticks_the_scheduler_at_once_and_the_new_day_runs(
    container: Container, admin_headers: dict[str, str]
) -> None:
    container.settings.run_scheduler = True
    container.settings.scheduler_interval_seconds = 3600  # no second tick but the one a set triggers
    app = create_app(container, manage_container=False)
    async with app.lifespan():
        # the scheduler's first tick, at start-up, runs 2026-11-02 (bounded wait for it)
        for _ in range(200):
            if await daily_periods(container) == ["2026-11-02"]:
                break
            await asyncio.sleep(0.02)
        assert await daily_periods(container) == ["2026-11-02"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.post(
                "/api/v1/test/clock", headers=admin_headers, json={"now": "2026-11-03T09:00:00+08:00"}
            )
        assert r.status_code == 200, r.text
        assert "holiday-greetings" in r.json()["jobs"], r.json()
        assert await daily_periods(container) == ["2026-11-02", "2026-11-03"]


async def daily_periods(container: Container) -> list[str]:
    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(JobRun.period)
            .where(JobRun.job == "holiday-greetings", JobRun.finished_at.is_not(None))
            .order_by(JobRun.period)
        )
        return list(rows.all())


def second_engine(db: Any) -> AsyncEngine:
    """Another process's connection pool to the test's database (its PostgreSQL schema too)."""
    return make_engine(db.url, search_path=db.schema)


async def test_another_process_takes_the_moved_time_when_it_reads_the_clock(
    container: Container, clock: FrozenClock, db: Any
) -> None:
    ours = clock_of(container)
    other = build_container(container.settings, clock=clock, engine=second_engine(db))
    try:
        theirs = clock_of(other)
        moved: list[datetime] = []

        async def hook() -> dict[str, str]:
            moved.append(theirs.now())
            return {}

        theirs.on_moved(hook)
        assert not await theirs.refresh()  # nothing moved yet
        await ours.move(container.uow, DEC_10)
        assert theirs.now() == T0  # until it reads the clock again (at most a second later)
        assert await theirs.refresh()
        await theirs.idle()
        assert theirs.now() == DEC_10 and moved == [DEC_10]
        assert not await theirs.refresh()  # read again, nothing new: no second tick
    finally:
        await other.dispose()


async def test_concurrent_sets_never_move_the_clock_backwards(
    container: Container, clock: FrozenClock, db: Any
) -> None:
    # Eight processes set the clock at the same moment, to eight different times: whatever order the
    # database serialises them in, a set earlier than one already made is refused, so the clock ends at
    # the latest time, each accepted set moved it forward, and each accepted set is audited.
    others = [build_container(container.settings, clock=clock, engine=second_engine(db)) for _ in range(8)]
    targets = [DEC_10 + timedelta(hours=h) for h in (5, 1, 7, 3, 0, 6, 2, 4)]

    async def set_one(c: Container, at: datetime) -> datetime | None:
        try:
            await clock_of(c).move(c.uow, at)
        except Conflict:
            return None
        return at

    try:
        done = await asyncio.gather(*(set_one(c, at) for c, at in zip(others, targets, strict=True)))
        accepted = [at for at in done if at is not None]
        assert max(targets) in accepted
        await clock_of(container).refresh()
        assert container.clock.now() == max(targets)
        async with container.uow() as uow:
            row = await uow.session.get(PlatformClock, 1)
        assert row is not None and row.set_to == max(targets)
        audit = await clock_audit(container)
        assert len(audit) == len(accepted)
        for a in audit:
            assert a.before is not None and a.after is not None
            assert datetime.fromisoformat(a.before["now"]) <= datetime.fromisoformat(a.after["now"])
    finally:
        for c in others:
            await c.dispose()
