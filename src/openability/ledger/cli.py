"""`openability ledger audit`: check the ledger invariants (R-BILL-10); exit code 1 on any violation."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Column, Table

NAME = "ledger"
app = typer.Typer(help="Double-entry ledger: invariant audit.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Double-entry ledger (R-BILL-10)."""


async def _audit() -> list[str]:
    from openability.bootstrap import build_container
    from openability.ledger.audit import run_audit

    container = build_container()
    try:
        async with container.uow() as uow:
            return await run_audit(uow.session)
    finally:
        await container.dispose()


@app.command("audit")
def audit() -> None:
    """Check every invariant: balanced entries, balances = lines, prepaid money = payments - CDRs -
    refunds, every CDR in exactly one charge entry, reserved = open grants, nothing negative."""
    console = Console()
    violations = asyncio.run(_audit())
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
