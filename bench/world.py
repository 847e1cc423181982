"""Fresh databases and a seeded prepaid account, built with the real services (as an operator and the
partner would), so benchmarks run against the same schema and data a deployment has."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from openability.bootstrap import Container, build_container
from openability.config import Settings
from openability.kernel.db import make_engine
from openability.kernel.uow import SYSTEM, Actor

PG_URL = os.environ.get("OPENABILITY_TEST_DATABASE_URL", "")
OPERATOR = Actor(type="operator", id="op_bench", roles=frozenset({"admin"}))
BALANCE = Decimal("1000000.00")  # a payment's upper limit: never 402 during a benchmark


def backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if PG_URL else [])


def _pg(database: str | None = None) -> str:
    u = make_url(PG_URL).set(drivername="postgresql+asyncpg")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


async def _admin_sql(sql: str) -> None:
    admin = create_async_engine(_pg(), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


async def _create_all(url: str) -> None:
    from openability.models import metadata

    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    """A new, empty database with all tables: a SQLite file, or a PostgreSQL database dropped after."""
    name = "bench_" + secrets.token_hex(5)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / (name + '.db')}"
        asyncio.run(_create_all(url))
        yield url
        return
    asyncio.run(_admin_sql(f"CREATE DATABASE {name}"))
    try:
        url = _pg(name)
        asyncio.run(_create_all(url))
        yield url
    finally:
        asyncio.run(_admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def container_for(url: str, data_dir: Path) -> Container:
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        smsc_enabled=False,
        run_test_smsc=False,
        payments_sandbox=True,  # the benchmark account is funded by a sandbox top-up
        _env_file=None,
    )
    return build_container(settings, engine=make_engine(url))


@dataclass(frozen=True)
class Account:
    partner_id: str
    product_id: str
    token: str


async def seed_account(c: Container, name: str = "Bench Apps") -> Account:
    """The demo catalog (sms-standard's rate limit raised to the maximum), a self-registered AP that
    ordered sms-standard, a sandbox top-up of BALANCE, an API client and its OAuth token."""
    from openability.billing import service as billing
    from openability.billing.types import PaymentMethod
    from openability.catalog import service as catalog
    from openability.catalog.schemas import ProductUpdate
    from openability.catalog.seed import seed_catalog
    from openability.partners import identity, lifecycle, oauth
    from openability.partners.schemas import RegisterAp

    async with c.uow(OPERATOR) as uow:
        await seed_catalog(uow)
    async with c.uow(OPERATOR) as uow:
        product = await catalog.update_product(
            uow, "sms-standard", ProductUpdate(rate_limit_per_second=10_000)
        )
    tag = secrets.token_hex(3)
    async with c.uow(SYSTEM) as uow:
        partner, user = await lifecycle.register_ap(
            uow,
            RegisterAp(
                name=f"{name} {tag}",
                username=f"bench{tag}",
                password="Bench-pass-2026!",
                contact_name="Li Na",
                contact_email="bench@example.com",
                contact_phone="+8613800138000",
            ),
        )
    me = identity.partner_user_actor(user)
    async with c.uow(me) as uow:
        await catalog.place_order(uow, partner.id, "sms-standard")
    async with c.uow(me) as uow:
        await billing.create_payment(uow, partner.id, f"bench-{tag}", BALANCE, PaymentMethod.SANDBOX)
    async with c.uow(me) as uow:
        client, secret = await oauth.create_api_client(uow, partner.id, "bench", ["sms"])
    async with c.uow(SYSTEM) as uow:
        token, _, _ = await oauth.issue_client_token(uow, client.id, secret)
    return Account(partner.id, product.id, token)


async def audit(c: Container) -> list[str]:
    from openability.integrity import run_audit

    async with c.uow() as uow:
        return await run_audit(uow.session)


async def count_cdrs(url: str, data: Path) -> tuple[int, list[str]]:
    """The CDRs in a benchmark's database and the ledger audit's violations (none: clean)."""
    from sqlalchemy import func, select

    from openability.charging.models import UsageRecord

    c = container_for(url, data)
    try:
        async with c.uow() as uow:
            n = await uow.session.scalar(select(func.count()).select_from(UsageRecord))
        return int(n or 0), await audit(c)
    finally:
        await c.dispose()
