"""Scheduler: ticks every few seconds, runs each registered job once per period.

Claiming a period: the job_runs row (job, period) is the claim, held by its `owner` until
`lease_until`. A scheduler inserts the row, or takes over a claim whose lease expired unfinished (its
owner died, or the job failed) with one conditional UPDATE, so of two schedulers that saw the same
expired claim exactly one wins. While the job runs a heartbeat renews the lease; the run ends with
`finished_at` set. On PostgreSQL a transaction-level advisory lock also serialises the claim itself;
on SQLite the claim transaction takes the write lock at BEGIN."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from openability.jobs.registry import Job, JobRun
from openability.kernel.ids import new_id
from openability.kernel.outage import log_failure
from openability.kernel.tasks import cancelled_meanwhile, stop_task

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

# This process's identity as the owner of the job periods it claims.
OWNER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:80]


@dataclass(frozen=True)
class Claim:
    """A held claim on one job period: the row and the attempt number that fences it."""

    run_id: str
    attempt: int
    owner: str
    lease: timedelta


def lease_of(container: Platform, job: Job) -> timedelta:
    seconds = job.lease_seconds if job.lease_seconds is not None else container.settings.job_lease_seconds
    return timedelta(seconds=seconds)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


async def take_over(
    session: AsyncSession,
    run_id: str,
    seen_attempts: int,
    owner: str,
    now: datetime,
    lease: timedelta,
    *,
    force: bool = False,
) -> bool:
    """Take over a claim seen with `seen_attempts`: one conditional UPDATE, so of two schedulers that saw
    the same claim exactly one gets it. Without `force` only an unfinished claim whose lease expired."""
    cond = [JobRun.id == run_id, JobRun.attempts == seen_attempts]
    if not force:
        cond += [JobRun.finished_at.is_(None), or_(JobRun.lease_until.is_(None), JobRun.lease_until <= now)]
    res = await session.execute(
        update(JobRun)
        .where(*cond)
        .values(
            owner=owner,
            started_at=now,
            lease_until=now + lease,
            finished_at=None,
            result="",
            attempts=JobRun.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(res) == 1


async def claim(
    container: Platform, job: Job, period: str, owner: str, *, force: bool = False
) -> Claim | None:
    """Claim (job, period) for `owner`, or None when it is finished or another owner's lease holds."""
    lease = lease_of(container, job)
    now = container.clock.now()
    try:
        async with container.uow() as uow:
            session = uow.session
            if container.engine.dialect.name == "postgresql":
                key = zlib.crc32(f"{job.name}:{period}".encode())
                got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})
                if not got:
                    return None
            existing = await session.scalar(
                select(JobRun).where(JobRun.job == job.name, JobRun.period == period)
            )
            if existing is None:
                run_id = new_id("job")
                session.add(
                    JobRun(
                        id=run_id,
                        job=job.name,
                        period=period,
                        started_at=now,
                        result="",
                        owner=owner,
                        lease_until=now + lease,
                        attempts=1,
                    )
                )
                return Claim(run_id, 1, owner, lease)
            if not force:
                if existing.finished_at is not None:
                    return None  # done for this period
                if existing.lease_until is not None and existing.lease_until > now:
                    return None  # its owner is (or may still be) running it
            seen = existing.attempts
            if not await take_over(session, existing.id, seen, owner, now, lease, force=force):
                return None
            return Claim(existing.id, seen + 1, owner, lease)
    except IntegrityError:
        return None  # another scheduler inserted the claim first


def _mine(c: Claim) -> list[Any]:
    return [JobRun.id == c.run_id, JobRun.owner == c.owner, JobRun.attempts == c.attempt]


async def _heartbeat(container: Platform, c: Claim, stop: asyncio.Event) -> None:
    """Renew the lease every third of it until the job ends."""
    interval = max(c.lease.total_seconds() / 3, 0.01)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            async with container.uow() as uow:
                res = await uow.session.execute(
                    update(JobRun)
                    .where(*_mine(c), JobRun.finished_at.is_(None))
                    .values(lease_until=container.clock.now() + c.lease)
                    .execution_options(synchronize_session=False)
                )
            if _rowcount(res) != 1:
                log.warning("job run %s: lease lost to another scheduler", c.run_id)
                return
        except Exception as exc:
            log_failure(log, exc, "job run %s: lease renewal failed", c.run_id)


async def _end(container: Platform, c: Claim, *, result: str, finished: bool) -> None:
    """Finish the run, or (failed or interrupted) give the claim up so the next tick retries it."""
    now = container.clock.now()
    values: dict[str, Any] = {"result": result[:2000]}
    if finished:
        values["finished_at"] = now
    else:
        values["lease_until"] = now
    async with container.uow() as uow:
        res = await uow.session.execute(
            update(JobRun).where(*_mine(c)).values(**values).execution_options(synchronize_session=False)
        )
    if _rowcount(res) != 1:
        log.warning("job run %s: claim was taken over before the run ended", c.run_id)


async def run_job(
    container: Platform,
    job: Job,
    *,
    force: bool = False,
    owner: str | None = None,
    period: str | None = None,
) -> str | None:
    """Run one job for the current period, or for `period` (a job about a period only). Returns its
    result, or None when the period is done, not yet due or another scheduler holds it. `force` runs
    it again even then. `owner` defaults to this process."""
    if period is not None and job.run_period is None:
        raise ValueError(f"job {job.name} takes no period")
    explicit = period is not None
    now = container.clock.now()
    period = period if period is not None else job.period(now)
    if not job.record:
        return await job.fn(container)
    if job.due is not None and not (explicit or force) and now < job.due(container, period):
        return None
    c = await claim(container, job, period, owner or OWNER, force=force)
    if c is None:
        return None
    stop = asyncio.Event()
    beat = asyncio.create_task(_heartbeat(container, c, stop), name=f"lease:{job.name}")
    try:
        result = await (job.run_period(container, period) if job.run_period else job.fn(container))
    except BaseException as exc:
        stop.set()
        await beat
        with contextlib.suppress(Exception):
            await _end(container, c, result=f"failed: {exc!r}", finished=False)
        if not isinstance(exc, Exception):
            raise  # cancelled (shutdown): the claim is released for the next start
        log_failure(log, exc, "job %s failed", job.name)
        raise RuntimeError(f"job {job.name} failed: {exc}") from exc
    stop.set()
    await beat
    await _end(container, c, result=result, finished=True)
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
        await stop_task(self._task)  # kernel/tasks.py: also when a cancel comes out as another error
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await tick(self.container, self.jobs)
            except Exception as exc:
                if cancelled_meanwhile():  # stopping: the cancel came out as this error
                    raise asyncio.CancelledError from exc
                log_failure(log, exc, "scheduler tick failed")
            await asyncio.sleep(self.interval)
