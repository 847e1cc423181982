"""MMS, voice notification, delivery status, postpaid and price bands/versions through HTTP."""

from __future__ import annotations

import base64
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from openability.charging.models import UsageRecord
from openability.kernel import events
from openability.ledger.types import AccountType
from openability.partners.types import BillingMode, PartnerKind, Tier

SMS = "/capabilities/sms/v1/messages"
MMS = "/capabilities/mms/v1/messages"
VOICE = "/capabilities/voice/v1/notifications"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 100).decode()


async def test_r_charge_05_mms_charged_per_message(
    client: httpx.AsyncClient, world: Any, fakes: Any, assert_ledger_clean: Any
) -> None:
    before = await world.prepaid_total()
    body = {
        "to": ["+8613800138000", "+8613900139000"],
        "subject": "通知",
        "parts": [
            {"contentType": "text/plain", "content": base64.b64encode("你好".encode()).decode()},
            {"contentType": "image/png", "content": PNG},
        ],
    }
    r = await client.post(MMS, json=body, headers=world.auth)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["quantity"] == 2 and out["unit"] == "message" and out["amountCharged"] == "0.4000"
    assert len(fakes.mms.submits) == 2
    assert await world.prepaid_total() == before - Decimal("0.4000")
    bad = await client.post(
        MMS, json={**body, "parts": [{"contentType": "image/png", "content": "***"}]}, headers=world.auth
    )
    assert bad.status_code == 400 and "base64" in bad.json()["message"]
    bad = await client.post(MMS, json={**body, "parts": []}, headers=world.auth)
    assert bad.status_code == 400
    assert len(fakes.mms.submits) == 2
    await assert_ledger_clean()


async def test_r_charge_05_voice_charged_per_started_minute(
    client: httpx.AsyncClient, world: Any, fakes: Any, runtime: Any, assert_ledger_clean: Any
) -> None:
    before = await world.prepaid_total()
    fakes.voice.duration = 61  # 2 started minutes
    r = await client.post(
        VOICE, json={"to": "+8613800138000", "text": "您的验证码是1234", "repeat": 2}, headers=world.auth
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["quantity"] == 2 and out["unit"] == "minute" and out["amountCharged"] == "0.3000"
    assert out["notifications"][0]["durationSeconds"] == 61
    nid = out["notifications"][0]["notificationId"]
    assert await world.prepaid_total() == before - Decimal("0.3000")
    # the reservation (a pessimistic estimate) gave its unused part back to the grant
    _, remaining, inflight = runtime().engine.grants.held(world.partner_id)
    assert inflight == 0 and remaining > 0
    g = await client.get(f"{VOICE}/{nid}", headers=world.auth)
    assert g.status_code == 200 and g.json()["notificationId"] == nid
    for bad in (
        {"to": "+8613800138000", "text": "x", "repeat": 4},
        {"to": "+8613800138000", "text": "x", "repeat": True},
        {"to": "+8613800138000", "text": ""},
        {"to": ["+8613800138000"], "text": "x" * 501},
    ):
        assert (await client.post(VOICE, json=bad, headers=world.auth)).status_code == 400
    fakes.voice.duration = 0  # not answered: no call time, nothing to pay
    r = await client.post(VOICE, json={"to": ["+8613800138000"], "text": "hi"}, headers=world.auth)
    assert r.status_code == 201 and r.json()["amountCharged"] == "0.0000"
    assert len(fakes.voice.calls) == 2
    await assert_ledger_clean()


async def test_delivery_receipts_update_status_only_owner_sees_it(
    client: httpx.AsyncClient, container: Any, world: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    r = await client.post(SMS, json=kit.sms(text="x" * 200), headers=world.auth)  # 2 parts
    assert r.status_code == 201
    mid = r.json()["messages"][0]["messageId"]
    g = await client.get(f"{SMS}/{mid}", headers=world.auth)
    assert g.status_code == 200
    st = g.json()
    assert st["status"] == "submitted" and st["to"] == "+8613800138000" and len(st["parts"]) == 2
    sink = container.connectors.receipt_sink
    await sink(st["parts"][0]["networkId"], "DELIVRD", "000")
    assert (await client.get(f"{SMS}/{mid}", headers=world.auth)).json()["status"] == "submitted"
    await sink(st["parts"][1]["networkId"], "DELIVRD", "000")
    done = (await client.get(f"{SMS}/{mid}", headers=world.auth)).json()
    assert done["status"] == "delivered" and all(p["status"] == "delivered" for p in done["parts"])
    await sink(st["parts"][1]["networkId"], "UNDELIV", "001")  # a later receipt replaces the earlier one
    assert (await client.get(f"{SMS}/{mid}", headers=world.auth)).json()["status"] == "undeliverable"
    other = await kit.make_world(container)
    assert (await client.get(f"{SMS}/{mid}", headers=other.auth)).status_code == 404
    assert (await client.get(f"{MMS}/{mid}", headers=world.auth)).status_code == 404
    assert (await client.get(f"{SMS}/msg_nope", headers=world.auth)).status_code == 404
    assert (await client.get(f"{SMS}/{mid}")).status_code == 401
    await assert_ledger_clean()


async def test_r_charge_03_postpaid_si_books_receivable_not_blocked_by_balance(
    client: httpx.AsyncClient, container: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await kit.make_world(
        container,
        kind=PartnerKind.SI,
        billing_mode=BillingMode.POSTPAID,
        tier=Tier.STRATEGIC,
        balance=Decimal(0),
    )
    for _ in range(3):
        r = await client.post(SMS, json=kit.sms(), headers=w.auth)
        assert r.status_code == 201, r.text
        assert r.json()["amountCharged"] == "0.0300"  # R-PRICE-02: the strategic band
    b = await w.balances()
    assert b[AccountType.RECEIVABLE] == Decimal("0.0900")
    assert b[AccountType.PREPAID_AVAILABLE] == 0 and b[AccountType.PREPAID_RESERVED] == 0
    assert await w.grants() == []
    cdrs = await w.cdrs()
    assert {c.billing_mode for c in cdrs} == {"postpaid"} and {c.band for c in cdrs} == {"strategic"}
    await assert_ledger_clean()


async def test_r_price_02_si_without_tier_pays_certified_band(
    client: httpx.AsyncClient, container: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await kit.make_world(container, kind=PartnerKind.SI)
    r = await client.post(SMS, json=kit.sms(), headers=w.auth)
    assert r.json()["amountCharged"] == "0.0450"
    await assert_ledger_clean()


async def test_r_price_03_new_version_applies_from_its_start_and_cdr_records_it(
    client: httpx.AsyncClient, container: Any, world: Any, clock: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    from openability.catalog.models import PricePlan

    prod = world.products["sms"]
    start = clock.now() + timedelta(minutes=30)
    async with container.uow() as uow:
        v1 = await uow.session.scalar(select(PricePlan).where(PricePlan.product_id == prod))
        assert v1 is not None
        v1.valid_to = start
        v2 = await kit.add_plan(
            uow.session, prod, 2, start, {("national", "list"): [(0, Decimal("0.0300"))]}, uow.now
        )
        uow.publish(events.CATALOG_CHANGED, prod)
    r = await client.post(SMS, json=kit.sms(), headers=world.auth)
    assert r.json()["amountCharged"] == "0.0500"
    clock.advance(minutes=30)
    r = await client.post(SMS, json=kit.sms(), headers=world.auth)
    assert r.json()["amountCharged"] == "0.0300"
    async with container.uow() as uow:
        plans = (
            await uow.session.scalars(select(UsageRecord.price_plan_id).order_by(UsageRecord.occurred_at))
        ).all()
    assert plans == [v1.id, v2]
    await assert_ledger_clean()


async def test_caches_refresh_by_ttl_without_events(
    client: httpx.AsyncClient, container: Any, world: Any, clock: Any, kit: Any
) -> None:
    """Someone changed the partner behind the platform's back (no event, no feed row): the caches'
    safety lifetime still brings the change in."""
    from sqlalchemy import update

    from openability.partners.models import Partner
    from openability.partners.types import PartnerStatus

    assert (await client.post(SMS, json=kit.sms(), headers=world.auth)).status_code == 201
    async with container.uow() as uow:
        await uow.session.execute(
            update(Partner).where(Partner.id == world.partner_id).values(status=PartnerStatus.SUSPENDED)
        )
    assert (await client.post(SMS, json=kit.sms(), headers=world.auth)).status_code == 201  # still cached
    clock.advance(seconds=container.settings.gateway_cache_ttl_seconds + 1)
    assert (await client.post(SMS, json=kit.sms(), headers=world.auth)).status_code == 403


async def test_openapi_describes_capability_routes_and_metrics_served(
    client: httpx.AsyncClient, world: Any, kit: Any
) -> None:
    await client.post(SMS, json=kit.sms(), headers=world.auth)
    doc = (await client.get("/openapi.json")).json()
    for path in (SMS, SMS + "/{id}", MMS, MMS + "/{id}", VOICE, VOICE + "/{id}"):
        assert path in doc["paths"], path
    post = doc["paths"][SMS]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("SmsSendRequest")
    assert {"201", "402", "429"} <= set(post["responses"])
    assert "SmsSendRequest" in doc["components"]["schemas"]
    m = await client.get("/metrics")
    assert m.status_code == 200
    assert 'openability_gateway_calls_total{capability="sms",outcome="charged"}' in m.text
    assert "openability_cdr_batch_size_bucket" in m.text
