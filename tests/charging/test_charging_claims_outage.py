"""A claim on a connection the PostgreSQL server ended (a restart) is an outage, not a bug, and does not
poison the pool (R-CHARGE-04; found by the PostgreSQL-restart fault test, tests/faults: 5 of 91 calls
answered 500). The claim runs on the driver's own connection (charging/claims.py), so asyncpg's
"connection is closed" reached the gateway unwrapped, was not recognised as an outage, and the pool
was not told the connection was dead."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from openability.bootstrap import Container
from openability.charging.claims import ClaimStore
from openability.kernel.outage import is_outage

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def backend() -> str:
    return "postgresql"  # the driver-level claim exists on PostgreSQL only


async def test_r_charge_04_claim_on_a_connection_the_server_ended_is_an_outage_then_claims_work(
    container: Container, db: object
) -> None:
    # R-CHARGE-04
    store = ClaimStore(container, "worker-1")
    assert await store.try_claim("prt_1", "k1", "h1")
    async with container.engine.connect() as conn:  # the pool's one connection, as the claim used it
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    admin = create_async_engine(db.url)  # type: ignore[attr-defined]
    try:
        async with admin.connect() as conn:  # the server ends it, as `pg_ctl stop -m fast` does
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    with pytest.raises(Exception) as caught:
        await store.try_claim("prt_1", "k2", "h2")
    assert is_outage(caught.value), repr(caught.value)  # 503 for the caller, not 500
    assert await store.try_claim("prt_1", "k3", "h3")  # the dead connection was not handed out again
    assert not await store.try_claim("prt_1", "k1", "h1")  # and the first claim is still there
