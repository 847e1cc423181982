"""The worker's own grants: idle release after expiry and release on shutdown (CDRs flushed first)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from openability.charging.types import GrantState
from openability.ledger.types import AccountType

URL = "/capabilities/sms/v1/messages"


async def test_worker_releases_its_idle_grant_after_expiry(
    client: httpx.AsyncClient, world: Any, clock: Any, runtime: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    assert (await client.post(URL, json=kit.sms(), headers=world.auth)).status_code == 201
    b = await world.balances()
    assert b[AccountType.PREPAID_RESERVED] == Decimal("0.9500")  # 20 calls' worth, one consumed
    gm = runtime().engine.grants
    assert await gm.release_idle() == 0  # not expired yet
    s = world.container.settings
    clock.advance(seconds=s.grant_ttl_seconds + 1)
    assert await gm.release_idle() == 0  # expired, kept for half the reaper's grace (a call extends it)
    clock.advance(seconds=s.grant_reap_grace_seconds / 2)
    await gm.release_idle()  # (the runtime's own housekeeping may have done it already)
    assert gm.held(world.partner_id)[0] is None
    b = await world.balances()
    assert b[AccountType.PREPAID_RESERVED] == 0 and b[AccountType.PREPAID_AVAILABLE] == Decimal("9.9500")
    grants = await world.grants()
    assert len(grants) == 1 and grants[0].state == GrantState.CLOSED
    # the next call opens a new grant
    assert (await client.post(URL, json=kit.sms(), headers=world.auth)).status_code == 201
    assert len(await world.grants()) == 2
    await assert_ledger_clean()


async def test_shutdown_flushes_cdrs_then_releases_grants(
    container: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    from openability.app import create_app

    w = await kit.make_world(container)
    app = create_app(container, manage_container=False)
    async with app.lifespan():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            for _ in range(3):
                assert (await c.post(URL, json=kit.sms(), headers=w.auth)).status_code == 201
        assert (await w.balances())[AccountType.PREPAID_RESERVED] > 0
    assert container.gateway is None
    b = await w.balances()
    assert b[AccountType.PREPAID_RESERVED] == 0 and b[AccountType.PREPAID_AVAILABLE] == Decimal("9.8500")
    assert len(await w.cdrs()) == 3
    await assert_ledger_clean()
