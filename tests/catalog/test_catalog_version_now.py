"""A price version may start now: valid from the moment it is created, the previous version closed at
that moment; a start a few seconds behind the server clock counts as now, an earlier one is refused.
Also the catalog's current-price query (the operator's catalog page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from openability.bootstrap import Container
from openability.catalog import rules, service
from openability.kernel.errors import RuleViolation
from openability.kernel.uow import Actor

D = Decimal
PM = Actor(type="operator", id="op_pm", roles=frozenset({"product_manager"}))
PLAN_V2 = {
    ("national", b): [(0, p)]
    for b, p in {"list": "0.0600", "certified": "0.0550", "close": "0.0500", "strategic": "0.0450"}.items()
}
API_PLAN = {
    "note": "now",
    "tiers": {"national": {b: [[0, p]] for (_s, b), ((_v, p),) in PLAN_V2.items()}},
}


def _utc(dt: datetime | None) -> datetime:
    assert dt is not None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


async def test_r_price_03_version_from_now_rates_from_that_moment(
    container: Container, seeded: None, clock: Any
) -> None:
    now = clock.now()
    async with container.uow(PM) as uow:
        v2 = await service.create_price_plan(uow, "sms-standard", None, PLAN_V2, "at once")
    assert v2.version == 2 and _utc(v2.valid_from) == now
    async with container.uow() as uow:
        plans = await service.list_price_plans(uow, "sms-standard")
        assert _utc(plans[0][0].valid_to) == now  # v1 ends where v2 begins
        before = await service.resolve_price(
            uow.session, v2.product_id, now - timedelta(microseconds=1), "national", "list"
        )
        at = await service.resolve_price(uow.session, v2.product_id, now, "national", "list")
    assert before[0].version == 1 and before[1][0] == (0, D("0.0500"))
    assert at[0].version == 2 and at[1] == [(0, D("0.0600"))]


async def test_start_a_moment_behind_the_clock_counts_as_now(
    container: Container, seeded: None, clock: Any
) -> None:
    now = clock.now()
    async with container.uow(PM) as uow:
        v2 = await service.create_price_plan(uow, "mms-standard", now - timedelta(seconds=30), PLAN_V2)
    assert _utc(v2.valid_from) == now  # never earlier than the moment of creation
    async with container.uow(PM) as uow:
        with pytest.raises(RuleViolation) as exc:
            await service.create_price_plan(uow, "voice-notify", now - rules.VALID_FROM_SKEW, PLAN_V2)
    assert exc.value.code == "VALID_FROM_IN_PAST"


async def test_api_price_version_without_valid_from_starts_now(
    api: httpx.AsyncClient, seeded: None, auth: Any, clock: Any
) -> None:
    now = clock.now()
    r = await api.post("/api/v1/products/sms-standard/price-plans", json=API_PLAN, headers=auth.operator)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and datetime.fromisoformat(r.json()["validFrom"]) == now
    # a second "now" in the same instant would not follow the latest start
    r = await api.post("/api/v1/products/sms-standard/price-plans", json=API_PLAN, headers=auth.operator)
    assert r.status_code == 422 and r.json()["code"] == "VALID_FROM_BEFORE_LATEST"
    lagging = API_PLAN | {"validFrom": (now - timedelta(seconds=10)).isoformat()}
    r = await api.post("/api/v1/products/mms-standard/price-plans", json=lagging, headers=auth.operator)
    assert r.status_code == 201 and datetime.fromisoformat(r.json()["validFrom"]) == now
    past = API_PLAN | {"validFrom": (now - timedelta(minutes=2)).isoformat()}
    r = await api.post("/api/v1/products/voice-notify/price-plans", json=past, headers=auth.operator)
    assert r.status_code == 422 and r.json()["code"] == "VALID_FROM_IN_PAST"


async def test_current_prices(container: Container, seeded: None, clock: Any) -> None:
    later = clock.now() + timedelta(days=3)
    async with container.uow(PM) as uow:
        await service.create_price_plan(uow, "sms-standard", later, PLAN_V2)
    async with container.uow(PM) as uow:
        products, _ = await service.list_products(uow)
        by_code = {p.code: p.id for p in products}
        now_prices = await service.current_prices(uow, list(by_code.values()))
    sms = now_prices[by_code["sms-standard"]]
    assert (sms.version, sms.list_price) == (1, D("0.0500"))  # v2 is not in force yet
    assert now_prices[by_code["voice-notify"]].list_price == D("0.1500")
    clock.advance(timedelta(days=3))
    async with container.uow(PM) as uow:
        sms = (await service.current_prices(uow, [by_code["sms-standard"]]))[by_code["sms-standard"]]
        assert await service.current_prices(uow, []) == {}
    assert (sms.version, sms.list_price) == (2, D("0.0600"))
