"""`openability billing …`: confirm bank transfers, list payments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.table import Table

from openability.billing.schemas import fmt_fen
from openability.kernel.commands import CLI_ACTOR, CommandConsole, run_async
from openability.kernel.tables import id_column

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

NAME = "billing"
app = typer.Typer(help="Payments, invoices and settlement", no_args_is_help=True)
console = CommandConsole()
T = TypeVar("T")


@app.command("confirm-payment")
def confirm_payment_cmd(payment_id: str) -> None:
    """Confirm that the funds of a bank-transfer payment arrived (posts it, issues the invoice)."""

    async def go(c: Platform) -> tuple[str, str]:
        from openability.billing import service

        async with c.uow(CLI_ACTOR) as uow:
            p = await service.confirm_payment(uow, payment_id)
            inv = (await service.invoices_for_payments(uow, [p.id])).get(p.id)
            return p.state.value, inv.number if inv else "-"

    state, number = run_async(go)
    console.print(f"payment {payment_id}: {state}, invoice {number}")


@app.command("payments")
def payments_cmd(
    partner: Annotated[str | None, typer.Option(help="partner id")] = None,
    state: Annotated[str | None, typer.Option(help="pending | confirmed | rejected")] = None,
    limit: int = 50,
) -> None:
    """List payments, newest first."""
    from openability.billing.types import PaymentState

    try:
        st = PaymentState(state) if state else None
    except ValueError:
        raise typer.BadParameter(f"unknown state {state}") from None

    async def go(c: Platform) -> list[list[str]]:
        from openability.billing import service

        async with c.uow(CLI_ACTOR) as uow:
            rows, _ = await service.list_payments(uow, partner_id=partner, state=st, limit=limit)
            return [
                [
                    p.id,
                    p.partner_id,
                    p.transaction_id,
                    p.method.value,
                    p.purpose.value,
                    fmt_fen(p.amount),
                    p.state.value,
                    p.created_at.isoformat(timespec="seconds"),
                ]
                for p in rows
            ]

    rows = run_async(go)
    table = Table(
        id_column("id", (r[0] for r in rows)),
        id_column("partner", (r[1] for r in rows)),
        *("transaction", "method", "purpose", "amount", "state", "created"),
    )
    for r in rows:
        table.add_row(*r)
    console.print(table)


@app.command("fapiao-import")
def fapiao_import_cmd(
    file: Annotated[
        typer.FileText, typer.Argument(help="CSV: invoice number, fapiao number, date (YYYY-MM-DD)")
    ],
) -> None:
    """Record the official fapiao numbers the tax system issued, from its export: all rows or none
    (every bad row is named by its line); rows already recorded as given are left as they are."""
    text = file.read()

    async def go(c: Platform) -> tuple[int, int]:
        from openability.billing import invoices

        async with c.uow(CLI_ACTOR) as uow:
            r = await invoices.import_fapiao(uow, text)
            return r.recorded, r.unchanged

    recorded, unchanged = run_async(go)
    console.print(f"{recorded} fapiao number(s) recorded, {unchanged} already recorded")
