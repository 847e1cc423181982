"""kernel.batching: the one group-commit writer (CDRs, delivery receipts)."""

from __future__ import annotations

import asyncio

import pytest

from openability.kernel.batching import BatchWriter, Pending


async def test_queued_items_commit_together_and_callers_get_their_answer() -> None:
    batches: list[list[int]] = []

    async def commit(batch: list[Pending[int]]) -> None:
        batches.append([p.item for p in batch])

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=3, wait=0.05)
    await w.start()
    futs = [w.put(i) for i in range(7)]
    await asyncio.gather(*futs)
    await w.stop()
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert not w.running


async def test_a_failed_batch_fails_its_callers_with_on_error_and_the_writer_goes_on() -> None:
    calls = 0

    async def commit(batch: list[Pending[int]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("db down")

    w: BatchWriter[int] = BatchWriter(
        "t", commit, batch_max=10, on_error=lambda e: ValueError(f"not stored: {e}")
    )
    await w.start()
    with pytest.raises(ValueError, match="not stored: db down"):
        await w.put(1)
    await w.put(2)  # the next batch commits
    await w.stop()


async def test_per_item_answers_from_the_commit_stand() -> None:
    async def commit(batch: list[Pending[int]]) -> None:
        for p in batch:
            if p.item % 2:
                p.fail(KeyError(p.item))

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=10)
    await w.start()
    results = await asyncio.gather(w.put(1), w.put(2), return_exceptions=True)
    await w.stop()
    assert isinstance(results[0], KeyError) and results[1] is None


async def test_stop_commits_what_is_queued() -> None:
    seen: list[int] = []

    async def commit(batch: list[Pending[int]]) -> None:
        seen.extend(p.item for p in batch)

    w: BatchWriter[int] = BatchWriter("t", commit, batch_max=2, wait=10.0)
    await w.start()
    futs = [w.put(i) for i in range(5)]
    await w.stop()
    assert seen == [0, 1, 2, 3, 4] and all(f.done() for f in futs)
