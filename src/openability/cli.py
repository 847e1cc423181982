"""`openability` command line: the CLI's composition root. Every command group is added here by explicit
import; domain command modules run against the platform through `kernel.commands`."""

from __future__ import annotations

from typing import Any

import typer

from openability.billing import cli as billing_cli
from openability.bootstrap import Container, build_container
from openability.catalog import cli as catalog_cli
from openability.kernel.commands import run_async, use_platform
from openability.kernel.platform import Platform
from openability.notifications import cli as notifications_cli
from openability.partners import cli as partners_cli
from openability.tickets import cli as tickets_cli


def _cli_platform() -> Container:
    # No data directory is created for a command: one run in the wrong place must not leave an empty
    # ./var behind (kernel.commands says where it looked instead).
    return build_container(create_data_dir=False)


use_platform(_cli_platform)

app = typer.Typer(help="openability: telecom capability-exposure platform", no_args_is_help=True)
for group in (partners_cli, catalog_cli, billing_cli, tickets_cli, notifications_cli):
    app.add_typer(group.app, name=group.NAME)

ledger_app = typer.Typer(help="Double-entry ledger: invariant audit.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
jobs_app = typer.Typer(help="Scheduled jobs: list them or run one now.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


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

    async def go(platform: Platform) -> dict[str, Any]:
        return await seed_demo(platform)

    creds = run_async(go)
    typer.echo(json.dumps(creds, ensure_ascii=False, indent=2))


def _audit_command() -> None:
    from rich.console import Console
    from rich.table import Column, Table

    from openability.integrity import run_audit

    async def check(platform: Platform) -> list[str]:
        async with platform.uow() as uow:
            return await run_audit(uow.session)

    violations = run_async(check)
    console = Console()
    if not violations:
        console.print("[green]ledger audit clean[/green]: every invariant holds")
        return
    # fold: a violation names account and entry ids, which must come out whole, not as "je_1m8…"
    table = Table(
        "#",
        Column("violation", overflow="fold"),
        title=f"{len(violations)} ledger violation(s)",
        title_style="bold red",
    )
    for i, v in enumerate(violations, start=1):
        table.add_row(str(i), v)
    console.print(table)
    raise typer.Exit(1)


@app.command()
def audit() -> None:
    """Check the ledger invariants; exit 1 on any violation (R-BILL-10)."""
    _audit_command()


@ledger_app.command("audit")
def ledger_audit() -> None:
    """Check every invariant: balanced entries, balances = lines, prepaid money = payments - CDRs -
    refunds, every CDR in exactly one charge entry, reserved = open grants, nothing negative."""
    _audit_command()


@jobs_app.command("list")
def jobs_list() -> None:
    from rich.console import Console
    from rich.table import Table

    from openability.jobs_catalog import all_jobs
    from openability.kernel.tables import id_column

    jobs = all_jobs()
    table = Table(id_column("job", jobs), "description")
    for job in jobs.values():
        table.add_row(job.name, job.description)
    Console().print(table)


@jobs_app.command("run")
def jobs_run(
    name: str, force: bool = typer.Option(False, help="run again even if this period already ran")
) -> None:
    """Run one job for the current period."""
    from openability.jobs.scheduler import run_job
    from openability.jobs_catalog import all_jobs

    jobs = all_jobs()
    if name not in jobs:
        typer.secho(f"unknown job {name!r}; known: {', '.join(sorted(jobs))}", fg="red", err=True)
        raise typer.Exit(2)

    async def go(platform: Platform) -> str | None:
        return await run_job(platform, jobs[name], force=force)

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
