"""kernel.singleflight: one load per key however many callers wait; its failure reaches all of them."""

from __future__ import annotations

import asyncio

import pytest

from openability.kernel.singleflight import SingleFlight


async def test_concurrent_callers_share_one_load() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def load() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    tasks = [asyncio.create_task(flight.run("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    assert "k" in flight and list(flight) == ["k"]
    gate.set()
    assert await asyncio.gather(*tasks) == [42] * 5
    assert calls == 1 and "k" not in flight


async def test_a_failed_load_fails_every_waiter_and_the_next_call_loads_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def broken() -> int:
        await gate.wait()
        raise RuntimeError("db down")

    tasks = [asyncio.create_task(flight.run("k", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def ok() -> int:
        return 7

    assert await flight.run("k", ok) == 7


async def test_a_cancelled_waiter_does_not_cancel_the_load() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def load() -> int:
        await gate.wait()
        return 1

    first = asyncio.create_task(flight.run("k", load))
    waiter = asyncio.create_task(flight.run("k", load))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    assert await first == 1
