"""The test clock's fixtures: the platform with OPENABILITY_TEST_CLOCK on, its base the tests' frozen
clock (so "the system clock" stands still unless a test moves it), and operator tokens."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from openability.bootstrap import Container
from openability.config import Settings
from openability.kernel.db import make_engine
from openability.kernel.migrate import upgrade
from openability.partners import identity

ADMIN_PASSWORD = "Admin12345"


def pg_async_url() -> str:
    url = os.environ.get("OPENABILITY_TEST_DATABASE_URL", "")
    return "postgresql+asyncpg://" + url[len("postgresql://") :] if url.startswith("postgresql://") else url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        smsc_enabled=False,
        run_test_smsc=False,
        run_scheduler=False,
        test_clock=True,
        _env_file=None,
    )


async def _operator_token(container: Container, username: str, roles: list[str]) -> str:
    async with container.uow() as uow:
        await identity.create_operator(uow, username, ADMIN_PASSWORD, roles, username.title())
    async with container.uow() as uow:
        return await identity.create_operator_token(uow, username, "tests")


@pytest.fixture
def operator_token() -> Callable[[Container, str, list[str]], Awaitable[str]]:
    """`await operator_token(container, username, roles)`: a new operator's API token."""
    return _operator_token


@pytest.fixture
async def admin_headers(container: Container) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _operator_token(container, 'root', ['admin'])}"}


@pytest.fixture
def migrated_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own for commands run as separate platforms (the CLI, `run`): a SQLite
    file, or a fresh PostgreSQL database (a command's engine takes no search path)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        upgrade(url)
        yield url
        return
    name = "tc_" + secrets.token_hex(6)
    server = pg_async_url()
    _admin_sql(server, f"CREATE DATABASE {name}")
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        _admin_sql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin_sql(url: str, stmt: str) -> None:
    async def go() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(stmt))
        finally:
            await engine.dispose()

    asyncio.run(go())


@pytest.fixture
def query() -> Callable[[str, Any], list[Any]]:
    """Run one statement against a database URL (what a command left behind) and return its rows."""

    def run(url: str, stmt: Any) -> list[Any]:
        async def go() -> list[Any]:
            engine = make_engine(url)
            try:
                async with engine.connect() as conn:
                    return list((await conn.execute(stmt)).all())
            finally:
                await engine.dispose()

        return asyncio.run(go())

    return run
