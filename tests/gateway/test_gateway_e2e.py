"""End to end through HTTP with the real parts around the gateway: an OAuth client-credentials token
from /oauth/token (partners), the simulated MMSC and voice platform (connectors) handing delivery
receipts to the gateway's receipt sink, and the ledger audit at the end."""

from __future__ import annotations

import asyncio
import base64
from decimal import Decimal
from typing import Any

import httpx
import pytest

from openability.bootstrap import Container
from openability.connectors.mms_sim import MmsSimulator
from openability.connectors.voice_sim import VoiceSimulator
from openability.kernel.uow import Actor


@pytest.fixture
async def real_client(container: Container) -> Any:
    from openability.app import create_app

    mms = MmsSimulator(container.connectors, receipt_delay=0)
    voice = VoiceSimulator(container.connectors, receipt_delay=0)
    container.connectors.mms = mms
    container.connectors.voice = voice
    app = create_app(container, manage_container=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://test") as c,
    ):
        yield c, mms, voice


async def test_e2e_oauth_token_mms_and_voice_with_receipts(
    container: Container, real_client: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    from openability.partners import oauth

    client, mms, voice = real_client
    w = await kit.make_world(container, caps=("mms", "voice"), balance=Decimal("5.0000"))
    operator = Actor(type="operator", id="op_test", roles=frozenset({"admin"}))
    async with container.uow(operator) as uow:
        api_client, secret = await oauth.create_api_client(uow, w.partner_id, "e2e", ["mms", "voice"])
    tok = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": api_client.id, "client_secret": secret},
    )
    assert tok.status_code == 200, tok.text
    auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}

    # SMS is not in this token's scopes
    r = await client.post(
        "/capabilities/sms/v1/messages", json={"to": ["+8613800138000"], "text": "x"}, headers=auth
    )
    assert r.status_code == 403

    part = {"contentType": "text/plain", "content": base64.b64encode(b"hello").decode()}
    r = await client.post(
        "/capabilities/mms/v1/messages",
        json={"to": ["+8613800138000", "+8613900000000"], "subject": "hi", "parts": [part]},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    assert r.json()["amountCharged"] == "0.4000"
    ok_id, unreachable_id = (m["messageId"] for m in r.json()["messages"])

    r = await client.post(
        "/capabilities/voice/v1/notifications",
        json={"to": "+8613800138000", "text": "验证码1234", "repeat": 2},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    # simulated platform: 3 s ringing + ceil(7 * 2 / 4) s of speech = 7 s -> 1 started minute
    assert r.json()["quantity"] == 1 and r.json()["amountCharged"] == "0.1500"
    notif = r.json()["notifications"][0]["notificationId"]

    await asyncio.gather(*list(mms._tasks), *list(voice._tasks))  # the receipts are stored
    st = (await client.get(f"/capabilities/mms/v1/messages/{ok_id}", headers=auth)).json()
    assert st["status"] == "delivered"
    st = (await client.get(f"/capabilities/mms/v1/messages/{unreachable_id}", headers=auth)).json()
    assert st["status"] == "undeliverable"
    st = (await client.get(f"/capabilities/voice/v1/notifications/{notif}", headers=auth)).json()
    assert st["status"] == "delivered" and st["parts"][0]["networkStatus"] == "ANSWERED"
    assert await w.prepaid_total() == Decimal("5.0000") - Decimal("0.5500")
    await assert_ledger_clean()
