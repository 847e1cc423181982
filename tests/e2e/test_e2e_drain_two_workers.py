"""Acceptance: drain a prepaid account with many concurrent callers across 2 uvicorn worker processes on
PostgreSQL (R-CHARGE-01/02, DESIGN.md "Charging: how a call is charged").

The platform runs as it does in production: `uvicorn --workers 2` in a subprocess on its own, fresh
PostgreSQL database, the real SMPP connector against the local test SMSC (one of the workers starts it,
the other finds the port taken and binds to it), each worker with its own grants and CDR writer. The
account is seeded with the real services (catalog seed, AP registration, order, sandbox top-up, API
client + OAuth token). After SIGTERM (workers flush their CDR writers and release their grants) the
database must show: CDR amounts == successful calls x price == payments - available balance, one CDR
per successful call, nothing reserved, available >= 0, and a clean ledger audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from openability.bootstrap import build_container
from openability.config import Settings
from openability.kernel.db import make_engine, make_sessionmaker
from openability.kernel.uow import SYSTEM, Actor

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

PG_URL = os.environ.get("OPENABILITY_TEST_DATABASE_URL", "")
PRICE = Decimal("0.0500")  # sms-standard, list band (AP), national scope, first tier
TOP_UP = Decimal("10.00")
CALLS = 400
CONCURRENCY = 32
STARTUP_TIMEOUT = 30.0
OPERATOR = Actor(type="operator", id="op_drain", roles=frozenset({"admin"}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _async_url(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql+asyncpg")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def _create_tables(url: str) -> None:
    versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
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


async def _seed(url: str, data_dir: Path) -> tuple[str, str]:
    """A self-registered AP with sms-standard ordered and 10.00 CNY topped up; returns (partner, token)."""
    from openability.billing import service as billing
    from openability.billing.types import PaymentMethod
    from openability.catalog import service as catalog
    from openability.catalog.seed import seed_catalog
    from openability.partners import identity, lifecycle, oauth
    from openability.partners.schemas import RegisterAp

    settings = Settings(database_url=url, data_dir=data_dir, payments_sandbox=True, _env_file=None)
    c = build_container(settings, engine=make_engine(url))
    try:
        async with c.uow(OPERATOR) as uow:
            await seed_catalog(uow)
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
                uow, pid, "drain-topup-1", TOP_UP, PaymentMethod.SANDBOX
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


async def _check_db(url: str, partner_id: str) -> dict[str, Any]:
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


def _wait_started(proc: subprocess.Popen[bytes], log: Path, base: str, workers: int) -> None:
    """Both workers have finished start-up (lifespan done: gateway running, SMPP bound or given up)."""
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


async def _drain(base: str, token: str) -> tuple[Counter[int], int, list[str]]:
    """CALLS SMS calls from CONCURRENCY clients. A 429 is retried with the same Idempotency-Key (the rate
    limit is per worker)."""
    statuses: Counter[int] = Counter()
    retried_429 = 0
    odd: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(CALLS):
        queue.put_nowait(i)
    body = {"to": ["+8613800138000"], "text": "drain test"}

    async def caller() -> None:
        nonlocal retried_429
        # No keep-alive: every call is a new connection, accepted by whichever worker is free, so both
        # workers serve (and charge) from the start instead of one worker owning all long-lived sockets.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, timeout=20.0, limits=limits) as http:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"drain-{i}"}
                for _ in range(20):
                    r = await http.post("/capabilities/sms/v1/messages", json=body, headers=headers)
                    if r.status_code != 429:
                        break
                    retried_429 += 1
                    await asyncio.sleep(0.2)
                statuses[r.status_code] += 1
                if r.status_code == 201:
                    if r.json()["amountCharged"] != str(PRICE):
                        odd.append(r.text)
                elif r.status_code == 402:
                    if r.json()["code"] != "INSUFFICIENT_BALANCE":
                        odd.append(r.text)
                else:
                    odd.append(f"{r.status_code} {r.text}")

    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    return statuses, retried_429, odd


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM (graceful: workers flush CDRs, release grants), SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            raise AssertionError("server did not stop within 20 s of SIGTERM") from None
    return int(proc.returncode)


async def _admin_sql(sql: str) -> None:
    admin = create_async_engine(_async_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


def test_e2e_drain_prepaid_account_two_workers_postgres(tmp_path: Path) -> None:
    # R-CHARGE-01 R-CHARGE-02
    dbname = "drain_" + secrets.token_hex(5)
    asyncio.run(_admin_sql(f"CREATE DATABASE {dbname}"))
    url = _async_url(PG_URL, dbname)
    proc: subprocess.Popen[bytes] | None = None
    log = tmp_path / "server.log"
    try:
        _create_tables(url)
        partner_id, token = asyncio.run(_seed(url, tmp_path / "seed"))

        port, smsc_port = _free_port(), _free_port()
        env = {
            **os.environ,
            "OPENABILITY_DATABASE_URL": url,
            "OPENABILITY_DATA_DIR": str(tmp_path / "data"),
            "OPENABILITY_RUN_TEST_SMSC": "true",
            "OPENABILITY_SMSC_ENABLED": "true",
            "OPENABILITY_SMSC_PORT": str(smsc_port),
            "OPENABILITY_PORT": str(port),
        }
        env.pop("OPENABILITY_TEST_DATABASE_URL", None)
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "openability.app:create_app",
                    "--factory",
                    "--workers",
                    "2",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                ],
                cwd=tmp_path,  # no stray .env
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killable as a whole
            )
        base = f"http://127.0.0.1:{port}"
        _wait_started(proc, log, base, workers=2)

        t0 = time.monotonic()
        statuses, retried_429, odd = asyncio.run(_drain(base, token))
        elapsed = time.monotonic() - t0
        rc = _stop(proc)
        server_log = log.read_text(errors="replace")
        ok, refused = statuses[201], statuses[402]
        db = asyncio.run(_check_db(url, partner_id))
        report = (
            f"drain: {ok} x 201, {refused} x 402, others {dict(statuses - Counter({201: ok, 402: refused}))} "
            f"in {elapsed:.2f}s ({CALLS / elapsed:.0f} calls/s), {retried_429} 429-retries; db: {db}"
        )
        print(report)
        assert odd == [], f"{report}\nunexpected answers: {odd[:5]}\n{server_log[-3000:]}"
        assert rc == 0, server_log[-4000:]
        assert "Traceback" not in server_log, server_log[-6000:]
        assert ok + refused == CALLS, report
        assert db["audit"] == [], db["audit"]
        assert db["cdrs"] == ok, report
        assert db["quantity"] == ok, report
        assert db["charged"] == ok * PRICE, report
        assert db["paid"] == TOP_UP, report
        assert db["reserved"] == 0 and db["open_grants"] == 0, report  # all grants released on shutdown
        assert db["available"] >= 0, report
        assert db["paid"] - db["available"] == db["charged"], report
        # The real SMPP path: the test SMSC journaled one submit_sm per successful call, none for a 402.
        journal = (tmp_path / "data" / "smsc-received.jsonl").read_bytes().splitlines()
        submits = sum(1 for line in journal if orjson.loads(line).get("type") == "submit_sm")
        assert submits == ok, f"SMSC received {submits} submit_sm for {ok} successful calls"
        assert db["grant_workers"] == 2, report  # both workers really charged (held grants)
        # 10.00 CNY buys exactly 200 SMS at 0.0500: every cent is spent and nothing more.
        assert ok == int(TOP_UP / PRICE), report
        assert db["available"] == 0, report
    finally:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        asyncio.run(_admin_sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
