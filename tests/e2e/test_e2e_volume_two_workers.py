"""Acceptance: graduated tiers with two real worker processes sharing one PostgreSQL database (R-CHARGE-06).

Two platform processes (two nodes: `uvicorn openability.app:create_app`, one worker each, on their own
ports) serve the same prepaid AP. The sms-standard price is 0.05 from unit 0 and 0.04 from unit 1000.
Worker B charges 1 unit, worker A 1000 (100 recipients x 10 UCS-2 segments), worker B 1000: each worker
rates by the month-to-date volume both have reserved (charging/volume.py), so the real-time total is
never above the exact 90.0400 and within one block of it (it was 100.0300 when each worker counted only
its own volume).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from openability.bootstrap import build_container
from openability.catalog.rules import graduated_amount
from openability.config import Settings
from openability.kernel.db import make_engine, make_sessionmaker
from openability.kernel.uow import SYSTEM, Actor
from support_workers import (
    PG_URL,
    admin_sql,
    async_url,
    create_tables,
    free_port,
    stop,
    wait_started,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

OPERATOR = Actor(type="operator", id="op_volume", roles=frozenset({"admin"}))
TIERS = ((0, Decimal("0.0500")), (1000, Decimal("0.0400")))
TOP_UP = Decimal("200.00")
BLOCK_UNITS = 100  # the default volume_block_units


async def _seed(url: str, data_dir: Path) -> tuple[str, str]:
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
        async with c.uow(OPERATOR) as uow:
            tiers = {("national", band): list(TIERS) for band in ("list", "certified", "close", "strategic")}
            await catalog.create_price_plan(uow, "sms-standard", None, tiers, note="R-CHARGE-06 e2e")
        async with c.uow(SYSTEM) as uow:
            partner, user = await lifecycle.register_ap(
                uow,
                RegisterAp(
                    name="Volume Test Apps",
                    username="volumeadmin",
                    password="Volume-pass-2026!",
                    contact_name="Li Na",
                    contact_email="volume@example.com",
                    contact_phone="+8613800138000",
                ),
            )
        me = identity.partner_user_actor(user)
        async with c.uow(me) as uow:
            await catalog.place_order(uow, partner.id, "sms-standard")
        async with c.uow(me) as uow:
            _, created = await billing.create_payment(
                uow, partner.id, "vol-topup-1", TOP_UP, PaymentMethod.SANDBOX
            )
            assert created
        async with c.uow(me) as uow:
            client, secret = await oauth.create_api_client(uow, partner.id, "volume", ["sms"])
        async with c.uow(SYSTEM) as uow:
            token, _, _ = await oauth.issue_client_token(uow, client.id, secret)
        return partner.id, token
    finally:
        await c.dispose()


async def _send(base: str, token: str, recipients: int, text: str) -> dict[str, object]:
    body = {"to": [f"+86138{i:08d}" for i in range(recipients)], "text": text}
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as http:
        r = await http.post(
            "/capabilities/sms/v1/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _bill(url: str, partner_id: str, data_dir: Path) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """The bill run of the month the calls were made in, from 01:00 on the 1st of the next month
    (Asia/Shanghai): the partner's statement (exact, true-up, total) and its prepaid balance after it."""
    from openability.billing import statements
    from openability.billing.models import Statement
    from openability.charging.models import UsageRecord
    from openability.integrity import run_audit
    from openability.kernel.clock import SHANGHAI, FrozenClock
    from openability.ledger import service as ledger
    from openability.ledger.types import AccountType

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            month = await s.scalar(
                select(func.max(UsageRecord.month)).where(UsageRecord.partner_id == partner_id)
            )
        assert month is not None
        year, mon = (int(x) for x in month.split("-"))
        first = datetime(year + mon // 12, mon % 12 + 1, 1, 1, 0, tzinfo=SHANGHAI)
        settings = Settings(database_url=url, data_dir=data_dir, run_scheduler=False, _env_file=None)
        c = build_container(settings, clock=FrozenClock(first), engine=engine)
        await statements.bill_run(c, month, actor=OPERATOR)
        async with c.uow() as uow:
            stmt = (
                await uow.session.execute(
                    select(Statement).where(Statement.partner_id == partner_id, Statement.month == month)
                )
            ).scalar_one()
            balance = (await ledger.balances(uow.session, partner_id))[AccountType.PREPAID_AVAILABLE]
            assert await run_audit(uow.session) == []
        return stmt.exact, stmt.true_up, stmt.total, balance
    finally:
        await engine.dispose()


async def _stored(url: str, partner_id: str) -> tuple[int, Decimal, int]:
    from openability.charging.models import UsageRecord, VolumeCounter
    from openability.integrity import run_audit

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            quantity, amount = (
                await s.execute(
                    select(func.sum(UsageRecord.quantity), func.sum(UsageRecord.amount)).where(
                        UsageRecord.partner_id == partner_id
                    )
                )
            ).one()
            reserved = await s.scalar(
                select(func.sum(VolumeCounter.reserved)).where(VolumeCounter.partner_id == partner_id)
            )
            assert await run_audit(s) == []
        return int(quantity), Decimal(amount), int(reserved or 0)
    finally:
        await engine.dispose()


def test_e2e_r_charge_06_two_workers_share_the_month_to_date_volume(tmp_path: Path) -> None:
    # R-CHARGE-06
    dbname = "volume_" + secrets.token_hex(5)
    asyncio.run(admin_sql(f"CREATE DATABASE {dbname}"))
    url = async_url(PG_URL, dbname)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        create_tables(url)
        partner_id, token = asyncio.run(_seed(url, tmp_path / "seed"))
        smsc_port = free_port()
        bases: dict[str, str] = {}
        for name in ("a", "b"):
            port = free_port()
            env = {
                **os.environ,
                "OPENABILITY_DATABASE_URL": url,
                "OPENABILITY_DATA_DIR": str(tmp_path / f"data-{name}"),
                "OPENABILITY_RUN_TEST_SMSC": "true",
                "OPENABILITY_SMSC_ENABLED": "true",
                "OPENABILITY_SMSC_PORT": str(smsc_port),
                "OPENABILITY_PORT": str(port),
            }
            env.pop("OPENABILITY_TEST_DATABASE_URL", None)
            log = tmp_path / f"server-{name}.log"
            cmd = [
                sys.executable, "-m", "uvicorn", "openability.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            ]  # fmt: skip
            with log.open("wb") as fh:
                procs[name] = subprocess.Popen(
                    cmd,
                    cwd=tmp_path,
                    env=env,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            bases[name] = f"http://127.0.0.1:{port}"
            wait_started(procs[name], log, bases[name], workers=1)

        t0 = time.monotonic()
        thousand = "测" * 640  # UCS-2, 10 segments of 67 characters; x 100 recipients = 1000 units
        answers = [
            asyncio.run(_send(bases["b"], token, 1, "hello")),
            asyncio.run(_send(bases["a"], token, 100, thousand)),
            asyncio.run(_send(bases["b"], token, 100, thousand)),
        ]
        assert [a["quantity"] for a in answers] == [1, 1000, 1000]
        charged = sum((Decimal(str(a["amountCharged"])) for a in answers), Decimal(0))
        print(f"calls answered in {time.monotonic() - t0:.1f}s")
        for name in ("a", "b"):
            # one uvicorn process (no supervisor) ends by re-raising SIGTERM once shut down gracefully
            rc = stop(procs[name])
            log_text = (tmp_path / f"server-{name}.log").read_text(errors="replace")
            assert rc in (0, -signal.SIGTERM) and "Application shutdown complete" in log_text, log_text[
                -4000:
            ]
        quantity, stored, reserved = asyncio.run(_stored(url, partner_id))
        exact = graduated_amount(TIERS, 0, 2001)
        report = (
            f"charged {charged} (stored {stored}) for {quantity} units, exact {exact}, reserved {reserved}"
        )
        print(report)
        assert exact == Decimal("90.0400")
        assert (quantity, stored) == (2001, charged), report
        assert charged <= exact, report  # never more than the exact price
        assert charged >= graduated_amount(TIERS, 1000, 2001), report  # within one block
        assert reserved >= quantity, report  # the shared count is never behind what was used
        for name in ("a", "b"):
            assert "Traceback" not in (tmp_path / f"server-{name}.log").read_text(errors="replace")

        # the bill run re-rates the month exactly and credits the difference back (R-CHARGE-06)
        exact_billed, true_up, total, balance = asyncio.run(_bill(url, partner_id, tmp_path / "bill"))
        print(f"billed exact {exact_billed}, true-up {true_up}, total {total}, balance after {balance}")
        assert exact_billed == exact and total == exact, report
        assert true_up == charged - exact, report
        assert balance == TOP_UP - exact, report  # what the month cost the partner: the exact price
    finally:
        for p in procs.values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
