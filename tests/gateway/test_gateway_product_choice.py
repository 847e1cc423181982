"""A partner with several active orders for products of one capability: the call's `productId` chooses
the product that is rated; without it, the oldest active order is."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from openability.catalog.models import OrderState, PricePlan, Product, ProductOrder
from openability.kernel import events
from openability.kernel.ids import new_id

URL = "/capabilities/sms/v1/messages"


async def _second_sms_order(container: Any, clock: Any, kit: Any, world: Any) -> str:
    """A newer active order of the partner for another SMS product, priced 0.0300 flat."""
    clock.advance(minutes=1)  # the world's first order stays the oldest
    prod = await kit.make_product(container, "sms", prices={("national", "list"): [(0, Decimal("0.0300"))]})
    async with container.uow() as uow:
        uow.session.add(
            ProductOrder(
                id=new_id("ord"),
                partner_id=world.partner_id,
                product_id=prod,
                state=OrderState.COMPLETED,
                active=True,
                created_at=uow.now,
                completed_at=uow.now,
            )
        )
        uow.publish(events.ORDER_CHANGED, world.partner_id)
    return str(prod)


async def test_r_price_01_product_id_chooses_the_ordered_product_whose_price_plan_is_rated(
    client: httpx.AsyncClient, container: Any, clock: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    world = await kit.make_world(container, caps=("sms",))
    oldest = world.products["sms"]
    newer = await _second_sms_order(container, clock, kit, world)
    async with container.uow() as uow:
        plan_of = {p: pp for p, pp in (await uow.session.execute(select(PricePlan.product_id, PricePlan.id)))}
        newer_code = await uow.session.scalar(select(Product.code).where(Product.id == newer))

    r = await client.post(URL, json=kit.sms(), headers=world.auth)  # no productId: the oldest order
    assert r.status_code == 201, r.text
    assert r.json()["amountCharged"] == "0.0500"
    r = await client.post(URL, json=kit.sms(productId=newer), headers=world.auth)
    assert r.status_code == 201, r.text
    assert r.json()["amountCharged"] == "0.0300"
    r = await client.post(URL, json=kit.sms(productId=newer_code), headers=world.auth)  # by code
    assert r.status_code == 201 and r.json()["amountCharged"] == "0.0300"
    r = await client.post(URL, json=kit.sms(productId=oldest), headers=world.auth)
    assert r.status_code == 201 and r.json()["amountCharged"] == "0.0500"

    cdrs = sorted(await world.cdrs(), key=lambda c: c.occurred_at)
    assert [(c.product_id, c.price_plan_id, c.amount) for c in cdrs] == [
        (oldest, plan_of[oldest], Decimal("0.0500")),
        (newer, plan_of[newer], Decimal("0.0300")),
        (newer, plan_of[newer], Decimal("0.0300")),
        (oldest, plan_of[oldest], Decimal("0.0500")),
    ]
    assert len(fakes.sms.submits) == 4
    await assert_ledger_clean()


async def test_product_id_not_among_the_active_orders_403_malformed_400_nothing_charged(
    client: httpx.AsyncClient, container: Any, clock: Any, fakes: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    world = await kit.make_world(container, caps=("sms", "mms"))
    await _second_sms_order(container, clock, kit, world)
    not_ordered = await kit.make_product(container, "sms")
    before = await world.prepaid_total()
    for product in (not_ordered, world.products["mms"], "prd_doesnotexist"):
        r = await client.post(URL, json=kit.sms(productId=product), headers=world.auth)
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "NO_ACTIVE_ORDER" and product in r.json()["message"]
    for bad in (42, "", "has space", "x" * 41, None):
        body = kit.sms()
        body["productId"] = bad
        r = await client.post(URL, json=body, headers=world.auth)
        assert r.status_code == 400, (bad, r.text)  # null too: the schema says string
        assert r.json()["code"] == "INVALID_ARGUMENT" and "productId" in r.json()["message"]
    assert len(fakes.sms.submits) == 0
    assert await world.prepaid_total() == before
    await assert_ledger_clean()


async def test_cancelled_oldest_order_hands_the_default_to_the_next_one(
    client: httpx.AsyncClient, container: Any, clock: Any, fakes: Any, kit: Any
) -> None:
    world = await kit.make_world(container, caps=("sms",))
    newer = await _second_sms_order(container, clock, kit, world)
    async with container.uow() as uow:
        order = await uow.session.scalar(
            select(ProductOrder).where(ProductOrder.product_id == world.products["sms"])
        )
        assert order is not None
        order.active = False
        order.state = OrderState.CANCELLED
        order.cancelled_at = uow.now
        uow.publish(events.ORDER_CHANGED, world.partner_id)
    r = await client.post(URL, json=kit.sms(), headers=world.auth)
    assert r.status_code == 201 and r.json()["amountCharged"] == "0.0300"
    r = await client.post(URL, json=kit.sms(productId=world.products["sms"]), headers=world.auth)
    assert r.status_code == 403 and r.json()["code"] == "NO_ACTIVE_ORDER"
    assert [c.product_id for c in await world.cdrs()] == [newer]
