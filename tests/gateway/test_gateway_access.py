"""Auth (401), scope and entitlement (403), rate limits (429) and input validation (400/413/415):
all refused before the network is touched and without charging."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from openability.kernel import events
from openability.partners.models import AccessToken
from openability.partners.types import PartnerStatus

URL = "/capabilities/sms/v1/messages"


async def test_401_missing_malformed_and_unknown_tokens(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any
) -> None:
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer nope"},
    ):
        r = await client.post(URL, json=kit.sms(), headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["code"] == "UNAUTHENTICATED"
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert fakes.sent == 0


async def test_401_revoked_token_refused_at_once(
    client: httpx.AsyncClient, container: Any, world: Any, fakes: Any, kit: Any
) -> None:
    assert (await client.post(URL, json=kit.sms(), headers=world.auth)).status_code == 201  # now cached
    async with container.uow() as uow:
        await uow.session.execute(
            update(AccessToken).where(AccessToken.subject_id == world.client_id).values(revoked_at=uow.now)
        )
        uow.publish(events.CLIENT_CHANGED, world.client_id)
    r = await client.post(URL, json=kit.sms(), headers=world.auth)
    assert r.status_code == 401
    assert len(fakes.sms.submits) == 1


async def test_401_expired_token(client: httpx.AsyncClient, world: Any, clock: Any, kit: Any) -> None:
    token = await world.new_token(["sms"], expires_in=timedelta(minutes=30))
    h = {"Authorization": f"Bearer {token}"}
    assert (await client.post(URL, json=kit.sms(), headers=h)).status_code == 201
    clock.advance(minutes=31)
    r = await client.post(URL, json=kit.sms(), headers=h)
    assert r.status_code == 401 and "expired" in r.json()["message"]


async def test_403_token_without_the_capability_scope(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any
) -> None:
    token = await world.new_token(["mms"])
    r = await client.post(URL, json=kit.sms(), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["code"] == "INSUFFICIENT_SCOPE"
    assert fakes.sent == 0


async def test_403_no_active_order(client: httpx.AsyncClient, container: Any, fakes: Any, kit: Any) -> None:
    w = await kit.make_world(container, caps=("mms",))
    r = await client.post(URL, json=kit.sms(), headers=w.auth)
    assert r.status_code == 403 and r.json()["code"] == "NO_ACTIVE_ORDER"
    assert fakes.sent == 0


async def test_422_no_price_plan_valid_now_same_status_as_ordering(
    client: httpx.AsyncClient, container: Any, clock: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    # Ordered, but its only price version starts next month: the call is refused with the same 422
    # NO_PRICE_PLAN that ordering an unpriced product gets (one status per code across the API).
    prod = await kit.make_product(container, "sms", valid_from=clock.now() + timedelta(days=30))
    w = await kit.make_world(container, caps=("sms",), products={"sms": prod})
    before = await w.prepaid_total()
    r = await client.post(URL, json=kit.sms(), headers=w.auth)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "NO_PRICE_PLAN" and r.json()["status"] == 422
    assert fakes.sent == 0 and await w.cdrs() == [] and await w.prepaid_total() == before
    await assert_ledger_clean()


async def test_403_suspended_partner_r_bill_09_then_reactivated(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    assert (await client.post(URL, json=kit.sms(), headers=world.auth)).status_code == 201
    await world.set_status(PartnerStatus.SUSPENDED)
    r = await client.post(URL, json=kit.sms(), headers=world.auth)
    assert r.status_code == 403 and r.json()["code"] == "PARTNER_SUSPENDED"
    await world.set_status(PartnerStatus.EXITED)
    r = await client.post(URL, json=kit.sms(), headers=world.auth)
    assert r.status_code == 403 and r.json()["code"] == "PARTNER_INACTIVE"
    await world.set_status(PartnerStatus.ACTIVE)
    assert (await client.post(URL, json=kit.sms(), headers=world.auth)).status_code == 201
    assert len(fakes.sms.submits) == 2
    await assert_ledger_clean()


async def test_429_rate_limit_per_partner_and_product(
    client: httpx.AsyncClient, container: Any, clock: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await kit.make_world(container, rate_limit=3)
    codes = [(await client.post(URL, json=kit.sms(), headers=w.auth)).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    r = await client.post(URL, json=kit.sms(), headers=w.auth)
    assert r.status_code == 429 and r.json()["code"] == "TOO_MANY_REQUESTS"
    assert int(r.headers["retry-after"]) >= 1
    assert len(fakes.sms.submits) == 3
    clock.advance(seconds=1)
    assert (await client.post(URL, json=kit.sms(), headers=w.auth)).status_code == 201
    await assert_ledger_clean()


BAD_BODIES: list[tuple[Any, str]] = [
    ([1, 2], "JSON object"),
    ({"text": "hi"}, "to:"),
    ({"to": [], "text": "hi"}, "at least one"),
    ({"to": "+8613800138000", "text": "hi"}, "to:"),
    ({"to": ["13800138000"], "text": "hi"}, "E.164"),
    ({"to": ["+861012345678"], "text": "hi"}, "mainland China mobile"),
    ({"to": ["+8612800138000"], "text": "hi"}, "mainland China mobile"),
    ({"to": ["+0123456789"], "text": "hi"}, "E.164"),
    ({"to": [8613800138000], "text": "hi"}, "string"),
    ({"to": ["+8613800138000", "+8613800138000"], "text": "hi"}, "more than once"),
    ({"to": ["+8613800138000"]}, "text:"),
    ({"to": ["+8613800138000"], "text": "   "}, "text:"),
    ({"to": ["+8613800138000"], "text": 5}, "text:"),
    ({"to": ["+8613800138000"], "text": "x" * 1001}, "at most 1000"),
    ({"to": ["+8613800138000"], "text": "hi", "txt": "typo"}, "unknown field"),
    ({"to": ["+8613800138000"], "text": "hi", "clientCorrelator": "has space"}, "clientCorrelator"),
    ({"to": [f"+86138{i:08d}" for i in range(101)], "text": "hi"}, "at most 100"),
]


@pytest.mark.parametrize(("body", "fragment"), BAD_BODIES)
async def test_400_invalid_input_refused_and_not_charged(
    client: httpx.AsyncClient, world: Any, fakes: Any, body: Any, fragment: str
) -> None:
    before = await world.prepaid_total()
    r = await client.post(URL, json=body, headers=world.auth)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "INVALID_ARGUMENT"
    assert fragment in r.json()["message"]
    assert fakes.sent == 0
    assert await world.prepaid_total() == before


async def test_400_invalid_json_415_content_type_413_too_large(
    client: httpx.AsyncClient, world: Any, fakes: Any
) -> None:
    h = {**world.auth, "Content-Type": "application/json"}
    r = await client.post(URL, content=b"{not json", headers=h)
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
    r = await client.post(
        URL,
        content=b'{"to":["+8613800138000"],"text":"hi"}',
        headers={**world.auth, "Content-Type": "text/plain"},
    )
    assert r.status_code == 415 and r.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    big = b'{"to":["+8613800138000"],"text":"' + b"x" * (70 * 1024) + b'"}'
    r = await client.post(URL, content=big, headers=h)
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"
    r = await client.post(
        URL,
        content=b'{"to":["+8613800138000"],"text":"hi"}',
        headers={**world.auth, "Idempotency-Key": "bad key"} | {"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["message"]
    assert fakes.sent == 0


async def test_international_e164_accepted(
    client: httpx.AsyncClient, world: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    r = await client.post(URL, json=kit.sms(["+14155550123", "+85291234567"]), headers=world.auth)
    assert r.status_code == 201, r.text
    assert r.json()["amountCharged"] == "0.1000"
    await assert_ledger_clean()


async def test_x_correlator_echoed(client: httpx.AsyncClient, world: Any, kit: Any) -> None:
    r = await client.post(URL, json=kit.sms(), headers={**world.auth, "x-correlator": "abc-123"})
    assert r.status_code == 201 and r.headers["x-correlator"] == "abc-123"
    r = await client.post(URL, json=[1], headers={"x-correlator": "c2"})
    assert r.status_code == 401 and r.headers["x-correlator"] == "c2"
