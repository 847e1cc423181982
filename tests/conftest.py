"""Shared fixtures. Every database test runs on SQLite and, when OPENABILITY_TEST_DATABASE_URL is set,
on PostgreSQL too, each test in its own fresh database (SQLite file) or schema (PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import create_mock_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from openability.bootstrap import Container, build_container
from openability.config import Settings
from openability.kernel.clock import FrozenClock
from openability.kernel.db import make_engine
from openability.models import metadata

PG_URL = os.environ.get("OPENABILITY_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

# 2026-11-02 10:00 Asia/Shanghai: a Monday, a working day.
DEFAULT_NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # postgres_only tests need a PostgreSQL URL; without one they are deselected, not skipped silently.
    if PG_URL:
        return
    keep, drop = [], []
    for it in items:
        (drop if it.get_closest_marker("postgres_only") else keep).append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


async def _alter_test_database(setting: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(f'ALTER DATABASE "{name}" {setting}')
    finally:
        await conn.close()


def pytest_configure(config: pytest.Config) -> None:
    """The test database is disposable: for this run its commits do not wait for the WAL flush
    (synchronous_commit = off for new connections to it; a flushed commit costs ~2 ms on this
    machine's disk, an unflushed one ~0.2 ms). Visibility, locking and isolation are unchanged; only
    a crash of the PostgreSQL server could lose the last commits, and the fault test that restarts
    PostgreSQL runs its own cluster (tests/faults). Set and reset once per run, by the process that
    runs the tests or, with pytest-xdist (`make test` runs the suite in parallel processes), by the
    controller: a worker that finished first must not reset it under the others."""
    if PG_URL and not hasattr(config, "workerinput"):
        asyncio.run(_alter_test_database("SET synchronous_commit = off"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if PG_URL and not hasattr(config, "workerinput"):
        asyncio.run(_alter_test_database("RESET synchronous_commit"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestDB:
    def __init__(self, url: str, engine: AsyncEngine, schema: str | None, backend: str) -> None:
        self.url = url
        self.engine = engine
        self.schema = schema
        self.backend = backend


def pg_async_url() -> str:
    url = PG_URL
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


_SQLITE_TEMPLATE: list[Path] = []
_PG_DDL: list[str] = []


async def _sqlite_template(factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database with every table, made once per session and copied for each test
    (create_all takes ~0.2 s, a copy ~1 ms)."""
    if not _SQLITE_TEMPLATE:
        path = factory.mktemp("sqlite-template") / "template.db"
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await engine.dispose()  # the last connection checkpoints the WAL into the file
        _SQLITE_TEMPLATE.append(path)
    return _SQLITE_TEMPLATE[0]


def _pg_ddl() -> str:
    """create_all's DDL for PostgreSQL (tables, indexes, the DDL events such as the CDR table's
    DEFAULT partition) as one script, captured once per session: create_all itself takes ~1 s per
    test (a catalog query per table and a round trip per statement), the script a fraction of it."""
    if not _PG_DDL:
        statements: list[str] = []

        def record(sql: Any, *_args: Any, **_kw: Any) -> None:
            statements.append(str(sql.compile(dialect=mock.dialect)).strip())

        mock = create_mock_engine("postgresql+asyncpg://", record)  # type: ignore[arg-type]
        metadata.create_all(mock, checkfirst=False)  # type: ignore[arg-type]
        _PG_DDL.append(";\n".join(statements) + ";")
    return _PG_DDL[0]


@pytest.fixture
async def db(backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestDB]:
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(await _sqlite_template(tmp_path_factory), path)
        url = f"sqlite+aiosqlite:///{path}"
        engine = make_engine(url)
        yield TestDB(url, engine, None, backend)
        await engine.dispose()
        return
    url = pg_async_url()
    schema = "t_" + secrets.token_hex(6)
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        raw = await conn.get_raw_connection()
        # one round trip: the schema and every table, index and DDL event of create_all
        await raw.driver_connection.execute(  # type: ignore[union-attr]
            f"CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema}; {_pg_ddl()}"
        )
    engine = make_engine(url, search_path=schema)
    try:
        yield TestDB(url, engine, schema, backend)
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(DEFAULT_NOW)


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    # The scheduler stays off in tests: jobs are run explicitly on a moved clock. Sandbox payments are
    # off, as in production, unless a test (or its module) is marked `payments_sandbox` (a demo start).
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        smsc_enabled=False,
        run_test_smsc=False,
        run_scheduler=False,
        payments_sandbox=request.node.get_closest_marker("payments_sandbox") is not None,
        # Calls answered after their CDR's commit, so a test reads its own writes right after a call;
        # the production default (answered after the spool sync, the commit behind) has its own tests
        # (tests/charging/test_spool_answer.py).
        charge_answer_after="commit",
        _env_file=None,
    )


@pytest.fixture
async def container(db: TestDB, clock: FrozenClock, settings: Settings) -> AsyncIterator[Container]:
    c = build_container(settings, clock=clock, engine=db.engine)
    yield c


@pytest.fixture
async def app_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app in-process (lifespan run), reached through httpx."""
    from openability.app import create_app

    app = create_app(container, manage_container=False)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
def assert_ledger_clean(container: Container) -> Iterator[Any]:
    """Call `await assert_ledger_clean()` at the end of every money test (R-BILL-10)."""

    async def check() -> None:
        from openability.integrity import run_audit

        async with container.uow() as uow:
            violations = await run_audit(uow.session)
        assert violations == [], "ledger audit failed:\n" + "\n".join(str(v) for v in violations)

    yield check
