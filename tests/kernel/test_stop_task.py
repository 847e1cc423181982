"""Background loops stop even when their cancellation comes out as another error (kernel/tasks.py).

Reproduces the fuzz tests' hung shutdown: the scheduler's tick was cancelled inside a SQLite call whose
clean-up failed with its own error; the loop logged it as a failed tick and slept on, and `stop()`,
having cancelled once, waited for it forever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openability.jobs.scheduler import Scheduler
from openability.kernel.tasks import stop_task


class _InterruptedCall(Exception):
    """What an interrupted database call raises from its clean-up instead of the CancelledError."""


async def _db_call_whose_cleanup_fails() -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        raise _InterruptedCall("rollback failed: the connection was interrupted") from None


async def _resilient_loop(rounds: list[int]) -> None:
    """The shape of every background loop here: each round's errors are logged and the loop goes on."""
    while True:
        try:
            await _db_call_whose_cleanup_fails()
        except Exception:
            rounds.append(1)
        await asyncio.sleep(3600)


async def test_stop_task_ends_a_loop_whose_cancellation_came_out_as_another_error() -> None:
    rounds: list[int] = []
    task = asyncio.create_task(_resilient_loop(rounds))
    await asyncio.sleep(0)
    # a single cancel is lost in the loop (it sleeps on): the old stop() waited forever here
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.2)
    assert not done and rounds == [1]
    await asyncio.wait_for(stop_task(task), timeout=5)
    assert task.cancelled()


async def test_stop_task_of_a_finished_or_missing_task_returns_at_once() -> None:
    await stop_task(None)
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    await asyncio.wait_for(stop_task(task), timeout=1)


async def test_the_scheduler_stops_when_its_tick_turns_the_cancellation_into_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import openability.jobs.scheduler as scheduler_module

    ticking = asyncio.Event()

    async def tick(container: Any, jobs: Any) -> dict[str, str]:
        ticking.set()
        await _db_call_whose_cleanup_fails()
        return {}

    monkeypatch.setattr(scheduler_module, "tick", tick)
    s = Scheduler(container=None, jobs={}, interval=0.01)  # type: ignore[arg-type]
    await s.start()
    await asyncio.wait_for(ticking.wait(), timeout=5)
    await asyncio.wait_for(s.stop(), timeout=5)
