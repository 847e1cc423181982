"""Claims group-committed per worker (charging/claims.py), on both backends: copies of one key that land
in the same batch claim it once, as copies in separate batches do (R-CHARGE-04). Before, every
request of the batch whose key came back from the statement was told it won."""

from __future__ import annotations

import asyncio

from openability.bootstrap import Container
from openability.charging.claims import ClaimStore


async def test_r_charge_04_copies_of_a_key_in_one_claim_batch_claim_it_once(container: Container) -> None:
    # R-CHARGE-04
    store = ClaimStore(container, "worker-1")
    await store.start()
    try:
        results = await asyncio.gather(
            *(store.try_claim("prt_1", "dup", "h") for _ in range(8)),
            *(store.try_claim("prt_1", f"k{i}", "h") for i in range(4)),
            *(store.try_claim("prt_2", "dup", "h") for _ in range(3)),
        )
        assert sum(results[:8]) == 1
        assert all(results[8:12])
        assert sum(results[12:]) == 1
        assert not await store.try_claim("prt_1", "dup", "h")
    finally:
        await store.stop()
    # Stopped: a claim goes straight to the database (its own statement), and still wins once.
    assert await store.try_claim("prt_1", "after-stop", "h")
    assert not await store.try_claim("prt_1", "after-stop", "h")
