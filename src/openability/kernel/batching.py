"""Group commit: one task takes queued items and hands them to a commit function in batches — up to
`batch_max` items, waiting at most `wait` seconds after the first for more — so a burst of writes costs
one transaction per batch, not one per item. Each caller awaits its own item's future.

The commit function resolves the futures it has an answer for (per-item failures, say); whatever it
leaves open is resolved after it returns (success) or raises (every open future gets `on_error(exc)`).
The writer never dies of a failed batch, and `stop()` commits everything queued before it returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from openability.kernel.outage import log_failure

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class Pending(Generic[T]):
    item: T
    future: asyncio.Future[None]
    enqueued: float

    def succeed(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
            self.future.exception()  # retrieved: a caller that went away must not log "never retrieved"


_STOP: Any = object()


class BatchWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        commit: Callable[[list[Pending[T]]], Awaitable[None]],
        *,
        batch_max: int,
        wait: float = 0.0,
        on_error: Callable[[Exception], BaseException] = lambda exc: exc,
    ) -> None:
        self.name = name
        self._commit = commit
        self.batch_max = max(1, batch_max)
        self.wait = max(0.0, wait)
        self._on_error = on_error
        self._queue: asyncio.Queue[Pending[T]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Commit everything queued, then stop."""
        if self._task is None:
            return
        await self._queue.put(_STOP)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def put(self, item: T) -> asyncio.Future[None]:
        """Queue one item; its future resolves once the item's batch is committed (or failed)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put_nowait(Pending(item, fut, loop.time()))
        return fut

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch: list[Pending[T]] = [first]
            deadline = first.enqueued + self.wait
            while len(batch) < self.batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(self._queue.get(), left)
                    except TimeoutError:
                        break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            try:
                await self._commit(batch)
            except Exception as exc:  # never let the writer die: fail the batch's callers instead
                log_failure(log, exc, "%s: a batch of %d failed", self.name, len(batch))
                err = self._on_error(exc)
                for p in batch:
                    p.fail(err)
            else:
                for p in batch:
                    p.succeed()
