"""Group commit: one task takes queued items and hands them to a commit function in batches — up to
`batch_max` items, waiting at most `wait` seconds for more when a batch is not full — so a burst of
writes costs one transaction per batch, not one per item. Each caller awaits its own item's future.

The commit function resolves the futures it has an answer for (per-item failures, say); whatever it
leaves open is resolved after it returns (success) or raises (every open future gets `on_error(exc)`).
The writer never dies of a failed batch.

The queue is the CDR writer's (charging/cdr_writer.py): a deque of `Pending` (the item and its future),
and one waker future for the task that `put` completes only when it must (the task idle and an item
came, or a waiting batch became full). No asyncio.Queue (its getter futures and `wait_for` task per
wait), no timestamp per item. Items queued while a batch commits have waited already: the next batch
goes at once, without a further `wait`. A writer that is stopping refuses new items (their future
fails with `on_error(WriterStopped)`; `running` is False from the moment `stop()` is called, so callers
that check it take their direct path instead) and commits everything queued before `stop()` returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from openability.kernel.outage import log_failure

log = logging.getLogger(__name__)

T = TypeVar("T")


class WriterStopped(RuntimeError):
    """The writer is stopped or stopping: the item was not queued."""


class Pending(Generic[T]):
    __slots__ = ("future", "item")

    def __init__(self, item: T, future: asyncio.Future[None]) -> None:
        self.item = item
        self.future = future

    def succeed(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
            self.future.exception()  # retrieved: a caller that went away must not log "never retrieved"


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Waker:
    """The wake-up of a writer task that sleeps on its deque (BatchWriter here, the CDR writer in
    charging/cdr_writer.py): the producer calls `queued(len(queue))` after each append, which completes
    the task's one future only when it must — the task sleeps and the queue holds what it waits for;
    `wake()` ends any sleep (stop). No asyncio.Queue, no wait_for task per wait."""

    __slots__ = ("_at", "_fut")

    def __init__(self) -> None:
        self._at = 1  # queued() wakes the task once the queue holds this many items
        self._fut: asyncio.Future[None] | None = None

    def queued(self, n: int) -> None:
        if n >= self._at:
            self.wake()

    def wake(self) -> None:
        f = self._fut
        if f is not None and not f.done():
            f.set_result(None)

    async def sleep(self, loop: asyncio.AbstractEventLoop, wake_at: int, within: float | None) -> None:
        """Until the queue holds `wake_at` items, wake() is called or `within` seconds pass."""
        self._at = wake_at
        self._fut = f = loop.create_future()
        timer = loop.call_later(within, _wake, f) if within is not None else None
        try:
            await f
        finally:
            self._fut = None
            self._at = 1
            if timer is not None:
                timer.cancel()


class BatchWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        commit: Callable[[list[Pending[T]]], Awaitable[None]],
        *,
        batch_max: int,
        wait: float = 0.0,
        on_error: Callable[[Exception], BaseException] = lambda exc: exc,
        on_exit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        # Run by the task when it ends (stopped, or cancelled: a loop torn down under a writer nobody
        # stopped): what the commit function holds across batches (a connection) is given back.
        self._on_exit = on_exit
        self._commit = commit
        self.batch_max = max(1, batch_max)
        self.wait = max(0.0, wait)
        self._on_error = on_error
        self._queue: deque[Pending[T]] = deque()
        self._waker = Waker()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.batches = 0

    @property
    def running(self) -> bool:
        """Started and not stopping: `put` queues the item."""
        return self._task is not None and not self._task.done() and not self._stopping

    def in_task(self) -> bool:
        """True when called from the writer's own task (inside a commit)."""
        return self._task is not None and asyncio.current_task() is self._task

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._loop = loop = asyncio.get_running_loop()
            self._stopping = False
            self._task = loop.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Refuse new items, commit everything queued, then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._waker.wake()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def put(self, item: T) -> asyncio.Future[None]:
        """Queue one item; its future resolves once the item's batch is committed (or failed). A plain
        future: awaiting it costs the caller no coroutine frame. Not running (or stopping): the future
        has failed already with `on_error(WriterStopped)`."""
        loop = self._loop
        if loop is None or not self.running:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            fut.set_exception(self._on_error(WriterStopped(f"{self.name}: the writer is not running")))
            fut.exception()  # retrieved: the caller that awaits it still gets it
            return fut
        fut = loop.create_future()
        q = self._queue
        q.append(Pending(item, fut))
        self._waker.queued(len(q))
        return fut

    async def _run(self) -> None:
        q, batch_max, waker = self._queue, self.batch_max, self._waker
        loop = self._loop
        assert loop is not None
        waited = False  # the items queued now have waited for the batch that committed before them
        try:
            while True:
                if not q:
                    if self._stopping:
                        break
                    await waker.sleep(loop, 1, None)
                    waited = False
                    continue
                if len(q) < batch_max and self.wait and not waited and not self._stopping:
                    await waker.sleep(loop, batch_max, self.wait)  # a full batch or stop() ends the wait
                n = len(q) if len(q) <= batch_max else batch_max
                batch = [q.popleft() for _ in range(n)]
                await self._commit_batch(batch)
                waited = True
        finally:
            if q:  # only when the task was cancelled: stop() commits everything queued
                err = self._on_error(WriterStopped(f"{self.name}: the writer stopped"))
                while q:
                    q.popleft().fail(err)
            if self._on_exit is not None:
                try:
                    await self._on_exit()
                except Exception as exc:
                    log.warning("%s: cleaning up at exit failed: %s: %s", self.name, type(exc).__name__, exc)

    async def _commit_batch(self, batch: list[Pending[T]]) -> None:
        try:
            await self._commit(batch)
        except Exception as exc:  # never let the writer die: fail the batch's callers instead
            log_failure(log, exc, "%s: a batch of %d failed", self.name, len(batch))
            err = self._on_error(exc)
            for p in batch:
                p.fail(err)
        except BaseException:  # cancelled mid-commit: its callers must not wait for ever
            err = self._on_error(WriterStopped(f"{self.name}: the writer stopped"))
            for p in batch:
                p.fail(err)
            raise
        else:
            self.batches += 1
            for p in batch:
                p.succeed()
