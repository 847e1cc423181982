"""`openability backup`: a consistent copy of the embedded SQLite database while it is in use (issue 8,
backup and restore); a restore is the copy put back in place, and it serves the same data."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openability.cli import app
from openability.kernel.migrate import upgrade


def test_backup_copies_the_database_and_the_copy_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "var" / "openability.db"
    db.parent.mkdir()
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    from openability.bootstrap import build_container
    from openability.config import Settings
    from openability.partners import identity

    async def seed() -> None:
        c = build_container(Settings(data_dir=tmp_path / "var", _env_file=None))  # type: ignore[call-arg]
        try:
            async with c.uow() as uow:
                await identity.create_operator(uow, "ops1", "secret123abc", ["admin"])
        finally:
            await c.dispose()

    asyncio.run(seed())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENABILITY_DATABASE_URL", raising=False)
    monkeypatch.delenv("OPENABILITY_DATA_DIR", raising=False)
    holder = sqlite3.connect(db)  # the platform is "running": another connection holds the database
    try:
        r = CliRunner().invoke(app, ["backup", "copy.db"])
    finally:
        holder.close()
    assert r.exit_code == 0, r.output
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("SELECT username FROM operators").fetchall() == [("ops1",)]
        assert copy.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    finally:
        copy.close()
    again = CliRunner().invoke(app, ["backup", "copy.db"])
    assert again.exit_code == 2 and "exists" in again.output


def test_backup_on_postgresql_points_to_pg_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENABILITY_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    r = CliRunner().invoke(app, ["backup", "x.dump"])
    assert r.exit_code == 2 and "pg_dump" in r.output
