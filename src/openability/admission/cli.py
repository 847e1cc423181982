"""`openability admission …`: the reviewer's queue and an application's file, decisions, contracts,
activation, exit bans and termination from the command line. The CLI acts as the system actor (whoever
runs it holds the database credentials); `--reviewer` names the person for the checklist (R-ADMIT-04)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table

from openability.admission import service
from openability.admission.models import Application, Contract, ExitBan
from openability.admission.schemas import BanIn, ChecklistIn, ContractIn, DecisionIn
from openability.admission.types import ApplicationState, ChecklistItem, Decision
from openability.kernel.clock import SHANGHAI
from openability.kernel.commands import CLI_ACTOR, CommandConsole, run_async
from openability.kernel.errors import InvalidArgument
from openability.kernel.tables import id_column
from openability.kernel.uow import Actor
from openability.partners.types import Scope, Tier

if TYPE_CHECKING:
    from datetime import datetime

    from openability.kernel.platform import Platform

NAME = "admission"
app = typer.Typer(help="SI admission: applications, decisions, contracts, exit bans", no_args_is_help=True)
console = CommandConsole()


def _t(dt: datetime | None) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _actor(reviewer: str | None) -> Actor:
    return replace(CLI_ACTOR, name=reviewer) if reviewer else CLI_ACTOR


@app.command("list")
def list_cmd(
    state: Annotated[ApplicationState | None, typer.Option(help="submitted: the reviewer's queue")] = None,
    partner: Annotated[str | None, typer.Option(help="one partner's applications")] = None,
    offset: int = 0,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List applications (with --state submitted: the queue, oldest submission first)."""

    async def go(c: Platform) -> tuple[list[Application], int]:
        async with c.uow(CLI_ACTOR) as uow:
            return await service.list_applications(
                uow, state=state, partner_id=partner, offset=offset, limit=limit
            )

    rows, total = run_async(go)
    table = Table(
        id_column("id", (a.id for a in rows)),
        Column("company", overflow="fold"),
        "state",
        "kind",
        "scope",
        "billing",
        "submitted",
        title=f"applications ({len(rows)} of {total})",
    )
    for a in rows:
        table.add_row(
            a.id, a.company_name, a.state.value, a.product_kind, a.scope, a.billing_mode, _t(a.submitted_at)
        )
    console.print(table)


@app.command("show")
def show(application_id: str) -> None:
    """An application's file: fields, documents, the automatic checks, checklist, contracts, history."""

    async def go(c: Platform) -> service.ApplicationView:
        async with c.uow(CLI_ACTOR) as uow:
            return await service.application_view(uow, application_id)

    v = run_async(go)
    a = v.app
    console.print(
        f"[bold]{a.id}[/bold] {a.company_name} — [bold]{a.state.value}[/bold] (partner {a.partner_id})"
    )
    capital = f"{a.registered_capital:,.2f}" if a.registered_capital is not None else "-"
    console.print(
        f"credit code {a.credit_code or '-'}, registered capital CNY {capital}, {a.product_kind}"
        f"{' / ' + a.industry if a.industry else ''}, {a.scope}, {a.billing_mode}; products: "
        f"{', '.join(a.intended_products or []) or '-'}"
    )
    if a.decision:
        console.print(f"decision: {a.decision} by {a.decided_by} at {_t(a.decided_at)} {a.decision_reason}")
    docs = Table(
        id_column("document", (d.id for d in v.documents)),
        "kind",
        "number",
        "valid to",
        "counts",
        Column("file", overflow="fold"),
        title="documents",
    )
    for d in v.documents:
        docs.add_row(
            d.id,
            d.kind.value if d.kind else "-",
            d.number or "-",
            d.valid_to.isoformat() if d.valid_to else "-",
            "yes" if d.id in v.effective else "replaced",
            f"{d.filename} ({d.content_type}, {d.size} B)",
        )
    console.print(docs)
    for title, failures in (("automatic checks", v.checks), ("activation blocked by", v.blockers)):
        for f in failures:
            console.print(f"[red]{title}[/red] {f.rule} {f.code}: {f.message}")
    for e in v.checklist:
        console.print(
            f"checklist {e.item.value}: {'passed' if e.passed else 'NOT passed'} — {e.reviewer_name} {_t(e.at)} {e.comment}"
        )
    for ct in v.contracts:
        console.print(
            f"contract {ct.number} ({ct.id}) {ct.state.value}: {ct.billing_mode}, band {ct.price_band}, deposit "
            f"{ct.deposit:,.2f}, {ct.valid_from.isoformat()}..{ct.valid_to.isoformat()}"
        )
    for h in v.history:
        console.print(
            f"  {_t(h.at)} {h.action} by {h.actor_type}:{h.actor_id}{' — ' + h.note if h.note else ''}"
        )


def _items(passed: list[str], failed: list[str]) -> list[ChecklistIn]:
    out: list[ChecklistIn] = []
    for raw, ok in [*((p, True) for p in passed), *((f, False) for f in failed)]:
        item, _, comment = raw.partition(":")
        try:
            out.append(ChecklistIn(item=ChecklistItem(item.strip()), passed=ok, comment=comment.strip()))
        except ValueError:
            raise InvalidArgument(
                f"checklist item {item!r}: one of {', '.join(i.value for i in ChecklistItem)}",
                code="INVALID_ITEM",
            ) from None
    return out


@app.command("decide")
def decide(
    application_id: str,
    decision: Decision,
    reason: Annotated[str, typer.Option(help="required to reject or return")] = "",
    passed: Annotated[
        list[str] | None, typer.Option("--pass", help="ITEM:COMMENT judged passed (repeat)")
    ] = None,
    failed: Annotated[list[str] | None, typer.Option("--fail", help="ITEM:COMMENT judged not passed")] = None,
    reviewer: Annotated[str | None, typer.Option(help="the reviewer's name on the checklist")] = None,
) -> None:
    """Approve, reject or return an application (R-ADMIT-04/05), with checklist judgements."""

    async def go(c: Platform) -> Application:
        cmd = DecisionIn(decision=decision, reason=reason, checklist=_items(passed or [], failed or []))
        async with c.uow(_actor(reviewer)) as uow:
            return await service.decide(uow, application_id, cmd)

    a = run_async(go)
    console.print(f"{a.id}: {a.state.value}")


@app.command("contract")
def contract(
    application_id: str,
    number: Annotated[str, typer.Option(help="the contract number")],
    billing_mode: Annotated[str, typer.Option(help="prepaid or postpaid (R-PARTNER-02)")],
    valid_from: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    valid_to: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    deposit: Annotated[str | None, typer.Option(help="postpaid: the deposit, e.g. 50000.00")] = None,
    agreed_payment: Annotated[str | None, typer.Option(help="prepaid: the agreed first payment")] = None,
    price_band: Tier = Tier.CERTIFIED,
    scope: Scope | None = None,
) -> None:
    """Record the contract of an approved application."""

    async def go(c: Platform) -> Contract:
        cmd = ContractIn.model_validate(
            {
                "number": number,
                "billing_mode": billing_mode,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "deposit": deposit,
                "agreed_payment": agreed_payment,
                "price_band": price_band,
                "scope": scope,
            }
        )
        async with c.uow(CLI_ACTOR) as uow:
            return await service.record_contract(uow, application_id, cmd)

    ct = run_async(go)
    console.print(f"contract {ct.number} ({ct.id}) {ct.state.value}")


@app.command("activate")
def activate(application_id: str) -> None:
    """Activate a contracted application now, or say what blocks it."""

    async def go(c: Platform) -> Application:
        async with c.uow(CLI_ACTOR) as uow:
            return await service.activate(uow, application_id)

    console.print(f"{run_async(go).id}: active")


@app.command("ban")
def ban(
    reason: Annotated[str, typer.Option(help="why (the failed assessment)")],
    credit_code: str | None = None,
    company_name: str | None = None,
    partner: Annotated[str | None, typer.Option(help="take the company from this partner")] = None,
    category: Annotated[
        str | None, typer.Option(help="standard, or an industry field: one category only")
    ] = None,
    since: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default today)")] = None,
) -> None:
    """Record an exit ban (R-EXIT-03): the company, or one business category of it, may not apply for a year."""

    async def go(c: Platform) -> ExitBan:
        cmd = BanIn(
            credit_code=credit_code,
            company_name=company_name,
            partner_id=partner,
            business_category=category,
            since=date.fromisoformat(since) if since else None,
            reason=reason,
        )
        async with c.uow(CLI_ACTOR) as uow:
            return await service.record_ban(uow, cmd)

    b = run_async(go)
    console.print(
        f"ban {b.id}: {b.credit_code or b.company_name} {b.business_category or ''} until {b.until.isoformat()}"
    )


@app.command("bans")
def bans(active: Annotated[bool, typer.Option("--active/--all")] = True) -> None:
    """The exit bans (still running, or all)."""

    async def go(c: Platform) -> tuple[list[ExitBan], int]:
        async with c.uow(CLI_ACTOR) as uow:
            return await service.list_bans(uow, active=True if active else None, limit=200)

    rows, total = run_async(go)
    table = Table(
        id_column("id", (b.id for b in rows)),
        "credit code",
        Column("company", overflow="fold"),
        "category",
        "since",
        "until",
        Column("reason", overflow="fold"),
        title=f"exit bans ({len(rows)} of {total})",
    )
    for b in rows:
        table.add_row(
            b.id,
            b.credit_code or "-",
            b.company_name or "-",
            b.business_category or "(all)",
            b.since.isoformat(),
            b.until.isoformat(),
            b.reason,
        )
    console.print(table)


@app.command("terminate")
def terminate(
    partner_id: str,
    reason: Annotated[str, typer.Option(help="why the cooperation ends")],
    failed_assessment: Annotated[
        bool, typer.Option(help="exited for failing assessment: ban for a year")
    ] = False,
    category: Annotated[
        str | None, typer.Option(help="with --failed-assessment: ban this category only")
    ] = None,
) -> None:
    """Terminate an SI: contract ended, exited (credentials revoked), orders cancelled (R-EXIT-01/03)."""

    async def go(c: Platform) -> int:
        async with c.uow(CLI_ACTOR) as uow:
            return await service.terminate(
                uow, partner_id, reason, failed_assessment=failed_assessment, category=category
            )

    console.print(f"{partner_id}: exited, {run_async(go)} order(s) cancelled")
