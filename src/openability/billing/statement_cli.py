"""`openability billing run --period YYYY-MM` (the bill run, with a progress bar) and `openability billing
statements` (list them). Added to the `billing` command group by the CLI's composition root."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openability.kernel.commands import CLI_ACTOR, run_async
from openability.kernel.money import fmt_fen
from openability.kernel.tables import id_column

if TYPE_CHECKING:
    from openability.billing.statements import BillRunResult
    from openability.kernel.platform import Platform

console = Console()


def run_cmd(
    period: Annotated[str, typer.Option("--period", help="the month to bill, YYYY-MM (Asia/Shanghai)")],
) -> None:
    """Bill a month that has ended (R-BILL-02): one statement per partner from the daily rollups, with
    its true-up (R-CHARGE-06). Safe to run again: a billed month is left as it is."""
    from openability.billing import statements

    with Progress(
        TextColumn("[bold]bill run {task.fields[month]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partners"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("bill run", total=None, month=period)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        async def go(c: Platform) -> BillRunResult:
            return await statements.bill_run(c, period, actor=CLI_ACTOR, progress=progress)

        res = run_async(go)
        bar.update(task, completed=bar.tasks[0].total or 0)
    if res.already_done:
        console.print(f"{res.month} was billed before: {res.statements} statement(s), nothing changed")
    else:
        console.print(
            f"{res.month}: {res.created} statement(s) made, {res.statements} in all, total ¥{fmt_fen(res.total)}"
        )


def statements_cmd(
    month: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    state: Annotated[str | None, typer.Option(help="draft | issued | confirmed | disputed | settled")] = None,
    partner: Annotated[str | None, typer.Option(help="partner id")] = None,
    limit: int = 50,
) -> None:
    """List statements, newest month first."""
    from openability.billing.types import StatementState

    try:
        st = StatementState(state) if state else None
    except ValueError:
        raise typer.BadParameter(f"unknown state {state}") from None

    async def go(c: Platform) -> list[list[str]]:
        from openability.billing import statements

        async with c.uow(CLI_ACTOR) as uow:
            rows, _ = await statements.list_statements(
                uow, month=month, state=st, partner_id=partner, limit=limit
            )
        return [
            [s.id, s.partner_id, s.month, s.state.value, s.billing_mode, fmt_fen(s.total), str(s.true_up)]
            for s in rows
        ]

    rows = run_async(go)
    table = Table(
        id_column("id", (r[0] for r in rows)),
        id_column("partner", (r[1] for r in rows)),
        *("month", "state", "mode", "total", "true-up"),
    )
    for r in rows:
        table.add_row(*r)
    console.print(table)
