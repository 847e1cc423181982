"""The portal home's API-client count (billing's page, the count asked of the partners face)."""

from __future__ import annotations

from typing import Any

from openability.bootstrap import Container
from openability.partners import identity, oauth

PASSWORD = "Secret123"  # the console world's password (conftest.py)


async def _actor(container: Container, username: str) -> Any:
    async with container.uow() as uow:
        _token, actor = await identity.login(uow, username, PASSWORD)
    return actor


async def test_home_counts_the_partners_active_clients_only(
    browser: Any, world: Any, container: Container
) -> None:
    ap1, ap2 = await _actor(container, "ap1user"), await _actor(container, "ap2user")
    async with container.uow(ap1) as uow:
        await oauth.create_api_client(uow, world.ap_id, "app", ["sms"])
        gone, _ = await oauth.create_api_client(uow, world.ap_id, "old", ["sms"])
    async with container.uow(ap1) as uow:
        await oauth.revoke_api_client(uow, world.ap_id, gone.id)
    async with container.uow(ap2) as uow:
        await oauth.create_api_client(uow, world.ap2_id, "app", ["sms"])
    await browser.login("ap1user")
    r = await browser.get("/console/portal")
    assert r.status_code == 200
    assert 'id="active-clients">1<' in r.text
