"""Single flight: concurrent callers that need the same key loaded share one in-flight load (a cache
miss, a counter's seed); the first caller runs it, the others await its result or its exception."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Future[V]] = {}

    def __contains__(self, key: K) -> bool:
        return key in self._inflight

    def __iter__(self) -> Iterator[K]:
        """The keys being loaded now (a copy: loads may finish while the caller iterates)."""
        return iter(list(self._inflight))

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        fut = self._inflight.get(key)
        if fut is not None:
            # Shielded: a waiter that is cancelled does not cancel the load the others wait for.
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            value = await load()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: the waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)
        fut.set_result(value)
        return value
