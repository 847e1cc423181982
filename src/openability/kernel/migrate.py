"""Run Alembic migrations programmatically (`openability migrate`, `make run`, tests)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

# Alembic (~10 MiB) is imported by what migrates, not by the server, which imports this module for
# require_migrated and sqlite_path.
if TYPE_CHECKING:
    from alembic.config import Config


def migrations_dir() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "migrations" / "env.py"
        if cand.exists():
            return cand.parent
    cand = Path.cwd() / "migrations"
    if (cand / "env.py").exists():
        return cand
    raise FileNotFoundError("migrations/ folder not found (install the project in editable mode)")


def alembic_config(url: str, search_path: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["url"] = url
    if search_path:
        cfg.attributes["search_path"] = search_path
    return cfg


def upgrade(url: str, search_path: str | None = None, revision: str = "head") -> None:
    """Synchronous: call outside a running event loop (or in a worker thread)."""
    from alembic import command

    command.upgrade(alembic_config(url, search_path), revision)


class NoDatabase(Exception):
    """No migrated database where the settings point: a CLI command says so in one line."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another backend or an in-memory database)."""
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            rest = url[len(prefix) :].split("?", 1)[0]
            return Path(rest) if rest and rest != ":memory:" else None
    return None


async def require_migrated(engine: AsyncEngine, url: str) -> None:
    """Raise NoDatabase unless the database exists and carries Alembic's version table. For SQLite the
    file is looked at first, so a command run in the wrong directory creates no empty database."""
    where = str(sqlite_path(url) or url.split("@")[-1])
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise NoDatabase(f"no database at {where}")
    try:
        async with engine.connect() as conn:
            version = await conn.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
    except (OperationalError, ProgrammingError, InterfaceError, OSError) as exc:
        raise NoDatabase(f"no migrated database at {where} ({type(exc).__name__})") from exc
    if version is None:
        raise NoDatabase(f"the database at {where} is not migrated")
