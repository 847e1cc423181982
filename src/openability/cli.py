"""`openability` command line: the CLI's composition root. Every command group is added here by explicit
import; domain command modules run against the platform through `kernel.commands`."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from openability.admission import cli as admission_cli
from openability.billing import cli as billing_cli
from openability.billing import collection_cli, statement_cli
from openability.bootstrap import Container, build_container
from openability.catalog import cli as catalog_cli
from openability.kernel.commands import CLI_ACTOR, run_async, use_platform
from openability.kernel.platform import Platform
from openability.kernel.testclock import TestClock
from openability.notifications import cli as notifications_cli
from openability.partners import cli as partners_cli
from openability.tickets import cli as tickets_cli


def _cli_platform() -> Container:
    # No data directory is created for a command: one run in the wrong place must not leave an empty
    # ./var behind (kernel.commands says where it looked instead).
    container = build_container(create_data_dir=False)
    if isinstance(container.clock, TestClock):
        # A command sees the time the platform's clock was moved to, as the serving processes do.
        container.clock.load_blocking(container.settings.effective_database_url())
    return container


use_platform(_cli_platform)

app = typer.Typer(help="openability: telecom capability-exposure platform", no_args_is_help=True)
# The bill run and statements belong to the billing group.
billing_cli.app.command("run")(statement_cli.run_cmd)
billing_cli.app.command("statements")(statement_cli.statements_cmd)
billing_cli.app.add_typer(collection_cli.app, name="collections")
for group in (partners_cli, catalog_cli, billing_cli, tickets_cli, notifications_cli, admission_cli):
    app.add_typer(group.app, name=group.NAME)

ledger_app = typer.Typer(help="Double-entry ledger: invariant audit.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
jobs_app = typer.Typer(help="Scheduled jobs: list them or run one now.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
clock_app = typer.Typer(
    help="The test clock (demo only, OPENABILITY_TEST_CLOCK=true): show or move the platform's time.",
    no_args_is_help=True,
)
app.add_typer(clock_app, name="clock")
operators_app = typer.Typer(help="Operators: create the first admin.", no_args_is_help=True)
app.add_typer(operators_app, name="operators")
cdr_app = typer.Typer(
    help="CDR storage (PostgreSQL): the month partitions of usage_records.", no_args_is_help=True
)
app.add_typer(cdr_app, name="cdr")


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
def backup(
    target: Path = typer.Argument(..., help="file to write the copy to (must not exist)"),
) -> None:
    """Copy the embedded SQLite database while the platform runs (SQLite's online backup: a consistent
    snapshot, page by page). On PostgreSQL use pg_dump (docs/operations.md)."""
    import sqlite3

    from openability.config import Settings
    from openability.kernel.migrate import sqlite_path

    settings = Settings()
    url = settings.effective_database_url()
    source = sqlite_path(url)
    if source is None:
        typer.secho(
            "the database is not SQLite: back it up with pg_dump, e.g. "
            '`pg_dump --format=custom --file openability.dump "$DATABASE_URL"` (docs/operations.md)',
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    if not source.exists():
        typer.secho(f"no database at {source}", fg="red", err=True)
        raise typer.Exit(2)
    if target.exists():
        typer.secho(f"{target} exists: choose a new file", fg="red", err=True)
        raise typer.Exit(2)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        ok = dst.execute("PRAGMA integrity_check").fetchone()
    finally:
        dst.close()
        src.close()
    if ok is None or ok[0] != "ok":
        typer.secho(f"the copy failed its integrity check: {ok}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"backed up {source} to {target} (integrity check ok)")


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
    name: str,
    force: bool = typer.Option(False, help="run again even if this period already ran"),
    period: str | None = typer.Option(
        None, help="the period to run, e.g. 2026-11 for a monthly billing job (default: the current one)"
    ),
) -> None:
    """Run one job for the current period, or for --period (the month jobs: bill-run, statement-issue,
    statement-late-alert, deemed-confirmation, collections, collections-deferred)."""
    import re

    from openability.jobs.scheduler import run_job
    from openability.jobs_catalog import all_jobs

    jobs = all_jobs()
    if name not in jobs:
        typer.secho(f"unknown job {name!r}; known: {', '.join(sorted(jobs))}", fg="red", err=True)
        raise typer.Exit(2)
    job = jobs[name]
    if period is not None:
        if job.run_period is None:
            typer.secho(f"job {name} takes no --period", fg="red", err=True)
            raise typer.Exit(2)
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
            typer.secho(f"--period must be YYYY-MM, got {period!r}", fg="red", err=True)
            raise typer.Exit(2)

    async def go(platform: Platform) -> str | None:
        return await run_job(platform, job, force=force, period=period)

    res = run_async(go)
    typer.echo(res if res is not None else "already ran (or not yet due) for this period (use --force)")


def _test_clock(platform: Platform) -> TestClock:
    if not isinstance(platform.clock, TestClock):  # the setting on builds one (bootstrap)
        raise RuntimeError("OPENABILITY_TEST_CLOCK is on but the platform's clock is no test clock")
    return platform.clock


def _require_test_clock() -> None:
    from openability.config import Settings

    if not Settings().test_clock:
        typer.secho(
            "the test clock is off: it is for demo installations only "
            "(OPENABILITY_TEST_CLOCK=true, which `openability run --demo` sets)",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)


def _show_state(state: dict[str, object]) -> None:
    typer.echo(f"now:           {state['now']} ({state['nowShanghai']} Asia/Shanghai)")
    typer.echo(f"business date: {state['businessDate']}")
    typer.echo(f"ahead of the system clock by {state['offsetSeconds']} s")


@clock_app.command("show")
def clock_show() -> None:
    """The platform's time: the system clock plus what the test clock moved it by."""
    _require_test_clock()

    async def go(platform: Platform) -> dict[str, object]:
        return _test_clock(platform).state().as_dict()

    _show_state(run_async(go))


@clock_app.command("set")
def clock_set(
    to: str = typer.Argument(
        ..., metavar="TIME", help="ISO 8601 with its offset, e.g. 2026-12-10T09:00+08:00"
    ),
) -> None:
    """Move the platform's clock forward to TIME (never backwards; audited as the CLI). The serving
    processes take the new time within a second and run the jobs whose period it entered."""
    _require_test_clock()
    try:
        target = datetime.fromisoformat(to)
    except ValueError:
        typer.secho(f"not an ISO 8601 time: {to!r} (e.g. 2026-12-10T09:00+08:00)", fg="red", err=True)
        raise typer.Exit(1) from None

    async def go(platform: Platform) -> tuple[dict[str, object], dict[str, object]]:
        clock = _test_clock(platform)
        moved = await clock.move(lambda: platform.uow(CLI_ACTOR), target)
        return moved.as_dict(), clock.state().as_dict()

    moved, state = run_async(go)
    typer.echo(f"moved the clock from {moved['from']} to {moved['to']}")
    _show_state(state)


@operators_app.command("create-admin")
def operators_create_admin(
    username: str,
    display_name: str = typer.Option("", help="name shown in the console"),
    email: str = typer.Option("", help="contact e-mail"),
) -> None:
    """Create an operator with the admin role: the first account of a new installation. The password is
    read from OPENABILITY_ADMIN_PASSWORD or asked for (twice, not shown); it is never printed."""
    from openability.partners import identity

    password = os.environ.get("OPENABILITY_ADMIN_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )

    async def go(platform: Platform) -> tuple[str, str]:
        async with platform.uow(CLI_ACTOR) as uow:
            op = await identity.create_operator(
                uow, username, password, ["admin"], display_name=display_name, email=email
            )
        return op.username, op.id

    name, op_id = run_async(go)
    typer.echo(f"created admin operator {name} ({op_id}): log in at the console's /console/login")


@app.command()
def run(
    host: str | None = typer.Option(None, help="listen address (OPENABILITY_HOST)"),
    port: int | None = typer.Option(None, help="port (OPENABILITY_PORT)"),
    workers: int = typer.Option(1, help="worker processes (use PostgreSQL for more than one)"),
    demo: bool = typer.Option(
        False,
        "--demo",
        help="demo installation (`make run`): demo operators, partners and money on first start, "
        "the test clock and sandbox payments on. Never in production.",
    ),
) -> None:
    """Migrate and serve. A production start seeds nothing (a new installation's first admin comes
    from `openability operators create-admin`); `--demo` loads the demo data on first start and prints
    its credentials and a curl to the terminal."""
    from openability.runner import serve

    serve(host=host, port=port, workers=workers, demo=demo)


def main() -> None:
    app()


@cdr_app.command("partitions")
def cdr_partitions(
    ensure: bool = typer.Option(
        False, help="first create the missing ones (what the cdr-partitions job does)"
    ),
) -> None:
    """List the attached partitions of usage_records (month, table, estimated rows)."""
    from rich.console import Console
    from rich.table import Table

    from openability.charging import partitions

    async def run(p: Platform) -> tuple[str, list[tuple[str, str, int]]]:
        done = (await partitions.ensure_partitions(p.engine, p.clock.now())).summary() if ensure else ""
        return done, await partitions.partition_sizes(p.engine)

    done, sizes = run_async(run)
    if done:
        typer.echo(done)
    if not sizes:
        typer.echo("usage_records is not partitioned (SQLite: one plain table)")
        return
    table = Table("month", "table", "rows (estimate)")
    for month, name, rows in sizes:
        table.add_row(month, name, f"{rows:,}")
    Console().print(table)


@cdr_app.command("detach-partition")
def cdr_detach_partition(month: str) -> None:
    """Detach a closed, billed month's partition (YYYY-MM). The table is kept, outside usage_records,
    for you to archive (pg_dump -t) and drop; statements and usage pages read the daily rollups.
    Refused for the current month or later and for a month whose bill run has not completed."""
    from openability.billing import statements
    from openability.billing.types import BillRunState
    from openability.charging import partitions

    async def run(p: Platform) -> str:
        month_ = statements.parse_month(month)
        async with p.uow(CLI_ACTOR) as uow:
            bill_run = await statements.bill_run_of(uow, month_)
            billed = bill_run is not None and bill_run.state == BillRunState.COMPLETED
        return await partitions.detach_partition(p.engine, month_, p.clock.now(), billed=billed)

    name = run_async(run)
    typer.echo(f"detached {name}: archive it (pg_dump -t {name}) and drop it when you no longer need it")
