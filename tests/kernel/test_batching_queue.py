"""kernel.batching's queue (the CDR writer's pattern): a stopping writer refuses new items and commits
what it holds; a batch waits at most `wait` for more; items that queued while a batch committed go
at once; a cancelled writer fails what it still held."""

from __future__ import annotations

import asyncio

import pytest

from openability.kernel.batching import BatchWriter, Pending, WriterStopped


async def test_a_stopping_writer_refuses_new_items_and_commits_what_it_holds() -> None:
    seen: list[int] = []
    gate = asyncio.Event()

    async def commit(batch: list[Pending[int]]) -> None:
        await gate.wait()
        seen.extend(p.item for p in batch)

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=10)
    await w.start()
    first = w.put(1)
    await asyncio.sleep(0)  # the batch [1] is committing (held by the gate)
    second = w.put(2)  # queued behind it
    stopping = asyncio.create_task(w.stop())
    await asyncio.sleep(0)
    assert not w.running
    refused = w.put(3)
    assert refused.done()
    with pytest.raises(WriterStopped):
        refused.result()
    gate.set()
    await stopping
    assert first.done() and second.done() and first.exception() is None and second.exception() is None
    assert seen == [1, 2]


async def test_refused_items_get_on_error_of_writer_stopped() -> None:
    async def commit(batch: list[Pending[int]]) -> None:
        return None

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=2, on_error=lambda e: ValueError(str(e)))
    with pytest.raises(ValueError, match="not running"):
        await w.put(1)  # never started
    await w.start()
    await w.put(2)
    await w.stop()
    with pytest.raises(ValueError, match="not running"):
        await w.put(3)


async def test_a_partial_batch_waits_for_more_then_goes_and_a_full_one_goes_at_once() -> None:
    batches: list[list[int]] = []

    async def commit(batch: list[Pending[int]]) -> None:
        batches.append([p.item for p in batch])

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=3, wait=0.05)
    await w.start()
    a = w.put(1)
    await asyncio.sleep(0.01)  # within the wait: joins the same batch
    b = w.put(2)
    await asyncio.gather(a, b)  # the wait ran out: a partial batch
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.gather(w.put(3), w.put(4), w.put(5))  # full: no wait
    elapsed = loop.time() - t0
    await w.stop()
    assert batches == [[1, 2], [3, 4, 5]]
    assert elapsed < 0.04
    assert w.batches == 2


async def test_items_queued_during_a_commit_go_next_without_a_further_wait() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def commit(batch: list[Pending[int]]) -> None:
        if not batches:
            await gate.wait()
        batches.append([p.item for p in batch])

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=10, wait=5.0)
    await w.start()
    first = w.put(1)
    await asyncio.sleep(0)
    w._waker.wake()  # end the first batch's wait (5 s) at once: the test is about the second batch
    await asyncio.sleep(0)
    later = [w.put(i) for i in (2, 3)]
    gate.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 1.0)  # not 5 s
    await w.stop()
    assert batches == [[1], [2, 3]]


async def test_a_cancelled_writer_fails_what_it_held() -> None:
    gate = asyncio.Event()

    async def commit(batch: list[Pending[int]]) -> None:
        await gate.wait()

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=1, on_error=lambda e: KeyError(str(e)))
    await w.start()
    committing = w.put(1)
    await asyncio.sleep(0)
    held = w.put(2)
    assert w._task is not None
    w._task.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    for fut in (committing, held):
        assert fut.done()
        with pytest.raises(KeyError, match="stopped"):
            fut.result()


async def test_on_exit_runs_when_the_writer_stops_and_when_it_is_cancelled() -> None:
    exits: list[str] = []

    async def commit(batch: list[Pending[int]]) -> None:
        return None

    async def on_exit() -> None:
        exits.append("exit")

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=4, on_exit=on_exit)
    await w.start()
    await w.put(1)
    await w.stop()
    assert exits == ["exit"]
    await w.start()
    await w.put(2)
    assert w._task is not None
    w._task.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert exits == ["exit", "exit"]
