"""Scheduler: ticks every few seconds, runs each registered job once per period.
On PostgreSQL a transaction-level advisory lock makes a second scheduler harmless."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from openability.jobs.registry import Job, JobRun
from openability.kernel.ids import new_id

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)


async def run_job(container: Platform, job: Job, *, force: bool = False) -> str | None:
    """Run one job for the current period. Returns its result, or None when already done/locked."""
    now = container.clock.now()
    period = job.period(now)
    if not job.record:
        return await job.fn(container)
    async with container.uow() as uow:
        if container.engine.dialect.name == "postgresql":
            key = zlib.crc32(f"{job.name}:{period}".encode())
            got = await uow.session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})
            if not got:
                return None
        existing = await uow.session.scalar(
            select(JobRun).where(JobRun.job == job.name, JobRun.period == period)
        )
        if existing is not None:
            if not force:
                return None
            await uow.session.delete(existing)
            await uow.session.flush()
        run = JobRun(id=new_id("job"), job=job.name, period=period, started_at=now)
        uow.session.add(run)
    try:
        result = await job.fn(container)
    except Exception as exc:
        log.exception("job %s failed", job.name)
        async with container.uow() as uow:
            row = await uow.session.get(JobRun, run.id)
            if row is not None:
                await uow.session.delete(row)  # failed runs are retried next tick
        raise RuntimeError(f"job {job.name} failed: {exc}") from exc
    async with container.uow() as uow:
        row = await uow.session.get(JobRun, run.id)
        if row is not None:
            row.finished_at = container.clock.now()
            row.result = result[:2000]
    return result


async def tick(container: Platform, jobs: Mapping[str, Job]) -> dict[str, str]:
    out: dict[str, str] = {}
    for job in list(jobs.values()):
        try:
            res = await run_job(container, job)
        except (RuntimeError, IntegrityError) as exc:
            out[job.name] = f"error: {exc}"
            continue
        if res is not None:
            out[job.name] = res
    return out


class Scheduler:
    def __init__(self, container: Platform, jobs: Mapping[str, Job], interval: float = 5.0) -> None:
        self.container = container
        self.jobs = jobs
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await tick(self.container, self.jobs)
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.interval)
