"""`openability notifications …`: send the due emails now, read the delivery log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table

from openability.kernel.clock import SHANGHAI
from openability.kernel.commands import CLI_ACTOR, CommandConsole, run_async
from openability.kernel.tables import id_column
from openability.notifications import service
from openability.notifications.delivery import deliver_due
from openability.notifications.types import DeliveryLogEntry, Outcome

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

NAME = "notifications"
app = typer.Typer(help="Notifications: email delivery of the outbox and its log", no_args_is_help=True)
console = CommandConsole()


@app.command("deliver")
def deliver() -> None:
    """Email the notices that are due now (what the notifications-delivery job does every tick)."""

    async def go(c: Platform) -> str:
        return (await deliver_due(c)).text()

    console.print(run_async(go))


@app.command("log")
def log(
    notification: Annotated[str | None, typer.Option(help="only this notification's attempts")] = None,
    outcome: Annotated[Outcome | None, typer.Option(help="only attempts with this outcome")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The latest delivery attempts, newest first."""

    async def go(c: Platform) -> tuple[list[DeliveryLogEntry], int]:
        async with c.uow(CLI_ACTOR) as uow:
            return await service.delivery_log(uow, notification_id=notification, outcome=outcome, limit=limit)

    rows, total = run_async(go)
    table = Table(
        "at (Asia/Shanghai)",
        id_column("notification", [r.notification_id for r in rows]),
        Column("recipient", overflow="fold"),
        "attempt",
        "outcome",
        Column("error", overflow="fold"),
        title=f"{len(rows)} of {total} attempt(s)",
    )
    for r in rows:
        table.add_row(
            r.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            r.notification_id,
            r.recipient,
            str(r.attempt),
            r.outcome,
            r.error,
        )
    console.print(table)
