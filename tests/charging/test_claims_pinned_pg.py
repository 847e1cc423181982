"""The claim store's own connection on PostgreSQL (charging/claims.py): while its batcher runs, the
claim statement runs prepared on one pooled connection the store holds, with no pool checkout per
batch. R-CHARGE-04 stays exact on it: concurrent copies of a key claim it once, a connection the
server ended is an outage for its batch only (the next batch takes a new connection), and stop()
gives the connection back to the pool."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from openability.bootstrap import Container
from openability.charging.claims import ClaimStore
from openability.kernel.outage import is_outage

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def backend() -> str:
    return "postgresql"  # the held connection exists on PostgreSQL only


async def test_r_charge_04_concurrent_copies_claim_a_key_once_on_the_held_connection(
    container: Container,
) -> None:
    # R-CHARGE-04: ten copies of one key and ten distinct keys, claimed at once through the batcher.
    store = ClaimStore(container, "worker-1")
    await store.start()
    try:
        same = await asyncio.gather(*(store.try_claim("prt_1", "dup", "h") for _ in range(10)))
        distinct = await asyncio.gather(*(store.try_claim("prt_1", f"k{i}", "h") for i in range(10)))
        assert sum(same) == 1
        assert all(distinct)
        assert store._pin is not None  # the batches ran on the held connection
        again = await store.try_claim("prt_1", "dup", "h")
        assert again is False
        # Another worker's store sees the claims (they were committed: autocommit statement).
        other = ClaimStore(container, "worker-2")
        assert not await other.try_claim("prt_1", "k3", "h")
    finally:
        await store.stop()
    assert store._pin is None
    assert container.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_r_charge_04_held_connection_ended_by_the_server_is_an_outage_then_a_new_one_is_taken(
    container: Container, db: object
) -> None:
    # R-CHARGE-04
    store = ClaimStore(container, "worker-1")
    await store.start()
    try:
        assert await store.try_claim("prt_1", "k1", "h1")
        assert store._pin is not None
        pid = store._pin[1].get_server_pid()
        admin = create_async_engine(db.url)  # type: ignore[attr-defined]
        try:
            async with admin.connect() as conn:  # the server ends it, as `pg_ctl stop -m fast` does
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            await admin.dispose()
        try:
            second = await store.try_claim("prt_1", "k2", "h2")
        except Exception as exc:
            assert is_outage(exc), repr(exc)  # 503 for the caller, not 500
        else:
            assert second  # the store saw the connection closed before using it and took a new one
        assert await store.try_claim("prt_1", "k3", "h3")
        assert store._pin is not None and store._pin[1].get_server_pid() != pid
        assert not await store.try_claim("prt_1", "k1", "h1")  # the first claim is still there
    finally:
        await store.stop()
    assert container.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
