"""`openability catalog …`: list and create products, add price versions, seed the demo catalog."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from openability.kernel.clock import SHANGHAI
from openability.kernel.commands import CLI_ACTOR, CommandConsole, run_async
from openability.kernel.tables import id_column

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

NAME = "catalog"
app = typer.Typer(help="Capabilities, products and price plans", no_args_is_help=True)
console = CommandConsole()
T = TypeVar("T")


def parse_valid_from(text: str) -> datetime | None:
    """ "now" (None: valid from the moment the version is created); a date means 00:00 Asia/Shanghai
    of that day; a datetime needs its offset (or is Shanghai time)."""
    if text.strip().lower() == "now":
        return None
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=SHANGHAI)
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not a date or datetime: {text}") from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=SHANGHAI)


def load_tiers_file(path: Path) -> dict[tuple[str, str], list[Any]]:
    """{"national": {"list": [["0", "0.0500"], ...], "certified": [...]}, "local": {...}}"""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise typer.BadParameter('expected {"national": {"list": [["0", "0.0500"], ...], ...}}')
    out: dict[tuple[str, str], list[Any]] = {}
    for scope, bands in data.items():
        for band, lst in bands.items():
            if not isinstance(lst, list):
                raise typer.BadParameter(f"{scope}.{band}: expected a list of [from_volume, price]")
            out[(scope, band)] = lst  # validated (and refused with a clear message) by the service
    return out


@app.command("products")
def products_cmd() -> None:
    """List products with their current price version."""

    async def go(c: Platform) -> list[list[str]]:
        from openability.catalog import service

        rows: list[list[str]] = []
        async with c.uow(CLI_ACTOR) as uow:
            items, _ = await service.list_products(uow, limit=200)
            for p in items:
                plan = await service.plan_at(uow.session, p.id, uow.now)
                rows.append(
                    [
                        p.code,
                        p.capability_code,
                        p.name_zh,
                        p.unit,
                        p.audience.value,
                        str(p.rate_limit_per_second),
                        p.status.value,
                        f"v{plan.version}" if plan else "-",
                    ]
                )
        return rows

    rows = run_async(go)
    table = Table(
        id_column("code", (r[0] for r in rows)),
        *("capability", "name", "unit", "audience", "rate/s", "status", "price"),
    )
    for r in rows:
        table.add_row(*r)
    console.print(table)


@app.command("create-product")
def create_product_cmd(
    code: str,
    capability: Annotated[str, typer.Option(help="sms | mms | voice")],
    unit: Annotated[str, typer.Option(help="segment | message | minute")],
    name_zh: Annotated[str, typer.Option("--name-zh")],
    name_en: Annotated[str, typer.Option("--name-en")],
    audience: Annotated[str, typer.Option(help="all | AP | SI")] = "all",
    rate_limit: Annotated[int, typer.Option("--rate-limit", help="calls per second per partner")] = 100,
    description: str = "",
    status: Annotated[str, typer.Option(help="draft | active | retired")] = "active",
) -> None:
    """Create a product (price it with `price-version`)."""
    from pydantic import ValidationError

    from openability.catalog.schemas import ProductCreate

    try:
        cmd = ProductCreate.model_validate(
            {
                "code": code,
                "capability": capability,
                "unit": unit,
                "nameZh": name_zh,
                "nameEn": name_en,
                "audience": audience,
                "rateLimitPerSecond": rate_limit,
                "description": description,
                "status": status,
            }
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None

    async def go(c: Platform) -> str:
        from openability.catalog import service

        async with c.uow(CLI_ACTOR) as uow:
            return (await service.create_product(uow, cmd)).id

    console.print(f"created product {code} ({run_async(go)})")


@app.command("price-version")
def price_version_cmd(
    product: str,
    valid_from: Annotated[
        str, typer.Option("--from", help="now, 2027-01-01 (Asia/Shanghai) or an ISO datetime")
    ],
    file: Annotated[Path, typer.Option("--file", help="tiers JSON")],
    note: str = "",
) -> None:
    """Add a price version to PRODUCT starting at --from ("now": at once); the current version ends then."""
    start = parse_valid_from(valid_from)
    tiers = load_tiers_file(file)

    async def go(c: Platform) -> tuple[int, datetime]:
        from openability.catalog import service

        async with c.uow(CLI_ACTOR) as uow:
            plan = await service.create_price_plan(uow, product, start, tiers, note)
            return plan.version, plan.valid_from

    version, starts = run_async(go)
    console.print(f"{product}: price version v{version} from {starts.astimezone(SHANGHAI).isoformat()}")


@app.command("seed")
def seed_cmd() -> None:
    """Create the demo catalog (SMS, MMS, voice, price plan v1); safe to run again."""

    async def go(c: Platform) -> None:
        from openability.catalog.seed import seed_catalog

        async with c.uow(CLI_ACTOR) as uow:
            await seed_catalog(uow)

    run_async(go)
    console.print("catalog seeded")
