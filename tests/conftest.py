"""Shared fixtures. Every database test runs on SQLite and, when OPENABILITY_TEST_DATABASE_URL is set,
on PostgreSQL too, each test in its own fresh database (SQLite file) or schema (PostgreSQL)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
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


@pytest.fixture
async def db(backend: str, tmp_path: Path) -> AsyncIterator[TestDB]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield TestDB(url, engine, None, backend)
        await engine.dispose()
        return
    url = pg_async_url()
    schema = "t_" + secrets.token_hex(6)
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(url, search_path=schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
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
