"""`openability partners …`: list partners, create SIs, operators and operator API tokens.
The CLI acts as the system actor (whoever runs it holds the database credentials)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from openability.kernel.commands import CommandConsole, run_async
from openability.kernel.tables import id_column
from openability.partners import identity, lifecycle
from openability.partners.schemas import CreateSi
from openability.partners.types import PartnerKind, PartnerStatus, ProductKind, Scope, Tier

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

NAME = "partners"
app = typer.Typer(help="Partners, operators and API tokens", no_args_is_help=True)
console = CommandConsole()


@app.command("list")
def list_cmd(
    kind: Annotated[PartnerKind | None, typer.Option(help="SI or AP")] = None,
    status: Annotated[PartnerStatus | None, typer.Option(help="pending, active, suspended, exited")] = None,
    offset: int = 0,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List partners."""

    async def go(c: Platform) -> None:
        async with c.uow() as uow:
            rows, total = await lifecycle.list_partners(
                uow, kind=kind, status=status, offset=offset, limit=limit
            )
        table = Table(
            id_column("id", (p.id for p in rows)),
            *("kind", "name", "billing", "status", "scope", "tier", "created"),
            title=f"partners ({len(rows)} of {total})",
        )
        for p in rows:
            table.add_row(
                p.id,
                p.kind.value,
                p.name,
                p.billing_mode.value,
                p.status.value,
                p.scope.value,
                p.tier.value if p.tier else "-",
                p.created_at.isoformat(timespec="seconds"),
            )
        console.print(table)

    run_async(go)


def _si_command(**fields: object) -> CreateSi:
    return CreateSi.model_validate(fields)


@app.command("create-si")
def create_si_cmd(
    name: str,
    billing_mode: Annotated[str, typer.Option(help="prepaid or postpaid (R-PARTNER-02)")] = "prepaid",
    scope: Scope = Scope.NATIONAL,
    product_kind: ProductKind = ProductKind.STANDARD,
    industry: str | None = None,
    tier: Tier = Tier.CERTIFIED,
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    activate: Annotated[bool, typer.Option(help="activate at once instead of PENDING")] = False,
    admin_username: str | None = None,
    admin_password: str | None = None,
) -> None:
    """Create an SI in its simplest form (PENDING unless --activate)."""
    try:
        cmd = _si_command(
            name=name,
            billing_mode=billing_mode,
            scope=scope,
            product_kind=product_kind,
            industry=industry,
            tier=tier,
            contact_name=contact_name,
            contact_email=contact_email,
            contact_phone=contact_phone,
            activate=activate,
            admin_username=admin_username,
            admin_password=admin_password,
        )
    except ValidationError as exc:
        console.print(f"[red]INVALID_ARGUMENT[/red]: {exc.errors()[0].get('msg', 'invalid')}")
        raise typer.Exit(code=1) from None

    async def go(c: Platform) -> None:
        async with c.uow() as uow:
            p = await lifecycle.create_si(uow, cmd)
        console.print(f"created SI [bold]{p.id}[/bold] {p.name} ({p.billing_mode.value}, {p.status.value})")

    run_async(go)


@app.command("create-operator")
def create_operator_cmd(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[list[str], typer.Option("--role", help="repeat: admin, reviewer, product_manager, …")],
    display_name: str = "",
    email: str = "",
    lead: Annotated[str | None, typer.Option(help="lead operator id (escalations)")] = None,
) -> None:
    """Create an operator with one or more roles."""

    async def go(c: Platform) -> None:
        async with c.uow() as uow:
            op = await identity.create_operator(uow, username, password, role, display_name, lead, email)
        console.print(f"created operator [bold]{op.username}[/bold] ({op.id}) roles: {', '.join(op.roles)}")

    run_async(go)


@app.command("operator-token")
def operator_token_cmd(
    username: str,
    name: Annotated[str, typer.Option(help="what the token is for")],
    ttl_days: Annotated[int | None, typer.Option(help="expiry in days; default never")] = None,
) -> None:
    """Create an operator API token and print it once (only its SHA-256 is stored)."""

    async def go(c: Platform) -> str:
        async with c.uow() as uow:
            return await identity.create_operator_token(uow, username, name, ttl_days)

    token = run_async(go)
    console.print("[yellow]Store this token now; it cannot be shown again.[/yellow]", highlight=False)
    typer.echo(token)


@app.command("operators")
def operators_cmd(offset: int = 0, limit: Annotated[int, typer.Option(min=1, max=200)] = 50) -> None:
    """List operators."""

    async def go(c: Platform) -> None:
        async with c.uow() as uow:
            rows, total = await identity.list_operators(uow, offset=offset, limit=limit)
        table = Table(
            id_column("id", (o.id for o in rows)),
            id_column("username", (o.username for o in rows)),
            *("name", "roles", "active"),
            title=f"operators ({len(rows)} of {total})",
        )
        for o in rows:
            table.add_row(o.id, o.username, o.display_name, ", ".join(o.roles), "yes" if o.active else "no")
        console.print(table)

    run_async(go)
