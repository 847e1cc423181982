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
    "openability.ledger.cli",
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


@app.command()
def migrate() -> None:
    """Apply database migrations (Alembic) to OPENABILITY_DATABASE_URL (default: SQLite in ./var)."""
    from openability.config import Settings
    from openability.kernel.migrate import upgrade

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url())
    typer.echo("database is at the latest migration")


@app.command()
def seed() -> None:
    """Load the demo data (idempotent) and print the demo credentials."""
    import json

    from openability.seed import seed_demo

    creds = run_async(seed_demo)
    typer.echo(json.dumps(creds, ensure_ascii=False, indent=2))


@app.command()
def audit() -> None:
    """Check the ledger invariants; exit 1 on any violation (R-BILL-10)."""
    from openability.ledger.audit import run_audit

    async def check(container: Any) -> list[str]:
        async with container.uow() as uow:
            return await run_audit(uow.session)

    violations = run_async(check)
    if violations:
        for v in violations:
            typer.secho(f"VIOLATION: {v}", fg="red", err=True)
        raise typer.Exit(1)
    typer.secho("ledger audit clean", fg="green")


jobs_app = typer.Typer(help="Scheduled jobs: list them or run one now.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("list")
def jobs_list() -> None:
    from rich.console import Console
    from rich.table import Table

    from openability.jobs.scheduler import load_jobs
    from openability.kernel.tables import id_column

    jobs = load_jobs()
    table = Table(id_column("job", jobs), "description")
    for job in jobs.values():
        table.add_row(job.name, job.description)
    Console().print(table)


@jobs_app.command("run")
def jobs_run(
    name: str, force: bool = typer.Option(False, help="run again even if this period already ran")
) -> None:
    """Run one job for the current period."""
    from openability.jobs.scheduler import load_jobs, run_job

    jobs = load_jobs()
    if name not in jobs:
        typer.secho(f"unknown job {name!r}; known: {', '.join(sorted(jobs))}", fg="red", err=True)
        raise typer.Exit(2)

    async def go(container: Any) -> str | None:
        return await run_job(container, jobs[name], force=force)

    res = run_async(go)
    typer.echo(res if res is not None else "already ran for this period (use --force)")


@app.command()
def run(
    host: str | None = typer.Option(None, help="listen address (OPENABILITY_HOST)"),
    port: int | None = typer.Option(None, help="port (OPENABILITY_PORT)"),
    workers: int = typer.Option(1, help="worker processes (use PostgreSQL for more than one)"),
) -> None:
    """Migrate, seed demo data on first start, print the console URL and a curl, and serve."""
    from openability.runner import serve

    serve(host=host, port=port, workers=workers)


def main() -> None:
    app()
