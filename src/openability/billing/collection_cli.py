"""`openability billing collections …`: the billing office's collections from the command line (R-BILL-07..09):
the board, confirming a statement's payment notice, recording funds that arrived, a partner's deposit and
its required level, and the collection run of a month. Added to the `billing` group by the CLI's
composition root."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from openability.kernel.commands import CLI_ACTOR, run_async
from openability.kernel.money import MoneyError, fmt_fen, parse_money
from openability.kernel.tables import id_column

if TYPE_CHECKING:
    from openability.billing.collections import DepositLevel
    from openability.kernel.platform import Platform

app = typer.Typer(
    help="Postpaid collections: amounts due, payment notices, deposits, suspensions", no_args_is_help=True
)
console = Console()


def _money(raw: str, name: str) -> Decimal:
    try:
        return parse_money(raw, field=name, places=2, example="100.00")
    except MoneyError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("list")
def list_cmd(
    state: Annotated[str | None, typer.Option(help="due | partially_paid | overdue | paid")] = None,
    month: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    partner: Annotated[str | None, typer.Option(help="partner id")] = None,
    suspended: Annotated[bool, typer.Option(help="only partners suspended for arrears")] = False,
    limit: int = 50,
) -> None:
    """Postpaid statements due, paid and overdue, newest month first."""
    from openability.billing.types import DueState

    try:
        st = DueState(state) if state else None
    except ValueError:
        raise typer.BadParameter(f"unknown state {state}") from None

    async def go(c: Platform) -> list[list[str]]:
        from openability.billing import collections

        async with c.uow(CLI_ACTOR) as uow:
            rows, _ = await collections.board(
                uow,
                state=st,
                month=month,
                partner_id=partner,
                suspended=True if suspended else None,
                limit=limit,
            )
        return [
            [
                r.statement_id,
                r.partner_id,
                r.month,
                fmt_fen(r.amount),
                fmt_fen(r.paid),
                fmt_fen(r.deducted),
                fmt_fen(r.unpaid),
                r.state.value + (" (deferred)" if r.deferred and r.collected_at is None else ""),
                r.collect_at.isoformat(timespec="minutes"),
                str(r.notices_pending),
            ]
            for r in rows
        ]

    rows = run_async(go)
    table = Table(
        id_column("statement", (r[0] for r in rows)),
        id_column("partner", (r[1] for r in rows)),
        *("month", "due", "paid", "deducted", "unpaid", "state", "collect at (UTC)", "notices"),
    )
    for r in rows:
        table.add_row(*r)
    console.print(table)


@app.command("confirm")
def confirm_cmd(payment_id: str) -> None:
    """Confirm that a statement's payment notice was paid: Dr cash / Cr receivable; fully paid, the
    statement is settled."""

    async def go(c: Platform) -> str:
        from openability.billing import service

        async with c.uow(CLI_ACTOR) as uow:
            p = await service.confirm_payment(uow, payment_id)
            return f"payment {p.id}: {p.state.value} ¥{fmt_fen(p.amount)} (statement {p.statement_id or '-'})"

    console.print(run_async(go))


@app.command("record")
def record_cmd(
    statement_id: str,
    amount: Annotated[str, typer.Option(help="the amount that arrived, e.g. 120.00")],
    reference: Annotated[str, typer.Option(help="the bank transfer's reference")],
    transaction_id: Annotated[str | None, typer.Option(help="idempotency key (default: a new one)")] = None,
) -> None:
    """Record a statement's bank transfer that arrived and confirm it at once."""
    value = _money(amount, "amount")

    async def go(c: Platform) -> str:
        from openability.billing import collections
        from openability.kernel.ids import new_id

        async with c.uow(CLI_ACTOR) as uow:
            p = await collections.record_payment(
                uow,
                statement_id,
                transaction_id=transaction_id or new_id("cli"),
                amount=value,
                bank_reference=reference,
            )
            return f"payment {p.id}: {p.state.value} ¥{fmt_fen(p.amount)} for statement {statement_id}"

    console.print(run_async(go))


def _show(d: DepositLevel) -> None:
    console.print(
        f"partner {d.partner_id}: deposit ¥{fmt_fen(d.deposit)}, required ¥{fmt_fen(d.required)}"
        f"{'' if d.required_set else ' (the first deposit paid)'}, to restore ¥{fmt_fen(d.shortfall)}, "
        f"arrears ¥{fmt_fen(d.arrears)}{', suspended for arrears' if d.suspended_for_arrears else ''}"
    )


@app.command("deposit")
def deposit_cmd(
    partner_id: str,
    required: Annotated[str | None, typer.Option(help="set the required deposit, e.g. 50000.00")] = None,
) -> None:
    """A partner's deposit against its required level (and set that level with --required)."""
    value = _money(required, "required") if required is not None else None

    async def go(c: Platform) -> DepositLevel:
        from openability.billing import collections

        async with c.uow(CLI_ACTOR) as uow:
            if value is not None:
                return await collections.set_required_deposit(uow, partner_id, value)
            return await collections.deposit_level(uow, partner_id)

    _show(run_async(go))


@app.command("run")
def run_cmd(
    period: Annotated[str, typer.Option("--period", help="collect the statements of this month and earlier")],
) -> None:
    """Collect what is due now (R-BILL-07..09) for statements of --period or earlier, whatever the job
    records say: each statement is collected at most once, at or after its collection instant."""

    async def go(c: Platform) -> str:
        from openability.billing import collections

        return (await collections.run_collections(c, period, actor=CLI_ACTOR)).summary()

    console.print(run_async(go))
