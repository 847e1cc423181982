"""Run Alembic migrations programmatically (`openability migrate`, `make run`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
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
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["url"] = url
    if search_path:
        cfg.attributes["search_path"] = search_path
    return cfg


def upgrade(url: str, search_path: str | None = None, revision: str = "head") -> None:
    """Synchronous: call outside a running event loop (or in a worker thread)."""
    command.upgrade(alembic_config(url, search_path), revision)
