"""Catalog use cases: seed, products, price versions (R-PRICE-01..03), orders (TMF states)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.bootstrap import Container
from openability.catalog import rules, service
from openability.catalog.models import Capability, PricePlan, PriceTier, Product, ProductOrder
from openability.catalog.schemas import ProductCreate, ProductUpdate
from openability.catalog.seed import SEED_VALID_FROM, seed_catalog
from openability.catalog.types import OrderState, ProductStatus
from openability.kernel.audit import AuditEntry
from openability.kernel.clock import SHANGHAI
from openability.kernel.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from openability.kernel.events import CATALOG_CHANGED, ORDER_CHANGED
from openability.kernel.uow import Actor

D = Decimal
PM = Actor(type="operator", id="op_pm", roles=frozenset({"product_manager"}))
CLERK = Actor(type="operator", id="op_clerk", roles=frozenset({"billing_clerk"}))


def partner_actor(pid: str) -> Actor:
    return Actor(type="partner_user", id="pu_" + pid, partner_id=pid)


def flat_plan(prices: dict[str, str]) -> dict[tuple[str, str], list[tuple[int, str]]]:
    return {("national", b): [(0, p)] for b, p in prices.items()}


PLAN_V2 = flat_plan({"list": "0.0600", "certified": "0.0550", "close": "0.0500", "strategic": "0.0450"})


async def count(container: Container, model: Any) -> int:
    async with container.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def audits(container: Container, action: str) -> list[AuditEntry]:
    async with container.uow() as uow:
        return list((await uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


# ---- seed ----


async def test_seed_is_idempotent(container: Container, seeded: None) -> None:
    async with container.uow() as uow:
        await seed_catalog(uow)
    assert await count(container, Capability) == 3
    assert await count(container, Product) == 3
    assert await count(container, PricePlan) == 3
    # SMS: 4 bands x 3 tiers x 2 scopes; MMS and voice: 4 bands x 1 tier, national only
    assert await count(container, PriceTier) == 24 + 4 + 4


async def test_seed_capabilities_and_products(container: Container, seeded: None) -> None:
    async with container.uow() as uow:
        caps = {c.code: c for c in await service.list_capabilities(uow)}
        assert caps["sms"].network_element == "smpp"
        assert caps["mms"].network_element == "mms-sim"
        assert caps["voice"].network_element == "voice-sim"
        assert caps["sms"].name_zh == "短信"
        assert caps["sms"].operations[0]["path"] == "/capabilities/sms/v1/messages"
        sms = await service.get_product(uow, "sms-standard")
        assert (sms.unit, sms.rate_limit_per_second, sms.capability_code) == ("segment", 200, "sms")
        mms = await service.get_product(uow, "mms-standard")
        assert (mms.unit, mms.rate_limit_per_second) == ("message", 50)
        voice = await service.get_product(uow, "voice-notify")
        assert (voice.unit, voice.rate_limit_per_second) == ("minute", 20)


@pytest.mark.parametrize(
    ("product", "scope", "band", "expected"),
    [
        ("sms-standard", "national", "list", [(0, "0.0500"), (100000, "0.0450"), (1000000, "0.0400")]),
        ("sms-standard", "national", "certified", [(0, "0.0480"), (100000, "0.0430"), (1000000, "0.0380")]),
        ("sms-standard", "national", "close", [(0, "0.0460"), (100000, "0.0410"), (1000000, "0.0360")]),
        ("sms-standard", "national", "strategic", [(0, "0.0440"), (100000, "0.0390"), (1000000, "0.0340")]),
        ("sms-standard", "local", "list", [(0, "0.0490"), (100000, "0.0440"), (1000000, "0.0390")]),
        ("sms-standard", "local", "strategic", [(0, "0.0430"), (100000, "0.0380"), (1000000, "0.0330")]),
        ("mms-standard", "national", "list", [(0, "0.3000")]),
        ("mms-standard", "local", "close", [(0, "0.2800")]),  # no local list: national applies
        ("voice-notify", "national", "certified", [(0, "0.1450")]),
        ("voice-notify", "national", "strategic", [(0, "0.1350")]),
    ],
)
async def test_r_price_01_seed_prices(
    container: Container, seeded: None, product: str, scope: str, band: str, expected: list[tuple[int, str]]
) -> None:
    async with container.uow() as uow:
        p = await service.get_product(uow, product)
        plan, tiers = await service.resolve_price(uow.session, p.id, uow.now, scope, band)
    assert plan.version == 1
    assert plan.valid_from == SEED_VALID_FROM.astimezone(UTC)
    assert tiers == [(v, D(x)) for v, x in expected]


async def test_r_price_03_no_price_before_first_version(container: Container, seeded: None) -> None:
    async with container.uow() as uow:
        p = await service.get_product(uow, "sms-standard")
        with pytest.raises(RuleViolation) as exc:
            await service.resolve_price(
                uow.session, p.id, datetime(2025, 12, 31, tzinfo=SHANGHAI), "national", "list"
            )
    # One status per code across the API: 422, as when ordering an unpriced product.
    assert exc.value.code == "NO_PRICE_PLAN" and exc.value.status == 422


# ---- products ----


def sms_cmd(code: str = "sms-bulk", **kw: Any) -> ProductCreate:
    data: dict[str, Any] = {
        "code": code,
        "capability": "sms",
        "nameZh": "批量短信",
        "nameEn": "Bulk SMS",
        "unit": "segment",
        "rateLimitPerSecond": 500,
    }
    data.update(kw)
    return ProductCreate.model_validate(data)


async def test_create_product_audited_and_published(
    container: Container, seeded: None, events: Callable[[str], list[str]]
) -> None:
    seen = events(CATALOG_CHANGED)
    async with container.uow(PM) as uow:
        p = await service.create_product(uow, sms_cmd(audience="SI"))
    assert seen == [p.id]
    rows = await audits(container, "product.created")
    mine = [a for a in rows if a.entity_id == p.id]
    assert mine[0].actor_id == "op_pm"
    assert mine[0].after is not None and mine[0].after["rate_limit_per_second"] == 500


async def test_create_product_refusals(container: Container, seeded: None) -> None:
    async with container.uow(PM) as uow:
        with pytest.raises(Conflict) as exc:
            await service.create_product(uow, sms_cmd("sms-standard"))
        assert exc.value.code == "PRODUCT_CODE_TAKEN"
    async with container.uow(PM) as uow:
        with pytest.raises(NotFound):
            await service.create_product(uow, sms_cmd(capability="fax"))
    async with container.uow(CLERK) as uow:
        with pytest.raises(PermissionDenied):
            await service.create_product(uow, sms_cmd())
    async with container.uow(partner_actor("ptn_x")) as uow:
        with pytest.raises(PermissionDenied):
            await service.create_product(uow, sms_cmd())
    assert await count(container, Product) == 3


async def test_update_product_records_before_and_after(container: Container, seeded: None) -> None:
    async with container.uow(PM) as uow:
        p = await service.update_product(
            uow, "sms-standard", ProductUpdate(rate_limit_per_second=300, status=ProductStatus.ACTIVE)
        )
    assert p.rate_limit_per_second == 300
    row = (await audits(container, "product.updated"))[0]
    assert row.before is not None and row.before["rate_limit_per_second"] == 200
    assert row.after is not None and row.after["rate_limit_per_second"] == 300
    # no change: no audit row
    async with container.uow(PM) as uow:
        await service.update_product(uow, "sms-standard", ProductUpdate(rate_limit_per_second=300))
    assert len(await audits(container, "product.updated")) == 1


async def test_partners_see_only_active_products_for_their_kind(
    container: Container, seeded: None, make_partner: Any
) -> None:
    ap = await make_partner("AP")
    async with container.uow(PM) as uow:
        await service.create_product(uow, sms_cmd("si-only", audience="SI"))
        await service.create_product(uow, sms_cmd("draft-one", status="draft"))
    async with container.uow(partner_actor(ap.id)) as uow:
        rows, total = await service.list_products(uow)
        assert {p.code for p in rows} == {"sms-standard", "mms-standard", "voice-notify"}
        assert total == 3
        with pytest.raises(NotFound):
            await service.get_product(uow, "draft-one")
    async with container.uow(PM) as uow:
        _, total = await service.list_products(uow)
        assert total == 5


# ---- R-PRICE-03 versions ----


async def test_r_price_03_new_version_closes_previous(
    container: Container, seeded: None, clock: Any, events: Callable[[str], list[str]]
) -> None:
    seen = events(CATALOG_CHANGED)
    start = datetime(2027, 1, 1, tzinfo=SHANGHAI)
    async with container.uow(PM) as uow:
        v2 = await service.create_price_plan(uow, "sms-standard", start, PLAN_V2, "2027 prices")
    assert v2.version == 2 and v2.valid_to is None
    assert seen == [v2.product_id]
    async with container.uow() as uow:
        plans = await service.list_price_plans(uow, "sms-standard")
        assert [p.version for p, _ in plans] == [1, 2]
        assert plans[0][0].valid_to == start.astimezone(UTC)
        pid = v2.product_id
        before = await service.resolve_price(
            uow.session, pid, start - timedelta(microseconds=1), "national", "list"
        )
        after = await service.resolve_price(uow.session, pid, start, "national", "list")
    assert before[0].version == 1 and before[1][0] == (0, D("0.0500"))
    assert after[0].version == 2 and after[1] == [(0, D("0.0600"))]
    # a local partner falls back to the national list of v2, which has no local scope
    async with container.uow() as uow:
        local = await service.resolve_price(uow.session, pid, start, "local", "close")
    assert local[1] == [(0, D("0.0500"))]
    assert {a.action for a in await audits(container, "price_plan.closed")} == {"price_plan.closed"}


async def test_r_price_03_third_version_and_order_of_starts(container: Container, seeded: None) -> None:
    start = datetime(2027, 1, 1, tzinfo=SHANGHAI)
    async with container.uow(PM) as uow:
        await service.create_price_plan(uow, "mms-standard", start, PLAN_V2)
    async with container.uow(PM) as uow:
        with pytest.raises(RuleViolation) as exc:
            await service.create_price_plan(uow, "mms-standard", start - timedelta(days=1), PLAN_V2)
    assert exc.value.code == "VALID_FROM_BEFORE_LATEST"
    async with container.uow(PM) as uow:
        v3 = await service.create_price_plan(uow, "mms-standard", start + timedelta(days=31), PLAN_V2)
    assert v3.version == 3
    async with container.uow() as uow:
        plans = [p for p, _ in await service.list_price_plans(uow, "mms-standard")]
    assert plans[1].valid_to == v3.valid_from
    assert plans[0].valid_to == plans[1].valid_from


async def test_r_price_03_version_cannot_start_in_the_past(
    container: Container, seeded: None, clock: Any
) -> None:
    async with container.uow(PM) as uow:
        with pytest.raises(RuleViolation) as exc:
            await service.create_price_plan(uow, "sms-standard", clock.now() - timedelta(minutes=1), PLAN_V2)
    assert exc.value.code == "VALID_FROM_IN_PAST"
    assert await count(container, PricePlan) == 3


async def test_price_plan_refusals_leave_nothing(container: Container, seeded: None, clock: Any) -> None:
    start = clock.now() + timedelta(days=1)
    bad_order = flat_plan({"list": "0.0500", "certified": "0.0480", "close": "0.0490", "strategic": "0.0400"})
    async with container.uow(PM) as uow:
        with pytest.raises(RuleViolation, match="R-PRICE-02"):
            await service.create_price_plan(uow, "sms-standard", start, bad_order)
    async with container.uow(PM) as uow:
        with pytest.raises(NotFound):
            await service.create_price_plan(uow, "nope", start, PLAN_V2)
    async with container.uow(CLERK) as uow:
        with pytest.raises(PermissionDenied):
            await service.create_price_plan(uow, "sms-standard", start, PLAN_V2)
    assert await count(container, PricePlan) == 3
    async with container.uow() as uow:
        p = await service.get_product(uow, "sms-standard")
        plan = await service.plan_at(uow.session, p.id, start + timedelta(days=400))
    assert plan is not None and plan.valid_to is None and plan.version == 1


# ---- orders ----


async def test_order_completes_at_once_audited_and_published(
    container: Container, seeded: None, make_partner: Any, events: Callable[[str], list[str]]
) -> None:
    ap = await make_partner("AP")
    seen = events(ORDER_CHANGED)
    async with container.uow(partner_actor(ap.id)) as uow:
        order = await service.place_order(uow, ap.id, "sms-standard")
    assert order.state == OrderState.COMPLETED and order.active
    assert order.completed_at is not None
    assert seen == [ap.id]
    acked = [a for a in await audits(container, "order.acknowledged") if a.entity_id == order.id]
    done = [a for a in await audits(container, "order.completed") if a.entity_id == order.id]
    assert acked[0].after is not None and acked[0].after["state"] == "acknowledged"
    assert done[0].before is not None and done[0].before["state"] == "acknowledged"
    assert done[0].after is not None and done[0].after["state"] == "completed"
    assert done[0].partner_id == ap.id


async def test_one_active_order_per_product(container: Container, seeded: None, make_partner: Any) -> None:
    ap = await make_partner("AP")
    async with container.uow(partner_actor(ap.id)) as uow:
        first = await service.place_order(uow, ap.id, "sms-standard")
    async with container.uow(partner_actor(ap.id)) as uow:
        with pytest.raises(Conflict) as exc:
            await service.place_order(uow, ap.id, "sms-standard")
    assert exc.value.code == "ORDER_EXISTS" and exc.value.status == 409
    async with container.uow(partner_actor(ap.id)) as uow:
        cancelled = await service.cancel_order(uow, first.id, "no longer needed")
    assert cancelled.state == OrderState.CANCELLED and not cancelled.active
    async with container.uow(partner_actor(ap.id)) as uow:
        again = await service.place_order(uow, ap.id, "sms-standard")
        with pytest.raises(Conflict):
            await service.cancel_order(uow, first.id)
    assert again.active
    assert await count(container, ProductOrder) == 2


@pytest.mark.parametrize(
    ("status", "code"),
    [("pending", "PARTNER_PENDING"), ("suspended", "PARTNER_SUSPENDED"), ("exited", "PARTNER_EXITED")],
)
async def test_order_refused_unless_partner_active(
    container: Container, seeded: None, make_partner: Any, status: str, code: str
) -> None:
    si = await make_partner("SI", status=status)
    async with container.uow() as uow:
        with pytest.raises(Exception) as exc:
            await service.place_order(uow, si.id, "sms-standard")
    assert getattr(exc.value, "code", None) == code
    assert await count(container, ProductOrder) == 0


async def test_order_refused_for_audience_draft_and_unpriced(
    container: Container, seeded: None, make_partner: Any
) -> None:
    ap = await make_partner("AP")
    async with container.uow(PM) as uow:
        await service.create_product(uow, sms_cmd("si-only", audience="SI"))
        await service.create_product(uow, sms_cmd("unpriced"))
        await service.create_product(uow, sms_cmd("retired-one", status="retired"))
        await service.create_price_plan(uow, "si-only", uow.now, PLAN_V2)
    cases = [
        ("si-only", "AUDIENCE_MISMATCH"),
        ("unpriced", "NO_PRICE_PLAN"),
        ("retired-one", "PRODUCT_NOT_AVAILABLE"),
    ]
    for ref, code in cases:
        async with container.uow() as uow:
            with pytest.raises(RuleViolation) as exc:
                await service.place_order(uow, ap.id, ref)
        assert exc.value.code == code
    async with container.uow() as uow:
        with pytest.raises(NotFound):
            await service.place_order(uow, ap.id, "missing-product")
        with pytest.raises(NotFound):
            await service.place_order(uow, "ptn_missing", "sms-standard")
    si = await make_partner("SI", tier="close")
    async with container.uow() as uow:
        order = await service.place_order(uow, si.id, "si-only")
    assert order.active
    assert rules.band_for(si.kind.value, si.tier.value if si.tier else None) == "close"


async def test_partner_cannot_order_or_see_for_another(
    container: Container, seeded: None, make_partner: Any
) -> None:
    a = await make_partner("AP")
    b = await make_partner("AP")
    async with container.uow() as uow:
        b_order = await service.place_order(uow, b.id, "sms-standard")
        await service.place_order(uow, a.id, "mms-standard")
    async with container.uow(partner_actor(a.id)) as uow:
        with pytest.raises(NotFound):
            await service.place_order(uow, b.id, "voice-notify")
        with pytest.raises(NotFound):
            await service.get_order(uow, b_order.id)
        with pytest.raises(NotFound):
            await service.cancel_order(uow, b_order.id)
        rows, total = await service.list_orders(uow)
        assert total == 1 and rows[0].partner_id == a.id
        with pytest.raises(NotFound):
            await service.list_orders(uow, partner_id=b.id)
    async with container.uow(PM) as uow:
        _, total = await service.list_orders(uow)
        assert total == 2
        _, total = await service.list_orders(uow, partner_id=b.id, active=True, state=OrderState.COMPLETED)
        assert total == 1
    async with container.uow(CLERK) as uow:
        with pytest.raises(PermissionDenied):
            await service.place_order(uow, a.id, "voice-notify")
