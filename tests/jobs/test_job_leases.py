"""A job_runs row is a claim with a lease: a period claimed by a scheduler that died is re-run once the
lease expires; a live claim, a finished run and a renewed lease are left alone; `force` still re-runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from openability.bootstrap import Container
from openability.jobs.registry import Job, JobRun, daily
from openability.jobs.scheduler import OWNER, claim, run_job, take_over
from openability.kernel.clock import FrozenClock


def counting_job(
    name: str = "lease-probe",
    *,
    lease_seconds: float | None = None,
    body: Callable[[int], Awaitable[None]] | None = None,
) -> tuple[Job, list[int]]:
    """A job for one business day that counts its runs; `body(n)` runs inside the n-th run."""
    runs: list[int] = []

    async def fn(_c: Container) -> str:
        runs.append(len(runs) + 1)
        if body is not None:
            await body(len(runs))
        return f"run {len(runs)}"

    return Job(name, fn, daily, "probe", lease_seconds=lease_seconds), runs


async def the_run(container: Container, job: Job) -> JobRun:
    async with container.uow() as uow:
        rows = (await uow.session.scalars(select(JobRun).where(JobRun.job == job.name))).all()
    assert len(rows) == 1
    return rows[0]


async def test_a_period_claimed_by_a_scheduler_that_died_is_re_run_once_its_lease_expires(
    container: Container, clock: FrozenClock
) -> None:
    job, runs = counting_job()
    # A scheduler claimed today's period and died before running it: its claim stays, unfinished.
    dead = await claim(container, job, job.period(clock.now()), "dead-scheduler")
    assert dead is not None
    clock.advance(seconds=301)  # past the default lease (job_lease_seconds = 300)
    assert await run_job(container, job) == "run 1"
    row = await the_run(container, job)
    assert row.finished_at == clock.now() and row.result == "run 1"
    assert row.owner == OWNER and row.attempts == 2
    clock.advance(minutes=5)
    assert await run_job(container, job) is None  # re-run once, then done for the period
    assert runs == [1]


async def test_an_unexpired_claim_is_not_taken_over(container: Container, clock: FrozenClock) -> None:
    job, runs = counting_job()
    assert await claim(container, job, job.period(clock.now()), "other-scheduler") is not None
    clock.advance(seconds=299)
    assert await run_job(container, job) is None
    assert runs == []
    row = await the_run(container, job)
    assert (row.owner, row.attempts, row.finished_at) == ("other-scheduler", 1, None)


async def test_a_finished_run_is_not_re_run_after_its_lease(container: Container, clock: FrozenClock) -> None:
    job, runs = counting_job()
    assert await run_job(container, job) == "run 1"
    clock.advance(minutes=30)  # same business day, lease long gone
    assert await run_job(container, job) is None
    assert await run_job(container, job, owner="other-scheduler") is None
    assert runs == [1]
    assert (await the_run(container, job)).attempts == 1


async def test_force_re_runs_a_finished_period_and_a_claimed_one(
    container: Container, clock: FrozenClock
) -> None:
    job, runs = counting_job()
    assert await run_job(container, job) == "run 1"
    assert await run_job(container, job, force=True) == "run 2"
    row = await the_run(container, job)
    assert row.attempts == 2 and row.finished_at is not None and row.result == "run 2"
    assert runs == [1, 2]

    other, other_runs = counting_job("lease-probe-2")
    assert await claim(container, other, other.period(clock.now()), "other-scheduler") is not None
    assert await run_job(container, other) is None
    assert await run_job(container, other, force=True) == "run 1"
    assert other_runs == [1]


async def test_two_schedulers_never_both_take_over_an_expired_claim(
    container: Container, clock: FrozenClock
) -> None:
    job, runs = counting_job()
    dead = await claim(container, job, job.period(clock.now()), "dead-scheduler")
    assert dead is not None
    clock.advance(seconds=301)
    # Both saw the claim with one attempt: the conditional UPDATE lets exactly one of them have it.
    won = []
    for owner in ("scheduler-a", "scheduler-b"):
        async with container.uow() as uow:
            won.append(await take_over(uow.session, dead.run_id, 1, owner, clock.now(), dead.lease))
    assert won == [True, False]
    row = await the_run(container, job)
    assert (row.owner, row.attempts) == ("scheduler-a", 2)

    # Two schedulers ticking at once on a second expired claim: the job runs once.
    other, other_runs = counting_job("lease-probe-2")
    assert await claim(container, other, other.period(clock.now()), "dead-scheduler") is not None
    clock.advance(seconds=301)
    results = await asyncio.gather(
        run_job(container, other, owner="scheduler-a"), run_job(container, other, owner="scheduler-b")
    )
    assert sorted(results, key=str) == [None, "run 1"]
    assert other_runs == [1] and runs == []


async def test_a_long_job_renews_its_lease_so_no_one_takes_it_over(
    container: Container, clock: FrozenClock
) -> None:
    seen: list[Any] = []

    async def long_body(n: int) -> None:
        if n > 1:
            return  # the job was taken over and run a second time
        clock.advance(seconds=10)  # far past the 0.3 s lease
        await asyncio.sleep(0.5)  # real time: the heartbeat renews every 0.1 s
        seen.append(await run_job(container, job, owner="other-scheduler"))

    job, runs = counting_job(lease_seconds=0.3, body=long_body)
    assert await run_job(container, job) == "run 1"
    assert seen == [None] and runs == [1]
    row = await the_run(container, job)
    assert row.attempts == 1 and row.owner == OWNER and row.finished_at is not None


async def test_a_failed_run_is_retried_on_the_next_tick_and_counts_attempts(
    container: Container, clock: FrozenClock
) -> None:
    async def fail_first(n: int) -> None:
        if n == 1:
            raise ValueError("boom")

    job, runs = counting_job(body=fail_first)
    with pytest.raises(RuntimeError, match="boom"):
        await run_job(container, job)
    row = await the_run(container, job)
    assert row.finished_at is None and "boom" in row.result  # the claim is given up, not kept
    assert await run_job(container, job) == "run 2"
    row = await the_run(container, job)
    assert row.attempts == 2 and row.finished_at is not None
    assert runs == [1, 2]


async def test_a_run_cancelled_at_shutdown_gives_its_claim_up_for_the_next_start(
    container: Container, clock: FrozenClock
) -> None:
    started = asyncio.Event()

    async def hang_first(n: int) -> None:
        if n == 1:
            started.set()
            await asyncio.Event().wait()

    job, runs = counting_job(body=hang_first)
    task = asyncio.create_task(run_job(container, job))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await run_job(container, job) == "run 2"  # no need to wait out the lease
    assert runs == [1, 2] and (await the_run(container, job)).attempts == 2
