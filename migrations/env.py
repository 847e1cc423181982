"""Alembic environment: async engines for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from openability.charging.partitions import is_partition_name
from openability.config import Settings
from openability.kernel.db import make_engine
from openability.models import metadata

config = context.config


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else Settings().effective_database_url()


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """The CDR table's month partitions (and detached ones) are not models: charging/partitions.py."""
    return not (type_ == "table" and is_partition_name(name))


def _configure(connection: Connection | None = None, **kw: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        render_as_batch=True,  # SQLite needs batch mode for ALTER TABLE
        compare_type=True,
        **kw,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table (create the new one, copy, drop the old one, rename). With foreign
        # keys enforced, dropping a table other rows refer to fails ("FOREIGN KEY constraint failed" once
        # the database has data: payments under invoices). SQLite's own recipe for ALTER TABLE: keys off
        # outside the transaction, then `foreign_key_check` before the commit, on again after.
        _pragma(connection, "PRAGMA foreign_keys=OFF")
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows that break a foreign key: {broken[:5]}")
    if sqlite:
        connection.commit()
        _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    """On the driver's connection, outside any transaction (SQLAlchemy's "begin" event would put a
    BEGIN first, and SQLite ignores `foreign_keys` inside a transaction)."""
    cursor = connection.connection.cursor()
    cursor.execute(statement)
    cursor.close()


async def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), search_path=config.attributes.get("search_path"))
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
