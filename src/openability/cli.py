"""`openability` command line: run, migrate, seed, audit, jobs, and each domain's sub-commands."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

app = typer.Typer(help="openability: telecom capability-exposure platform", no_args_is_help=True)

T = TypeVar("T")

# Domain CLI modules: each exposes `app` (a typer.Typer) and `NAME`.
DOMAIN_CLIS = (
    "openability.partners.cli",
    "openability.catalog.cli",
    "openability.billing.cli",
    "openability.tickets.cli",
)


def run_async(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run a coroutine function with a fresh container (disposed afterwards)."""
    from openability.bootstrap import build_container

    async def main() -> T:
        container = build_container()
        try:
            return await fn(container, *args, **kwargs)
        finally:
            await container.dispose()

    return asyncio.run(main())


for _mod in DOMAIN_CLIS:
    try:
        _m = importlib.import_module(_mod)
    except ModuleNotFoundError as _exc:
        if _exc.name != _mod:
            raise
        continue
    app.add_typer(_m.app, name=_m.NAME)


def main() -> None:
    app()
