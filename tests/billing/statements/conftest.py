"""Statements tests run real usage through the gateway: the gateway test world (tests/gateway/conftest.py:
partners with API clients and tokens, products with tiered price plans, fake network elements) is loaded
here by path (tests is not a package) and its fixtures re-exported; the management API is reached with
the fake authenticator of tests/support_direct_partners.py (`X-Test-Actor`)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from openability.bootstrap import Container
from openability.jobs.scheduler import run_job
from openability.jobs_catalog import all_jobs
from openability.kernel.clock import SHANGHAI, FrozenClock
from support_direct_partners import Auth, fake_authenticator

_PATH = Path(__file__).resolve().parents[2] / "gateway" / "conftest.py"
_spec = importlib.util.spec_from_file_location("gateway_world", _PATH)
assert _spec is not None and _spec.loader is not None
gateway_world = importlib.util.module_from_spec(_spec)
sys.modules["gateway_world"] = gateway_world
_spec.loader.exec_module(gateway_world)

client = gateway_world.client
fakes = gateway_world.fakes
kit = gateway_world.kit

__all__ = ["client", "fakes", "kit"]


_numbers = itertools.count(10_000_000)


@dataclass
class Month:
    """Moves the clock (Asia/Shanghai), sends real usage through the gateway, runs jobs, calls the API."""

    container: Container
    clock: FrozenClock
    http: httpx.AsyncClient

    def at(
        self, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, year: int = 2026
    ) -> None:
        self.clock.set(datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI))

    async def send(self, world: Any, units: int) -> None:
        """`units` one-segment SMS through the gateway, 100 recipients a call (with a token issued now:
        the clock moves by days)."""
        auth = {"Authorization": f"Bearer {await world.new_token(['sms'])}"}
        while units > 0:
            n = min(units, 100)
            to = [f"+86138{next(_numbers):08d}" for _ in range(n)]
            r = await self.http.post(
                "/capabilities/sms/v1/messages", json={"to": to, "text": "hello"}, headers=auth
            )
            assert r.status_code == 201, r.text
            units -= n

    async def run(
        self, name: str, *, period: str | None = None, force: bool = False, owner: str | None = None
    ) -> str | None:
        return await run_job(self.container, all_jobs()[name], period=period, force=force, owner=owner)

    def partner(self, world: Any) -> dict[str, str]:
        return Auth.partner(world.partner_id)

    operator = Auth.operator

    async def statement_of(self, world: Any) -> dict[str, Any]:
        r = await self.http.get(
            "/api/v1/statements", params={"partner_id": world.partner_id}, headers=Auth.operator
        )
        assert r.status_code == 200, r.text
        (item,) = r.json()["items"]
        r = await self.http.get(f"/api/v1/statements/{item['id']}", headers=Auth.operator)
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
async def month(container: Container, clock: FrozenClock, client: httpx.AsyncClient) -> Month:
    container.authenticator = fake_authenticator  # the management API's actors; the gateway has its own
    return Month(container, clock, client)
