"""Catalog management API through HTTP: every endpoint, with bad input of each kind."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openability.catalog.models import PricePlan, PriceTier

PLAN = {
    "validFrom": "2027-01-01T00:00:00+08:00",
    "note": "2027",
    "tiers": {
        "national": {
            "list": [[0, "0.0600"], [100000, "0.0550"]],
            "certified": [["0", "0.0580"], ["100000", "0.0530"]],
            "close": [[0, "0.0560"], [100000, "0.0510"]],
            "strategic": [[0, "0.0540"], [100000, "0.0490"]],
        }
    },
}

NEW_PRODUCT = {
    "code": "sms-marketing",
    "capability": "sms",
    "nameZh": "营销短信",
    "nameEn": "Marketing SMS",
    "unit": "segment",
    "audience": "SI",
    "rateLimitPerSecond": 100,
}


def err(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    b: dict[str, Any] = r.json()
    assert b["status"] == status
    if code:
        assert b["code"] == code, b
    return b


async def test_requires_authentication(api: httpx.AsyncClient, seeded: None) -> None:
    err(await api.get("/api/v1/products"), 401, "UNAUTHENTICATED")
    err(await api.post("/api/v1/orders", json={"productId": "sms-standard"}), 401)


async def test_capabilities_and_products(api: httpx.AsyncClient, seeded: None, auth: Any) -> None:
    r = await api.get("/api/v1/capabilities", headers=auth.operator)
    assert r.status_code == 200
    assert [c["code"] for c in r.json()] == ["mms", "sms", "voice"]
    assert r.json()[1]["networkElement"] == "smpp"
    r = await api.get("/api/v1/products", headers=auth.operator, params={"limit": 2})
    page = r.json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    assert page["items"][0]["code"] == "mms-standard"
    r = await api.get("/api/v1/products", headers=auth.operator, params={"capability": "voice"})
    assert [p["code"] for p in r.json()["items"]] == ["voice-notify"]
    r = await api.get("/api/v1/products/sms-standard", headers=auth.operator)
    sms = r.json()
    assert sms["unit"] == "segment" and sms["rateLimitPerSecond"] == 200 and sms["audience"] == "all"
    r2 = await api.get(f"/api/v1/products/{sms['id']}", headers=auth.operator)
    assert r2.json()["code"] == "sms-standard"
    err(await api.get("/api/v1/products/nope", headers=auth.operator), 404, "NOT_FOUND")
    err(
        await api.get("/api/v1/products", headers=auth.operator, params={"limit": 0}), 400, "INVALID_ARGUMENT"
    )
    err(await api.get("/api/v1/products", headers=auth.operator, params={"limit": 201}), 400)
    err(await api.get("/api/v1/products", headers=auth.operator, params={"offset": -1}), 400)
    err(await api.get("/api/v1/products", headers=auth.operator, params={"status": "bogus"}), 400)


async def test_create_and_update_product(api: httpx.AsyncClient, seeded: None, auth: Any) -> None:
    r = await api.post("/api/v1/products", json=NEW_PRODUCT, headers=auth.roles("product_manager"))
    assert r.status_code == 201, r.text
    assert r.json()["code"] == "sms-marketing" and r.json()["status"] == "active"
    err(
        await api.post("/api/v1/products", json=NEW_PRODUCT, headers=auth.operator), 409, "PRODUCT_CODE_TAKEN"
    )
    err(await api.post("/api/v1/products", json=NEW_PRODUCT, headers=auth.roles("billing_clerk")), 403)
    r = await api.patch(
        "/api/v1/products/sms-marketing",
        json={"rateLimitPerSecond": 10, "status": "retired"},
        headers=auth.operator,
    )
    assert r.status_code == 200 and r.json()["rateLimitPerSecond"] == 10 and r.json()["status"] == "retired"
    err(await api.patch("/api/v1/products/nope", json={"status": "active"}, headers=auth.operator), 404)
    err(
        await api.patch(
            "/api/v1/products/sms-marketing", json={"rateLimitPerSecond": 0}, headers=auth.operator
        ),
        400,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": None}, "code"),
        ({"code": "Bad Code!"}, "code"),
        ({"unit": "byte"}, "unit"),
        ({"audience": "everyone"}, "audience"),
        ({"rateLimitPerSecond": 0}, "rateLimitPerSecond"),
        ({"rateLimitPerSecond": 10001}, "rateLimitPerSecond"),
        ({"rateLimitPerSecond": "100"}, "rateLimitPerSecond"),
        ({"rateLimitPerSecond": 1.5}, "rateLimitPerSecond"),
        ({"nameZh": ""}, "nameZh"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_create_product_bad_input(
    api: httpx.AsyncClient, seeded: None, auth: Any, change: dict[str, Any], field: str
) -> None:
    data = {**NEW_PRODUCT, **change}
    data = {k: v for k, v in data.items() if v is not None}
    b = err(await api.post("/api/v1/products", json=data, headers=auth.operator), 400, "INVALID_ARGUMENT")
    assert field in b["message"]
    r = await api.get("/api/v1/products", headers=auth.operator)
    assert r.json()["total"] == 3


async def test_unknown_capability_and_malformed_json(api: httpx.AsyncClient, seeded: None, auth: Any) -> None:
    err(
        await api.post("/api/v1/products", json={**NEW_PRODUCT, "capability": "fax"}, headers=auth.operator),
        404,
    )
    r = await api.post(
        "/api/v1/products",
        content=b"{not json",
        headers={**auth.operator, "content-type": "application/json"},
    )
    err(r, 400, "INVALID_ARGUMENT")


async def test_price_plans(api: httpx.AsyncClient, seeded: None, auth: Any) -> None:
    r = await api.get("/api/v1/products/sms-standard/price-plans", headers=auth.operator)
    plans = r.json()
    assert len(plans) == 1 and plans[0]["version"] == 1 and plans[0]["validTo"] is None
    assert plans[0]["tiers"]["national"]["list"] == [[0, "0.0500"], [100000, "0.0450"], [1000000, "0.0400"]]
    assert plans[0]["tiers"]["local"]["strategic"][0] == [0, "0.0430"]
    r = await api.post(
        "/api/v1/products/sms-standard/price-plans", json=PLAN, headers=auth.roles("product_manager")
    )
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["tiers"]["national"]["certified"][1] == [100000, "0.0530"]
    r = await api.get("/api/v1/products/sms-standard/price-plans", headers=auth.operator)
    assert r.json()[0]["validTo"] == v2["validFrom"]
    err(await api.post("/api/v1/products/nope/price-plans", json=PLAN, headers=auth.operator), 404)
    err(await api.get("/api/v1/products/nope/price-plans", headers=auth.operator), 404)


def _with_tiers(national: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**PLAN, "tiers": {"national": national}, **extra}


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({**PLAN, "validFrom": "2027-01-01T00:00:00"}, 400, "INVALID_ARGUMENT"),  # no time zone
        ({**PLAN, "validFrom": "soon"}, 400, "INVALID_ARGUMENT"),
        ({**PLAN, "validFrom": "2026-01-01T00:00:00+08:00"}, 422, "VALID_FROM_IN_PAST"),
        ({"validFrom": PLAN["validFrom"]}, 400, "INVALID_ARGUMENT"),  # tiers missing
        (_with_tiers({**PLAN["tiers"]["national"], "list": [[0, 0.06]]}), 400, "INVALID_ARGUMENT"),  # float
        (_with_tiers({**PLAN["tiers"]["national"], "list": [[0, "0.00001"]]}), 400, "INVALID_TIERS"),
        (_with_tiers({**PLAN["tiers"]["national"], "list": [[5, "0.0600"]]}), 400, "INVALID_TIERS"),
        (_with_tiers({**PLAN["tiers"]["national"], "list": [[0, "-1"]]}), 400, "INVALID_TIERS"),
        (
            _with_tiers({**PLAN["tiers"]["national"], "list": [[0, "0.06"], [0, "0.05"]]}),
            400,
            "INVALID_TIERS",
        ),
        (_with_tiers({"list": [[0, "0.06"]]}), 400, "INVALID_TIERS"),  # bands missing
        (_with_tiers({**PLAN["tiers"]["national"], "strategic": [[0, "0.0700"]]}), 422, "BAND_ORDER"),
        ({**PLAN, "tiers": {"mars": PLAN["tiers"]["national"]}}, 400, "INVALID_TIERS"),
        (_with_tiers({**PLAN["tiers"]["national"], "list": [["x", "0.06"]]}), 400, "INVALID_ARGUMENT"),
    ],
)
async def test_price_plan_bad_input(
    api: httpx.AsyncClient, seeded: None, auth: Any, payload: dict[str, Any], status: int, code: str
) -> None:
    err(
        await api.post("/api/v1/products/sms-standard/price-plans", json=payload, headers=auth.operator),
        status,
        code,
    )
    r = await api.get("/api/v1/products/sms-standard/price-plans", headers=auth.operator)
    assert len(r.json()) == 1 and r.json()[0]["validTo"] is None


async def test_partner_cannot_change_catalog(
    api: httpx.AsyncClient, seeded: None, auth: Any, make_partner: Any
) -> None:
    ap = await make_partner("AP")
    h = auth.partner(ap.id)
    err(await api.post("/api/v1/products", json=NEW_PRODUCT, headers=h), 403, "PERMISSION_DENIED")
    err(await api.patch("/api/v1/products/sms-standard", json={"status": "retired"}, headers=h), 403)
    err(await api.post("/api/v1/products/sms-standard/price-plans", json=PLAN, headers=h), 403)
    r = await api.get("/api/v1/products", headers=h)
    assert r.json()["total"] == 3


async def test_orders_flow(api: httpx.AsyncClient, seeded: None, auth: Any, make_partner: Any) -> None:
    ap = await make_partner("AP")
    other = await make_partner("AP")
    h = auth.partner(ap.id)
    r = await api.post("/api/v1/orders", json={"productId": "sms-standard"}, headers=h)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["state"] == "completed" and order["active"] is True and order["partnerId"] == ap.id
    err(await api.post("/api/v1/orders", json={"productId": "sms-standard"}, headers=h), 409, "ORDER_EXISTS")
    r = await api.get(f"/api/v1/orders/{order['id']}", headers=h)
    assert r.json()["id"] == order["id"]
    r = await api.get("/api/v1/orders", headers=h)
    assert r.json()["total"] == 1
    # another partner's view: the order does not exist
    h2 = auth.partner(other.id)
    err(await api.get(f"/api/v1/orders/{order['id']}", headers=h2), 404)
    err(await api.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=h2), 404)
    err(await api.get("/api/v1/orders", headers=h2, params={"partner_id": ap.id}), 404)
    err(
        await api.post("/api/v1/orders", json={"productId": "mms-standard", "partnerId": ap.id}, headers=h2),
        404,
    )
    assert (await api.get("/api/v1/orders", headers=h2)).json()["total"] == 0
    # operator on behalf of a partner
    r = await api.post(
        "/api/v1/orders", json={"productId": "voice-notify", "partnerId": other.id}, headers=auth.operator
    )
    assert r.status_code == 201 and r.json()["partnerId"] == other.id
    r = await api.get(
        "/api/v1/orders", headers=auth.operator, params={"state": "completed", "active": "true"}
    )
    assert r.json()["total"] == 2
    # cancel
    r = await api.post(f"/api/v1/orders/{order['id']}/cancel", json={"reason": "done"}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "cancelled" and r.json()["active"] is False
    err(await api.post(f"/api/v1/orders/{order['id']}/cancel", headers=h), 409, "ORDER_CANCELLED")
    r = await api.post("/api/v1/orders", json={"productId": "sms-standard"}, headers=h)
    assert r.status_code == 201


async def test_order_bad_input(api: httpx.AsyncClient, seeded: None, auth: Any, make_partner: Any) -> None:
    ap = await make_partner("AP")
    pending = await make_partner("SI", status="pending")
    suspended = await make_partner("AP", status="suspended")
    h = auth.partner(ap.id)
    err(await api.post("/api/v1/orders", json={}, headers=h), 400, "INVALID_ARGUMENT")
    err(await api.post("/api/v1/orders", json={"productId": 5}, headers=h), 400)
    err(await api.post("/api/v1/orders", json={"productId": ""}, headers=h), 400)
    err(await api.post("/api/v1/orders", json={"productId": "nope"}, headers=h), 404)
    err(await api.post("/api/v1/orders", json={"productId": "sms-standard"}, headers=auth.operator), 400)
    err(
        await api.post(
            "/api/v1/orders",
            json={"productId": "sms-standard", "partnerId": "ptn_none"},
            headers=auth.operator,
        ),
        404,
    )
    err(
        await api.post(
            "/api/v1/orders", json={"productId": "sms-standard"}, headers=auth.partner(pending.id)
        ),
        422,
        "PARTNER_PENDING",
    )
    err(
        await api.post(
            "/api/v1/orders", json={"productId": "sms-standard"}, headers=auth.partner(suspended.id)
        ),
        403,
        "PARTNER_SUSPENDED",
    )
    err(await api.get("/api/v1/orders/ord_missing", headers=h), 404)
    err(await api.post("/api/v1/orders/ord_missing/cancel", headers=h), 404)
    err(await api.get("/api/v1/orders", headers=h, params={"state": "weird"}), 400)
    assert (await api.get("/api/v1/orders", headers=auth.operator)).json()["total"] == 0


async def test_order_unpriced_product_422_no_price_plan(
    api: httpx.AsyncClient, seeded: None, auth: Any, make_partner: Any
) -> None:
    # NO_PRICE_PLAN has one status across the API (422), the same as on a capability call.
    ap = await make_partner("AP")
    r = await api.post("/api/v1/products", json={**NEW_PRODUCT, "audience": "all"}, headers=auth.operator)
    assert r.status_code == 201, r.text
    b = err(
        await api.post("/api/v1/orders", json={"productId": "sms-marketing"}, headers=auth.partner(ap.id)),
        422,
        "NO_PRICE_PLAN",
    )
    assert "sms-marketing" in b["message"]
    assert (await api.get("/api/v1/orders", headers=auth.operator)).json()["total"] == 0


# Money strictness (DESIGN.md "Money": a price is a plain decimal string; no rule ID covers it).
@pytest.mark.parametrize("price", ["5E-2", "0.0_4", "０.05", "+0.05", " 0.05"])
async def test_price_not_plain_decimal_is_refused(
    api: httpx.AsyncClient, seeded: None, auth: Any, container: Any, price: str
) -> None:
    async def counts() -> tuple[int, int]:
        async with container.uow() as uow:
            plans = await uow.session.scalar(select(func.count()).select_from(PricePlan))
            tiers = await uow.session.scalar(select(func.count()).select_from(PriceTier))
            return int(plans or 0), int(tiers or 0)

    before = await counts()
    payload = _with_tiers({**PLAN["tiers"]["national"], "list": [[0, price], [100000, "0.0550"]]})
    url = "/api/v1/products/sms-standard/price-plans"
    b = err(await api.post(url, json=payload, headers=auth.operator), 400, "INVALID_TIERS")
    assert b["message"].startswith(f"national.list[0]: not a decimal price: {price!r}")
    assert 'like "0.0500"' in b["message"]
    # nothing written: no new price version, and version 1 stays open
    assert await counts() == before
    r = await api.get(url, headers=auth.operator)
    assert len(r.json()) == 1 and r.json()[0]["validTo"] is None
