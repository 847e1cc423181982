"""The scheduler starts with the platform and runs every registered job once per period."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from openability.app import create_app
from openability.bootstrap import Container
from openability.jobs.registry import JobRun
from openability.jobs.scheduler import run_job, tick
from openability.jobs_catalog import all_jobs


async def test_scheduler_starts_with_the_app_and_runs_jobs(container: Container) -> None:
    container.settings.run_scheduler = True
    container.settings.scheduler_interval_seconds = 0.05
    app = create_app(container, manage_container=False)
    async with app.lifespan():
        assert container.scheduler is not None
        task = container.scheduler._task
        # the first tick runs at start-up; wait (bounded) for its recorded jobs
        for _ in range(100):
            async with container.uow() as uow:
                names = set((await uow.session.scalars(select(JobRun.job))).all())
            if {"sla-breaches", "holiday-greetings"} <= names:
                break
            await asyncio.sleep(0.05)
        assert {"sla-breaches", "holiday-greetings"} <= names
    assert task is not None and task.done()  # stopped with the app


async def test_jobs_run_once_per_period_and_again_next_period(container: Container, clock: Any) -> None:
    jobs = all_jobs()
    assert {"grant-reaper", "sla-breaches", "holiday-greetings"} <= set(jobs)
    first = await tick(container, jobs)
    assert "sla-breaches" in first
    again = await tick(container, jobs)
    assert "sla-breaches" not in again  # same minute: already ran
    clock.advance(minutes=1)
    assert await run_job(container, jobs["sla-breaches"]) is not None
    async with container.uow() as uow:
        periods = (await uow.session.scalars(select(JobRun.period).where(JobRun.job == "sla-breaches"))).all()
    assert len(periods) == 2


async def test_jobs_api_lists_jobs_for_operators(app_client: httpx.AsyncClient, container: Container) -> None:
    from openability.partners import identity

    async with container.uow() as uow:
        await identity.create_operator(uow, "ops1", "secret123abc", ["admin"])
    async with container.uow() as uow:
        token, _ = await identity.login(uow, "ops1", "secret123abc")
    r = await app_client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert {j["name"] for j in r.json()["items"]} >= {"grant-reaper", "sla-breaches"}
    assert (await app_client.get("/api/v1/jobs")).status_code == 401
