"""Real platform processes on PostgreSQL, shared by the multi-process tests (tests/e2e, tests/faults).

A fresh database (created, migrated, seeded with the real services), platform processes started as in
production (`uvicorn openability.app:create_app --factory`, one worker each, own port), and what the
database holds afterwards (CDRs, money, grants, the ledger audit).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from openability.bootstrap import build_container
from openability.config import Settings
from openability.kernel.db import make_engine, make_sessionmaker
from openability.kernel.uow import SYSTEM, Actor

PG_URL = os.environ.get("OPENABILITY_TEST_DATABASE_URL", "")
STARTUP_TIMEOUT = 30.0
OPERATOR = Actor(type="operator", id="op_workers", roles=frozenset({"admin"}))
UVICORN = [sys.executable, "-m", "uvicorn", "openability.app:create_app", "--factory", "--host", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def async_url(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql+asyncpg")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def create_tables(url: str) -> None:
    """The schema as a deployment has it: the migrations (or the models when there are none)."""
    versions = Path(__file__).resolve().parents[1] / "migrations" / "versions"
    if any(versions.glob("*.py")):
        from openability.kernel.migrate import upgrade

        upgrade(url)  # runs its own event loop
        return
    from openability.models import metadata

    async def create_all() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await engine.dispose()

    asyncio.run(create_all())


async def seed(
    url: str, data_dir: Path, *, top_up: Decimal = Decimal("10.00"), rate_limit: int | None = None
) -> tuple[str, str]:
    """A self-registered AP with sms-standard ordered and `top_up` CNY paid in (sandbox), an API client
    and its OAuth token; returns (partner id, token). `rate_limit`: sms-standard's calls per second."""
    from openability.billing import service as billing
    from openability.billing.types import PaymentMethod
    from openability.catalog import service as catalog
    from openability.catalog.schemas import ProductUpdate
    from openability.catalog.seed import seed_catalog
    from openability.partners import identity, lifecycle, oauth
    from openability.partners.schemas import RegisterAp

    settings = Settings(database_url=url, data_dir=data_dir, payments_sandbox=True, _env_file=None)
    c = build_container(settings, engine=make_engine(url))
    try:
        async with c.uow(OPERATOR) as uow:
            await seed_catalog(uow)
        if rate_limit is not None:
            async with c.uow(OPERATOR) as uow:
                await catalog.update_product(
                    uow, "sms-standard", ProductUpdate(rate_limit_per_second=rate_limit)
                )
        async with c.uow(SYSTEM) as uow:
            partner, user = await lifecycle.register_ap(
                uow,
                RegisterAp(
                    name="Drain Test Apps",
                    username="drainadmin",
                    password="Drain-pass-2026!",
                    contact_name="Wang Wei",
                    contact_email="drain@example.com",
                    contact_phone="+8613800138000",
                ),
            )
        pid = partner.id
        me = identity.partner_user_actor(user)
        async with c.uow(me) as uow:
            await catalog.place_order(uow, pid, "sms-standard")
        async with c.uow(me) as uow:
            _, created = await billing.create_payment(
                uow, pid, "drain-topup-1", top_up, PaymentMethod.SANDBOX
            )
            assert created
        async with c.uow(me) as uow:
            client, secret = await oauth.create_api_client(uow, pid, "drain", ["sms"])
        async with c.uow(SYSTEM) as uow:
            token, _, scopes = await oauth.issue_client_token(uow, client.id, secret)
        assert scopes == ["sms"]
        return pid, token
    finally:
        await c.dispose()


async def check_db(url: str, partner_id: str) -> dict[str, Any]:
    """The partner's CDRs and money, the grants, and the ledger audit's violations."""
    from openability.billing.models import Payment
    from openability.billing.types import PaymentState
    from openability.charging.models import Grant, UsageRecord
    from openability.charging.types import GrantState
    from openability.integrity import run_audit
    from openability.ledger import service as ledger
    from openability.ledger.types import AccountType

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            cdr_count, cdr_sum = (
                await s.execute(
                    select(func.count(), func.coalesce(func.sum(UsageRecord.quantity), 0)).where(
                        UsageRecord.partner_id == partner_id
                    )
                )
            ).one()
            amounts = (
                await s.scalars(select(UsageRecord.amount).where(UsageRecord.partner_id == partner_id))
            ).all()
            paid = (
                await s.scalars(
                    select(Payment.amount).where(
                        Payment.partner_id == partner_id, Payment.state == PaymentState.CONFIRMED
                    )
                )
            ).all()
            bal = await ledger.balances(s, partner_id)
            open_grants = await s.scalar(
                select(func.count()).select_from(Grant).where(Grant.state == GrantState.ACTIVE)
            )
            grants = await s.scalar(select(func.count()).select_from(Grant))
            workers = (await s.scalars(select(Grant.worker_id).distinct())).all()
            violations = await run_audit(s)
        return {
            "cdrs": int(cdr_count),
            "quantity": int(cdr_sum),
            "charged": sum(amounts, Decimal(0)),
            "paid": sum(paid, Decimal(0)),
            "available": bal.get(AccountType.PREPAID_AVAILABLE, Decimal(0)),
            "reserved": bal.get(AccountType.PREPAID_RESERVED, Decimal(0)),
            "open_grants": int(open_grants or 0),
            "grants": int(grants or 0),
            "grant_workers": len(workers),
            "audit": violations,
        }
    finally:
        await engine.dispose()


async def cdr_keys(url: str, partner_id: str) -> list[str]:
    """The request keys of the partner's CDRs (one per charged call)."""
    from openability.charging.models import UsageRecord

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            keys = await s.scalars(
                select(UsageRecord.request_key).where(UsageRecord.partner_id == partner_id)
            )
            return list(keys.all())
    finally:
        await engine.dispose()


def wait_started(proc: subprocess.Popen[bytes], log: Path, base: str, workers: int) -> None:
    """The workers have finished start-up (lifespan done: gateway running, SMPP bound or given up)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=base, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"server exited early ({proc.returncode}):\n{log.read_text()[-4000:]}")
            started = log.read_text(errors="replace").count("Application startup complete")
            if started >= workers:
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/healthz").status_code == 200:
                        return
            time.sleep(0.2)
    raise AssertionError(f"server did not start in {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM (graceful: workers flush CDRs, release grants), SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            raise AssertionError(f"server did not stop within {timeout:g} s of SIGTERM") from None
    return int(proc.returncode)


async def admin_sql(sql: str, url: str | None = None) -> None:
    """One statement in autocommit on the server's maintenance database (CREATE/DROP DATABASE)."""
    admin = create_async_engine(async_url(url or PG_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()
