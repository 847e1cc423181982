"""The reserved slot a gateway worker owns for its life (PostgreSQL; ledger/types.py RESERVED_SLOTS).

Without it, a partner's first call in a worker chooses its grant's reserved slot in a transaction of its
own: a per-partner advisory lock, a read of the slots the other workers' active grants use, then the
refill (charging/grants.py `_refill_pg`): five round trips, a quarter of a first call's server time
(docs/benchmarks.md, pass 6). With a slot of its own, a worker's new grant is the refill statement alone
(and, on a slot other than 0, the slot's account created if missing first).

Ownership is a session-level advisory lock `(hashtext(current_schema() || ':own-reserved-slot'), k)`
taken with `pg_try_advisory_lock` on one pooled connection that the lease's task holds: no two live
workers of one schema own one slot, and a worker that dies loses its lock with its connection. The task
checks the connection every CHECK_SECONDS; when it is gone the worker owns no slot until it takes one
again (its new grants choose a slot per grant meanwhile, as they do when all slots are owned: more
workers than slots). A slot can be shared for a while: by a dead owner's grants not reaped yet, or by a
worker choosing per grant while the owner has no grant of that partner yet. Sharing a slot costs lock
waits, not money: every grant moves its slot's account, and the audit sums the grants on each slot
(integrity.py invariant 5).

The lock is never released by an unlock: the connection is closed when the lease ends (stop(), or the
task cancelled because its loop is torn down under a worker nobody stopped), which drops the lock, and
the pool opens a new connection in its place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from openability.kernel.outage import log_failure
from openability.ledger.types import RESERVED_SLOTS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

TRY_OWN = "SELECT pg_try_advisory_lock(hashtext(current_schema() || ':own-reserved-slot'), $1::int4)"
CHECK_SECONDS = 10.0  # how often the lock's connection is checked, or a slot tried for again
START_WAIT_SECONDS = 5.0  # start() waits this long for the first try at most


class SlotLease:
    def __init__(self, engine: AsyncEngine, slots: int = RESERVED_SLOTS) -> None:
        self._engine = engine
        self._slots = slots
        self.slot: int | None = None  # the slot owned now; None: choose one per grant
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the lease's task and wait (START_WAIT_SECONDS at most) for its first try."""
        if self.running:
            return
        tried = asyncio.Event()
        self._task = asyncio.create_task(self._hold(tried), name="reserved-slot-lease")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tried.wait(), START_WAIT_SECONDS)

    async def stop(self) -> None:
        """End the lease: the slot is given up with its connection."""
        task, self._task = self._task, None
        self.slot = None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _hold(self, tried: asyncio.Event) -> None:
        try:
            while True:
                if self._conn is None:
                    try:
                        self.slot = await self._take()
                    except Exception as exc:
                        self.slot = None
                        log_failure(log, exc, "taking a reserved slot for this worker failed; tried again")
                        await self._drop(exc)
                    tried.set()
                elif not await self._alive():
                    log.warning(
                        "the connection holding reserved slot %s was lost; taking one again", self.slot
                    )
                    continue
                await asyncio.sleep(CHECK_SECONDS)
        finally:
            self.slot = None
            await self._drop(ConnectionAbortedError("the reserved-slot lease ended"))

    async def _take(self) -> int | None:
        conn = await self._engine.connect()
        self._conn = conn
        raw: Any = (await conn.get_raw_connection()).driver_connection
        for k in range(self._slots):
            if await raw.fetchval(TRY_OWN, k):
                log.info("this worker owns reserved slot %d", k)
                return k
        log.info("all %d reserved slots are owned by other workers: slots are chosen per grant", self._slots)
        await self._drop(None)  # nothing held: the connection is not kept
        return None

    async def _alive(self) -> bool:
        conn = self._conn
        assert conn is not None
        try:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            if not raw.is_closed():
                await raw.fetchval("SELECT 1")
                return True
            exc: Exception = ConnectionResetError("the connection was closed")
        except Exception as e:
            exc = e
        self.slot = None
        await self._drop(exc)
        return False

    async def _drop(self, exc: BaseException | None) -> None:
        """Close the held connection (invalidated: closed, not handed back to the pool, when it holds a
        lock or failed), which ends any lock it held."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if exc is not None or self.slot is not None:
                await conn.invalidate(exc if isinstance(exc, Exception) else None)
            await conn.close()
        except Exception as close_exc:  # a dead connection: the pool forgets it either way
            log.debug("closing the reserved-slot connection: %s", close_exc)
