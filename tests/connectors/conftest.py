"""Fixtures for the connector tests: a free TCP port, a running test SMSC, connector settings, and — for
the tests through the whole platform — a funded partner calling SMS over a real SMPP bind."""

from __future__ import annotations

import hashlib
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openability.bootstrap import Container
from openability.catalog.models import ProductOrder
from openability.catalog.types import OrderState
from openability.charging.models import UsageRecord
from openability.config import Settings
from openability.connectors.smpp import SmppSmsConnector
from openability.connectors.smsc import TestSmsc
from openability.kernel.ids import new_id
from openability.ledger.types import AccountType
from openability.partners.models import AccessToken, ApiClient
from support_funded import Funded, build_funded


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smsc_port() -> int:
    return free_port()


@pytest.fixture
def smpp_settings(tmp_path: Path, smsc_port: int) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        smsc_port=smsc_port,
        smsc_timeout_seconds=0.5,
        smsc_enabled=True,
        run_test_smsc=False,
        _env_file=None,
    )


@pytest.fixture
async def smsc(smsc_port: int, tmp_path: Path) -> AsyncIterator[TestSmsc]:
    server = TestSmsc("127.0.0.1", smsc_port, journal=tmp_path / "smsc.jsonl", receipt_delay=0.01)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ---- the whole platform over a real SMPP bind ------------------------------------------------------


@dataclass
class SmsWorld:
    """A funded prepaid partner with an active SMS order and an API client's bearer token."""

    container: Container
    funded: Funded
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def partner_id(self) -> str:
        return self.funded.partner_id

    async def prepaid_total(self) -> Decimal:
        b = await self.funded.balances()
        return b[AccountType.PREPAID_AVAILABLE] + b[AccountType.PREPAID_RESERVED]

    async def cdrs(self) -> list[UsageRecord]:
        async with self.container.uow() as uow:
            rows = await uow.session.scalars(
                select(UsageRecord).where(UsageRecord.partner_id == self.partner_id)
            )
            return list(rows.all())


async def build_sms_world(container: Container) -> SmsWorld:
    funded = await build_funded(container, Decimal("10.0000"))
    token = secrets.token_urlsafe(32)
    async with container.uow() as uow:
        s = uow.session
        client_id = new_id("cli")
        s.add(
            ApiClient(
                id=client_id,
                partner_id=funded.partner_id,
                name="app",
                secret_hash="x",
                scopes=["sms"],
                active=True,
                created_at=uow.now,
            )
        )
        s.add(
            ProductOrder(
                id=new_id("ord"),
                partner_id=funded.partner_id,
                product_id=funded.product_id,
                state=OrderState.COMPLETED,
                active=True,
                created_at=uow.now,
                completed_at=uow.now,
            )
        )
        s.add(
            AccessToken(
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                kind="client",
                subject_id=client_id,
                partner_id=funded.partner_id,
                scopes=["sms"],
                name="test",
                created_at=uow.now,
                expires_at=uow.now + timedelta(hours=1),
            )
        )
    return SmsWorld(container, funded, token)


@dataclass
class SmppPlatform:
    """The app in-process (lifespan run) with its SMS connector bound to a local test SMSC."""

    container: Container
    client: httpx.AsyncClient
    smsc: TestSmsc
    sms: SmppSmsConnector
    world: SmsWorld

    @property
    def gateway(self) -> Any:
        return self.container.gateway


@pytest.fixture
async def smpp_platform(
    container: Container, settings: Settings, tmp_path: Path
) -> AsyncIterator[SmppPlatform]:
    from openability.app import create_app

    settings.receipt_spool_replay_seconds = 0.2  # spooled receipts replayed quickly once the database is back
    port = free_port()
    smsc = TestSmsc("127.0.0.1", port, receipt_delay=0.01, receipt_retry_delay=0.1)
    await smsc.start()
    sms_settings = settings.model_copy(
        update={"smsc_port": port, "smsc_enabled": True, "smsc_timeout_seconds": 1.0}
    )
    sms = SmppSmsConnector(sms_settings, container.connectors, backoff_min=0.05, backoff_max=0.2)
    container.connectors.sms = sms  # injected: start_connectors keeps it, stop_connectors leaves it
    world = await build_sms_world(container)
    app = create_app(container, manage_container=False)
    try:
        await sms.start()
        assert await sms.wait_bound(5)
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield SmppPlatform(container, client, smsc, sms, world)
    finally:
        await sms.stop()
        await smsc.stop()
