"""The workers bench's lock-wait trace (bench/pg_sampler.py): a wait it samples says which statement
waits, on what, behind which statement — so a future wait explains itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bench.pg_sampler import PgSampler, statement_name
from sqlalchemy import text
from sqlalchemy.engine import make_url

from openability.charging import cdr_pg, grants_pg

# pg_stat_activity keeps the first 1024 bytes of a statement (track_activity_query_size)
SEEN = 1024


def test_the_application_statements_are_named_from_what_pg_stat_activity_keeps() -> None:
    assert statement_name(grants_pg.SQL[:SEEN]) == "grant refill (grants_pg.SQL)"
    assert statement_name(grants_pg.SQL_SKIP_LOCKED[:SEEN]) == "grant refill (grants_pg.SQL)"
    assert statement_name(cdr_pg.SQL[:SEEN]) == "CDR batch (cdr_pg.SQL)"
    assert statement_name(cdr_pg.SQL_AFTER_COPY[:SEEN]) == "CDR batch after COPY (cdr_pg.SQL_AFTER_COPY)"
    assert statement_name(cdr_pg.SQL_ENTRY) == "CDR batch entry (cdr_pg.SQL_ENTRY)"
    assert statement_name("SELECT   1\n FROM nowhere") == "SELECT 1 FROM nowhere"


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.mark.postgres_only
async def test_a_sampled_lock_wait_is_traced_to_its_blocker(db: object, tmp_path: Path) -> None:
    """One transaction holds a row, another's UPDATE of it waits: the sampler counts the wait and
    traces it — the waiter's statement, a transactionid lock on a tuple of the table, the blocker idle
    in its transaction."""
    engine = db.engine  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE trace_t (id int PRIMARY KEY, v int)"))
        await conn.execute(text("INSERT INTO trace_t VALUES (1, 0)"))
    url = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)  # type: ignore[attr-defined]
    async with engine.connect() as holder, engine.connect() as waiter:
        await holder.execute(text("UPDATE trace_t SET v = 1 WHERE id = 1"))
        blocked = asyncio.create_task(waiter.execute(text("UPDATE trace_t SET v = 2 WHERE id = 1")))
        await asyncio.sleep(0.2)
        sampler = PgSampler(url, interval=0.02)
        await asyncio.to_thread(sampler.__enter__)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(sampler.__exit__, None, None, None)
        await holder.rollback()
        await blocked
        await waiter.rollback()
    stats = sampler.stats
    assert stats.lock_samples > 0
    lines = stats.blocker_lines()
    assert any(
        "UPDATE trace_t SET v = 2" in line
        and "(transactionid; trace_t (0,1))" in line
        and "UPDATE trace_t SET v = 1" in line
        and "[idle in transaction]" in line
        for line in lines
    ), lines
