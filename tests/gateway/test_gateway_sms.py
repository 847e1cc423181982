"""SMS through the whole app: charging, refusals before the network, idempotency, graduated tiers
(R-CHARGE-01..05, R-PRICE-01)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx

from openability.ledger.types import AccountType

URL = "/capabilities/sms/v1/messages"


async def test_r_charge_01_sms_happy_path_charges_exact_price(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    before = await world.prepaid_total()
    r = await client.post(URL, json=kit.sms(["+8613800138000", "+8613900139000"]), headers=world.auth)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["amountCharged"] == "0.1000"
    assert body["currency"] == "CNY"
    assert body["segments"] == 1 and body["quantity"] == 2 and body["unit"] == "segment"
    assert [m["to"] for m in body["messages"]] == ["+8613800138000", "+8613900139000"]
    assert all(m["status"] == "submitted" and m["messageId"].startswith("msg_") for m in body["messages"])
    assert len(fakes.sms.submits) == 2
    assert await world.prepaid_total() == before - Decimal("0.1000")
    cdrs = await world.cdrs()
    assert len(cdrs) == 1 and cdrs[0].amount == Decimal("0.1000") and cdrs[0].band == "list"
    assert cdrs[0].response == body
    await assert_ledger_clean()


async def test_r_charge_05_ucs2_long_text_segments_times_recipients(
    client: httpx.AsyncClient, world: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    text = "验证码" * 30  # 90 UCS-2 characters: 2 segments of 67
    r = await client.post(URL, json=kit.sms(["+8613800138000", "+8613900139000"], text), headers=world.auth)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["encoding"] == "UCS2" and body["segments"] == 2 and body["quantity"] == 4
    assert body["amountCharged"] == "0.2000"
    await assert_ledger_clean()


async def test_r_charge_01_insufficient_balance_402_before_network(
    client: httpx.AsyncClient, container: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await kit.make_world(container, balance=Decimal("0.0400"))
    r = await client.post(URL, json=kit.sms(), headers=w.auth)
    assert r.status_code == 402
    assert r.json()["code"] == "INSUFFICIENT_BALANCE"
    assert fakes.sent == 0
    assert await w.prepaid_total() == Decimal("0.0400")
    assert await w.cdrs() == []
    # a top-up (BALANCE_CHANGED) makes the next call go through at once
    await w.top_up(Decimal("1.0000"))
    r = await client.post(URL, json=kit.sms(), headers=w.auth)
    assert r.status_code == 201, r.text
    assert await w.prepaid_total() == Decimal("0.9900")
    await assert_ledger_clean()


async def test_r_charge_04_idempotent_retry_charged_once(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    before = await world.prepaid_total()
    h = {**world.auth, "Idempotency-Key": "order-42"}
    r1 = await client.post(URL, json=kit.sms(), headers=h)
    r2 = await client.post(URL, json=kit.sms(), headers=h)
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json()
    assert r2.headers.get("idempotent-replayed") == "true"
    assert len(fakes.sms.submits) == 1
    assert await world.prepaid_total() == before - Decimal("0.0500")
    assert len(await world.cdrs()) == 1
    # clientCorrelator in the body works the same way
    b = kit.sms(clientCorrelator="corr-1")
    r3 = await client.post(URL, json=b, headers=world.auth)
    r4 = await client.post(URL, json=b, headers=world.auth)
    assert r3.json() == r4.json() and r3.json()["requestId"] == "corr-1"
    assert len(fakes.sms.submits) == 2
    # the same key for another request is refused
    r5 = await client.post(URL, json=kit.sms(text="other"), headers=h)
    assert r5.status_code == 409 and r5.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    await assert_ledger_clean()


async def test_r_charge_04_concurrent_duplicates_wait_for_the_first(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    h = {**world.auth, "Idempotency-Key": "same"}
    rs = await asyncio.gather(*(client.post(URL, json=kit.sms(), headers=h) for _ in range(8)))
    assert {r.status_code for r in rs} == {201}
    assert len({r.text for r in rs}) == 1
    assert len(fakes.sms.submits) == 1
    assert len(await world.cdrs()) == 1
    await assert_ledger_clean()


async def test_r_charge_04_key_known_only_to_the_database_is_replayed(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, runtime: Any, assert_ledger_clean: Any
) -> None:
    h = {**world.auth, "Idempotency-Key": "k-db"}
    r1 = await client.post(URL, json=kit.sms(), headers=h)
    runtime().engine.idempotency._done.clear()  # as if another worker answered it
    r2 = await client.post(URL, json=kit.sms(), headers=h)
    assert r2.status_code == 201 and r2.json() == r1.json()
    assert len(fakes.sms.submits) == 1
    await assert_ledger_clean()


async def test_connector_failure_503_nothing_charged(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    before = await world.prepaid_total()
    fakes.sms.fail = True
    r = await client.post(URL, json=kit.sms(), headers=world.auth)
    assert r.status_code == 503 and r.json()["code"] == "SERVICE_UNAVAILABLE"
    assert await world.cdrs() == []
    assert await world.prepaid_total() == before
    fakes.sms.up = False
    r = await client.post(URL, json=kit.sms(), headers=world.auth)
    assert r.status_code == 503
    fakes.sms.fail, fakes.sms.up = False, True
    r = await client.post(URL, json=kit.sms(), headers=world.auth)
    assert r.status_code == 201
    assert await world.prepaid_total() == before - Decimal("0.0500")
    await assert_ledger_clean()


async def test_partial_failure_charges_only_served_recipients(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    before = await world.prepaid_total()
    fakes.sms.fail_for = {"+8613900139000"}
    r = await client.post(URL, json=kit.sms(["+8613800138000", "+8613900139000"]), headers=world.auth)
    assert r.status_code == 201
    body = r.json()
    assert body["quantity"] == 1 and body["amountCharged"] == "0.0500"
    assert [m["status"] for m in body["messages"]] == ["submitted", "failed"]
    assert await world.prepaid_total() == before - Decimal("0.0500")
    await assert_ledger_clean()


async def test_r_charge_02_concurrent_calls_drain_account_never_negative(
    client: httpx.AsyncClient, container: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await kit.make_world(container, balance=Decimal("1.0000"))
    rs = await asyncio.gather(*(client.post(URL, json=kit.sms(), headers=w.auth) for _ in range(45)))
    ok = [r for r in rs if r.status_code == 201]
    refused = [r for r in rs if r.status_code == 402]
    assert len(ok) + len(refused) == 45
    assert len(ok) == 20
    assert len(fakes.sms.submits) == 20
    cdrs = await w.cdrs()
    assert len(cdrs) == len(ok)
    assert sum((c.amount for c in cdrs), Decimal(0)) == Decimal("1.0000")
    b = await w.balances()
    assert b[AccountType.PREPAID_AVAILABLE] >= 0 and b[AccountType.PREPAID_RESERVED] >= 0
    assert await w.prepaid_total() == Decimal(0)
    await assert_ledger_clean()


async def test_r_price_01_graduated_price_crosses_tier_with_month_to_date_volume(
    client: httpx.AsyncClient, container: Any, world: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    from datetime import date

    from openability.charging.models import UsageDaily
    from openability.charging.rollups import rebuild_monthly

    async with container.uow() as uow:  # 999 segments already used this month (another worker, earlier)
        uow.session.add(
            UsageDaily(
                partner_id=world.partner_id,
                product_id=world.products["sms"],
                day=date(2026, 11, 1),
                price_plan_id="pp_test",
                band="list",
                scope="national",
                month="2026-11",
                calls=999,
                quantity=999,
                amount=Decimal("49.9500"),
            )
        )
        await uow.session.flush()
        await rebuild_monthly(uow.session, "2026-11")  # the writer keeps both rollups
    r = await client.post(URL, json=kit.sms(["+8613800138000", "+8613900139000"]), headers=world.auth)
    assert r.status_code == 201
    # unit #1000 (position 999) at 0.05, unit #1001 (position 1000) at the 0.04 tier
    assert r.json()["amountCharged"] == "0.0900"
    r = await client.post(URL, json=kit.sms(), headers=world.auth)
    assert r.json()["amountCharged"] == "0.0400"
    await assert_ledger_clean()


async def test_r_charge_04_idempotency_key_and_client_correlator_must_agree(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    """Both given and different: refused (400), not sent and not charged — before, the header won and a
    retry that repeated only the correlator was charged again. Both given and equal: one key."""
    before = await world.prepaid_total()
    h = {**world.auth, "Idempotency-Key": "key-a"}
    r = await client.post(URL, json=kit.sms(clientCorrelator="key-b"), headers=h)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "INVALID_ARGUMENT"
    assert "Idempotency-Key and clientCorrelator differ" in r.json()["message"]
    assert fakes.sent == 0 and await world.cdrs() == [] and await world.prepaid_total() == before
    r1 = await client.post(URL, json=kit.sms(clientCorrelator="key-a"), headers=h)
    assert r1.status_code == 201 and r1.json()["requestId"] == "key-a"
    # the same key by either route is the same request: replayed, not charged again
    r2 = await client.post(URL, json=kit.sms(clientCorrelator="key-a"), headers=world.auth)
    r3 = await client.post(URL, json=kit.sms(clientCorrelator="key-a"), headers=h)
    assert r2.json() == r3.json() == r1.json()
    assert r2.headers.get("idempotent-replayed") == r3.headers.get("idempotent-replayed") == "true"
    assert len(fakes.sms.submits) == 1
    assert await world.prepaid_total() == before - Decimal("0.0500")
    await assert_ledger_clean()
