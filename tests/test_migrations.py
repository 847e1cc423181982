"""Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from openability.charging.partitions import is_partition_name
from openability.kernel.db import make_engine
from openability.kernel.migrate import upgrade
from openability.models import metadata


def pg_async_url() -> str:
    return os.environ["OPENABILITY_TEST_DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)


def _diff(conn: Any) -> list[Any]:
    # The CDR table's month partitions are not models (charging/partitions.py; migrations/env.py too).
    ctx = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "render_as_batch": True,
            "include_name": lambda name, type_, _parents: not (type_ == "table" and is_partition_name(name)),
        },
    )
    return list(compare_metadata(ctx, metadata))


async def test_migrations_match_models(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        schema = None
    else:
        url = pg_async_url()
        schema = "m_" + secrets.token_hex(5)
        admin = create_async_engine(url)
        async with admin.begin() as c:
            await c.execute(text(f"CREATE SCHEMA {schema}"))
        await asyncio.to_thread(upgrade, url, schema)
        engine = make_engine(url, search_path=schema)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(_diff)
            tables = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c, schema=schema)))
        assert "partners" in tables and "usage_records" in tables
        assert diffs == [], f"models and migrations differ: {diffs}"
    finally:
        await engine.dispose()
        if schema:
            async with admin.begin() as c:
                await c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            await admin.dispose()


def test_migrations_dir_found() -> None:
    from openability.kernel.migrate import migrations_dir

    assert (migrations_dir() / "env.py").exists()
