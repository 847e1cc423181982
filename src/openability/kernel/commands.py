"""What every CLI command shares: the platform it runs against, the actor it acts as, and one way to
report a refusal (one red line, exit 1) or a missing database (one line saying where it looked, exit 2).

The platform factory is set by the CLI's composition root (`openability.cli`), so domain command
modules depend on this kernel module only, never on the CLI or the bootstrap above them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from openability.kernel.errors import AppError
from openability.kernel.migrate import NoDatabase, require_migrated
from openability.kernel.platform import Platform
from openability.kernel.uow import Actor

T = TypeVar("T")

# The CLI runs with operator-level rights on the host; audit rows name it.
CLI_ACTOR = Actor(type="system", id="cli", roles=frozenset({"admin"}), name="cli")


class CommandConsole(Console):
    """The console a command module prints with, sized when it prints. Rich fixes a Console's width
    at construction when COLUMNS is set then, and a module's console is built when the module is
    first imported: its tables took the width of whatever environment that import happened in (found
    when the suite ran in parallel processes: another test's COLUMNS=80, cells cut). This one drops
    that, so COLUMNS and the terminal are read each time it prints; an explicit width stays."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._width = kwargs.get("width")
        self._height = kwargs.get("height")


_err = CommandConsole(stderr=True, highlight=False, soft_wrap=True)  # one line, whatever the width
_factory: Callable[[], Platform] | None = None


def use_platform(factory: Callable[[], Platform]) -> None:
    global _factory
    _factory = factory


def fail(exc: AppError) -> NoReturn:
    _err.print(f"[red]{exc.code}[/red]: {exc.message}")
    raise typer.Exit(1)


def fail_invalid(exc: ValidationError) -> NoReturn:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid input"}
    where = ".".join(str(p) for p in first.get("loc", ()))
    _err.print(f"[red]INVALID_ARGUMENT[/red]: {where + ': ' if where else ''}{first.get('msg', '')}")
    raise typer.Exit(1)


def run_async(fn: Callable[[Platform], Awaitable[T]], *, needs_database: bool = True) -> T:
    """Run a coroutine function against a fresh platform (disposed afterwards)."""
    if _factory is None:
        raise RuntimeError("no platform factory: openability.cli sets it before any command runs")
    factory = _factory

    async def main() -> T:
        platform = factory()
        try:
            if needs_database:
                await require_migrated(platform.engine, platform.settings.effective_database_url())
            return await fn(platform)
        finally:
            await platform.dispose()

    try:
        return asyncio.run(main())
    except AppError as exc:
        fail(exc)
    except ValidationError as exc:
        fail_invalid(exc)
    except NoDatabase as exc:
        _err.print(
            f"[red]no migrated database found[/red]: {exc}. Run the command where the data directory is "
            "(OPENABILITY_DATA_DIR, default ./var) or set OPENABILITY_DATABASE_URL; "
            "`openability migrate` creates it."
        )
        raise typer.Exit(2) from None
