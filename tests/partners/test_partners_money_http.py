"""The partner's money field (registeredCapital) goes through the one money path (kernel/money.py).

No rule ID covers parse strictness: it is the DESIGN.md "Money" convention (JSON money is a plain
decimal string; a JSON number gets 400)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openability.bootstrap import Container
from openability.partners.models import Partner

OK = {"name": "某集成商", "billingMode": "prepaid"}


async def _partners(container: Container) -> int:
    async with container.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Partner)) or 0)


@pytest.mark.parametrize(
    "capital",
    [
        "1e6",
        "1E+6",
        "1_000_000",
        "１000000",  # full-width digit one
        " 1000000",
        "+1000000",
        "1000000.00001",
        1000000,  # a JSON number, even a whole one
        "1" * 20,  # past the 64-bit storage integer: was a 500
    ],
)
async def test_registered_capital_not_plain_decimal_is_refused(
    app_client: httpx.AsyncClient, admin_headers: dict[str, str], container: Container, capital: Any
) -> None:
    before = await _partners(container)
    r = await app_client.post(
        "/api/v1/partners", json={**OK, "registeredCapital": capital}, headers=admin_headers
    )
    assert r.status_code == 400, r.text
    b = r.json()
    assert b["code"] == "INVALID_ARGUMENT" and b["message"].startswith("registeredCapital: "), b
    assert await _partners(container) == before


async def test_registered_capital_plain_decimal_is_accepted(
    app_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    r = await app_client.post(
        "/api/v1/partners", json={**OK, "registeredCapital": "2000000.5"}, headers=admin_headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["registeredCapital"] == "2000000.5000"
