"""Stopping a background loop (the scheduler, the change feed, the gateway's housekeeping, the receipt
spool replay, the test clock's reader) so that `stop()` always returns.

Such a loop catches `Exception` around each round, logs it and carries on. A cancellation that lands
inside a database call can come out of it as another exception: the interrupted call's clean-up (a
rollback, a connection closed) fails with its own error, which replaces the CancelledError. The loop
then logs that error and sleeps on, and a `stop()` that cancelled it once and awaits it waits forever:
the gateway or a test's application never finishes its shutdown (seen in the fuzz tests: the
scheduler's tick cancelled during a SQLite write). `stop_task` cancels again, every
RECANCEL_SECONDS, until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_SECONDS = 0.5


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it has ended, cancelling it again while a cancellation is lost.
    What it ended with (other than its cancellation) is logged, not raised: stopping goes on."""
    if task is None:
        return
    tries = 0
    while not task.done():
        task.cancel()
        tries += 1
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    if tries > 1:
        log.warning("task %s ended only after %d cancellations", task.get_name(), tries)
    if not task.cancelled() and task.exception() is not None:
        log.warning("task %s ended with %r", task.get_name(), task.exception())


def cancelled_meanwhile() -> bool:
    """In a loop's `except Exception`: whether this task was asked to stop (a cancellation pending
    that came out of the round as that exception). The loop should end then, not log and go on."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
