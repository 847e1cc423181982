"""Catalog use cases: capabilities, products, versioned price plans, product orders (TMF states).

Each function takes the caller's unit of work and never commits. Visibility is enforced here, not
only at the HTTP edge, so the CLI, jobs and other domains get the same answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from openability.catalog import rules
from openability.catalog.models import Capability, PricePlan, PriceTier, Product, ProductOrder
from openability.catalog.schemas import ProductCreate, ProductUpdate
from openability.catalog.types import (
    Audience,
    CurrentPrice,
    OrderRef,
    OrderState,
    PlanVersion,
    ProductLabel,
    ProductRating,
    ProductStatus,
)
from openability.kernel import access
from openability.kernel.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    RuleViolation,
    Suspended,
)
from openability.kernel.events import CATALOG_CHANGED, ORDER_CHANGED
from openability.kernel.ids import new_id
from openability.kernel.rawpg import PgQuery
from openability.kernel.uow import UnitOfWork
from openability.partners import service as partners
from openability.partners.types import PartnerStatus

CATALOG_ROLES = ("admin", "product_manager")
# Operators who may place or cancel an order on a partner's behalf (e.g. from a business-request ticket).
ORDER_ROLES = ("admin", "product_manager", "service_agent", "service_lead")


# ---- access helpers ----


# ---- capabilities and products ----


async def list_capabilities(uow: UnitOfWork) -> list[Capability]:
    return list((await uow.session.scalars(select(Capability).order_by(Capability.code))).all())


async def get_capability(uow: UnitOfWork, code: str) -> Capability:
    cap = await uow.session.get(Capability, code)
    if cap is None:
        raise NotFound(f"capability {code} not found")
    return cap


async def _find_product(session: AsyncSession, product_ref: str, *, lock: bool = False) -> Product | None:
    stmt = select(Product).where(or_(Product.id == product_ref, Product.code == product_ref))
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def get_product(uow: UnitOfWork, product_ref: str) -> Product:
    """A product by id or code. Partners do not see draft products."""
    p = await _find_product(uow.session, product_ref)
    if p is None or ((not access.is_staff(uow.actor)) and p.status == ProductStatus.DRAFT):
        raise NotFound(f"product {product_ref} not found")
    return p


async def list_products(
    uow: UnitOfWork,
    *,
    capability: str | None = None,
    status: ProductStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Product], int]:
    """Operators see every product; partners only active products their kind may order."""
    offset, limit = access.page(offset, limit)
    stmt = select(Product)
    if capability:
        stmt = stmt.where(Product.capability_code == capability)
    if status is not None:
        stmt = stmt.where(Product.status == status)
    if not access.is_staff(uow.actor):
        kind = None
        if uow.actor.partner_id:
            found = await partners.find_partner_ref(uow, uow.actor.partner_id)
            kind = found.kind if found is not None else None
        audiences = [Audience.ALL] + ([Audience(kind.value)] if kind is not None else [])
        stmt = stmt.where(Product.status == ProductStatus.ACTIVE, Product.audience.in_(audiences))
    total = await uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (await uow.session.scalars(stmt.order_by(Product.code).offset(offset).limit(limit))).all()
    return list(rows), int(total)


def _product_snapshot(p: Product) -> dict[str, Any]:
    return {
        "code": p.code,
        "capability": p.capability_code,
        "name_zh": p.name_zh,
        "name_en": p.name_en,
        "description": p.description,
        "unit": p.unit,
        "audience": p.audience,
        "rate_limit_per_second": p.rate_limit_per_second,
        "status": p.status,
    }


async def create_product(uow: UnitOfWork, cmd: ProductCreate) -> Product:
    access.require_staff(uow.actor, *CATALOG_ROLES)
    await get_capability(uow, cmd.capability)
    if await uow.session.scalar(select(Product.id).where(Product.code == cmd.code)) is not None:
        raise Conflict(f"product code {cmd.code} is taken", code="PRODUCT_CODE_TAKEN")
    p = Product(
        id=new_id("prd"),
        code=cmd.code,
        capability_code=cmd.capability,
        name_zh=cmd.name_zh,
        name_en=cmd.name_en,
        description=cmd.description,
        unit=cmd.unit,
        audience=cmd.audience,
        rate_limit_per_second=cmd.rate_limit_per_second,
        status=cmd.status,
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(p)
    await uow.session.flush()
    uow.audit("product.created", ("product", p.id), after=_product_snapshot(p))
    uow.publish(CATALOG_CHANGED, p.id)
    return p


async def update_product(uow: UnitOfWork, product_ref: str, cmd: ProductUpdate) -> Product:
    access.require_staff(uow.actor, *CATALOG_ROLES)
    p = await _find_product(uow.session, product_ref, lock=True)
    if p is None:
        raise NotFound(f"product {product_ref} not found")
    before = _product_snapshot(p)
    changes = cmd.model_dump(exclude_unset=True, by_alias=False)
    for field, value in changes.items():
        if value is None:
            continue  # null means "leave as is"
        setattr(p, field, value)
    after = _product_snapshot(p)
    if after == before:
        return p
    p.updated_at = uow.now
    await uow.session.flush()
    uow.audit("product.updated", ("product", p.id), before=before, after=after)
    uow.publish(CATALOG_CHANGED, p.id)
    return p


# ---- price plans ----


async def create_price_plan(
    uow: UnitOfWork,
    product_ref: str,
    valid_from: datetime | None,
    tiers: Mapping[tuple[str, str], Sequence[tuple[Any, Any]]],
    note: str = "",
) -> PricePlan:
    """A new price version (R-PRICE-03): version = max + 1, starting now (`valid_from` None, or less
    than rules.VALID_FROM_SKEW in the past) or later; the previous open version ends where this one
    starts. Operators (admin, product_manager) only."""
    access.require_staff(uow.actor, *CATALOG_ROLES)
    return await _insert_price_plan(uow, product_ref, valid_from, tiers, note, check_start=True)


async def _insert_price_plan(
    uow: UnitOfWork,
    product_ref: str,
    valid_from: datetime | None,
    tiers: Mapping[tuple[str, str], Sequence[tuple[Any, Any]]],
    note: str,
    *,
    check_start: bool,
) -> PricePlan:
    if valid_from is None:
        valid_from = uow.now
    if valid_from.tzinfo is None:
        raise InvalidArgument("valid_from needs a time zone", code="INVALID_VALID_FROM")
    valid_from = valid_from.astimezone(UTC)
    clean = rules.validate_plan_tiers(tiers)
    # Locking the product row serializes version numbering per product.
    product = await _find_product(uow.session, product_ref, lock=True)
    if product is None:
        raise NotFound(f"product {product_ref} not found")
    plans = (
        await uow.session.scalars(
            select(PricePlan).where(PricePlan.product_id == product.id).order_by(PricePlan.version)
        )
    ).all()
    latest = plans[-1] if plans else None
    if check_start:
        latest_from = latest.valid_from if latest else None
        valid_from = rules.new_version_start(valid_from, uow.now, latest_from).astimezone(UTC)
    elif latest is not None and valid_from <= latest.valid_from:
        raise RuleViolation(
            "a new price version must start after the latest one", code="VALID_FROM_BEFORE_LATEST"
        )
    for prev in plans:
        if prev.valid_to is None or prev.valid_to > valid_from:
            before = {"valid_to": prev.valid_to}
            prev.valid_to = valid_from
            uow.audit(
                "price_plan.closed",
                ("price_plan", prev.id),
                before=before,
                after={"valid_to": valid_from, "version": prev.version},
            )
    plan = PricePlan(
        id=new_id("pp"),
        product_id=product.id,
        version=(latest.version if latest else 0) + 1,
        valid_from=valid_from,
        valid_to=None,
        note=note,
        created_by=uow.actor.id,
        created_at=uow.now,
    )
    uow.session.add(plan)
    await uow.session.flush()
    for (scope, band), lst in clean.items():
        for from_volume, price in lst:
            uow.session.add(
                PriceTier(plan_id=plan.id, scope=scope, band=band, from_volume=from_volume, unit_price=price)
            )
    await uow.session.flush()
    uow.audit(
        "price_plan.created",
        ("price_plan", plan.id),
        after={
            "product": product.code,
            "version": plan.version,
            "valid_from": valid_from,
            "tiers": {f"{s}.{b}": [[v, str(p)] for v, p in lst] for (s, b), lst in sorted(clean.items())},
        },
        note=note or None,
    )
    uow.publish(CATALOG_CHANGED, product.id)
    return plan


async def list_price_plans(uow: UnitOfWork, product_ref: str) -> list[tuple[PricePlan, list[PriceTier]]]:
    product = await get_product(uow, product_ref)
    plans = (
        await uow.session.scalars(
            select(PricePlan).where(PricePlan.product_id == product.id).order_by(PricePlan.version)
        )
    ).all()
    if not plans:
        return []
    tiers = (
        await uow.session.scalars(select(PriceTier).where(PriceTier.plan_id.in_([p.id for p in plans])))
    ).all()
    by_plan: dict[str, list[PriceTier]] = {p.id: [] for p in plans}
    for t in tiers:
        by_plan[t.plan_id].append(t)
    return [(p, by_plan[p.id]) for p in plans]


async def current_prices(uow: UnitOfWork, product_ids: Sequence[str]) -> dict[str, CurrentPrice]:
    """Per product, the price version valid now and its national list price's first tier (what an AP
    pays from the first unit of the month); products without a current version are left out."""
    if not product_ids:
        return {}
    now = uow.now
    plans = (
        await uow.session.scalars(
            select(PricePlan).where(
                PricePlan.product_id.in_(list(product_ids)),
                PricePlan.valid_from <= now,
                or_(PricePlan.valid_to.is_(None), PricePlan.valid_to > now),
            )
        )
    ).all()
    by_product: dict[str, list[PricePlan]] = {}
    for plan in plans:
        by_product.setdefault(plan.product_id, []).append(plan)
    current = {pid: rules.version_at(ps, now) for pid, ps in by_product.items()}
    chosen = {pid: p for pid, p in current.items() if p is not None}
    rows = await uow.session.execute(
        select(PriceTier.plan_id, PriceTier.unit_price).where(
            PriceTier.plan_id.in_([p.id for p in chosen.values()]),
            PriceTier.scope == "national",
            PriceTier.band == "list",
            PriceTier.from_volume == 0,
        )
    )
    first: dict[str, Decimal] = {plan_id: price for plan_id, price in rows.all()}
    return {
        pid: CurrentPrice(version=p.version, valid_from=p.valid_from, list_price=first.get(p.id))
        for pid, p in chosen.items()
    }


async def plan_at(session: AsyncSession, product_id: str, at: datetime) -> PricePlan | None:
    """R-PRICE-03: the price version valid at instant `at`."""
    plans = (
        await session.scalars(
            select(PricePlan).where(
                PricePlan.product_id == product_id,
                PricePlan.valid_from <= at,
                or_(PricePlan.valid_to.is_(None), PricePlan.valid_to > at),
            )
        )
    ).all()
    return rules.version_at(plans, at)


async def load_plan_tiers(
    session: AsyncSession, plan_id: str
) -> dict[tuple[str, str], list[tuple[int, Decimal]]]:
    rows = (
        await session.scalars(
            select(PriceTier).where(PriceTier.plan_id == plan_id).order_by(PriceTier.from_volume)
        )
    ).all()
    out: dict[tuple[str, str], list[tuple[int, Decimal]]] = {}
    for t in rows:
        out.setdefault((t.scope, t.band), []).append((t.from_volume, t.unit_price))
    return out


async def resolve_price(
    session: AsyncSession, product_id: str, at: datetime, scope: str, band: str
) -> tuple[PricePlan, list[tuple[int, Decimal]]]:
    """The plan version valid at `at` and the tier list for the partner's scope and band
    (national when the plan has no list for the scope). For rating (charging, bill run)."""
    plan = await plan_at(session, product_id, at)
    # NO_PRICE_PLAN is one answer across the API: 422, the product cannot be used (or ordered) unpriced.
    if plan is None:
        raise RuleViolation(
            f"no price plan of product {product_id} is valid at {at.isoformat()}", code="NO_PRICE_PLAN"
        )
    tiers = await load_plan_tiers(session, plan.id)
    try:
        return plan, list(rules.tiers_for(tiers, scope, band))
    except KeyError:
        raise RuleViolation(f"price plan {plan.id} has no {band} list", code="NO_PRICE_PLAN") from None


# ---- orders ----


def _order_snapshot(o: ProductOrder) -> dict[str, Any]:
    return {"state": o.state, "active": o.active, "product_id": o.product_id}


async def place_order(uow: UnitOfWork, partner_id: str, product_ref: str, note: str = "") -> ProductOrder:
    """Order a product (TMF: acknowledged -> completed at once, since provisioning is instant).
    The partner must be active, the product active and open to the partner's kind, priced, and not
    already ordered."""
    actor = uow.actor
    if actor.is_operator:
        access.require_staff(actor, *ORDER_ROLES)
    access.check_partner_visible(actor, partner_id)
    # Locking the partner row serializes concurrent orders of one partner (one active order each).
    partner = await partners.partner_ref(uow, partner_id, lock=True)
    if partner.status in (PartnerStatus.PENDING, PartnerStatus.APPLICANT):
        raise RuleViolation(
            "the partner is not active yet (admission, contract or first payment pending)",
            code="PARTNER_PENDING",
        )
    if partner.status == PartnerStatus.SUSPENDED:
        raise Suspended("the partner is suspended: new orders are refused")
    if partner.status == PartnerStatus.EXITED:
        raise RuleViolation(
            "the partner has exited (R-EXIT-01): new orders are refused", code="PARTNER_EXITED"
        )
    product = await _find_product(uow.session, product_ref)
    if product is None or ((not access.is_staff(actor)) and product.status == ProductStatus.DRAFT):
        raise NotFound(f"product {product_ref} not found")
    if product.status != ProductStatus.ACTIVE:
        raise RuleViolation(f"product {product.code} is {product.status.value}", code="PRODUCT_NOT_AVAILABLE")
    if product.audience != Audience.ALL and product.audience.value != partner.kind.value:
        raise RuleViolation(
            f"product {product.code} is for {product.audience.value} partners only", code="AUDIENCE_MISMATCH"
        )
    priced = await uow.session.scalar(
        select(PricePlan.id)
        .where(
            PricePlan.product_id == product.id,
            or_(PricePlan.valid_to.is_(None), PricePlan.valid_to > uow.now),
        )
        .limit(1)
    )
    if priced is None:
        raise RuleViolation(f"product {product.code} has no price plan", code="NO_PRICE_PLAN")
    existing = await uow.session.scalar(
        select(ProductOrder.id).where(
            ProductOrder.partner_id == partner.id,
            ProductOrder.product_id == product.id,
            ProductOrder.active.is_(True),
        )
    )
    if existing is not None:
        raise Conflict(f"product {product.code} is already ordered ({existing})", code="ORDER_EXISTS")
    order = ProductOrder(
        id=new_id("ord"),
        partner_id=partner.id,
        product_id=product.id,
        state=OrderState.ACKNOWLEDGED,
        active=False,
        note=note,
        created_at=uow.now,
    )
    uow.session.add(order)
    await uow.session.flush()
    uow.audit(
        "order.acknowledged",
        ("product_order", order.id),
        partner_id=partner.id,
        after=_order_snapshot(order) | {"product": product.code},
    )
    before = _order_snapshot(order)
    order.state = OrderState.COMPLETED
    order.active = True
    order.completed_at = uow.now
    await uow.session.flush()
    uow.audit(
        "order.completed",
        ("product_order", order.id),
        partner_id=partner.id,
        before=before,
        after=_order_snapshot(order),
    )
    uow.publish(ORDER_CHANGED, partner.id)
    return order


async def get_order(uow: UnitOfWork, order_id: str) -> ProductOrder:
    order = await uow.session.get(ProductOrder, order_id)
    if order is None or ((not access.is_staff(uow.actor)) and order.partner_id != uow.actor.partner_id):
        raise NotFound(f"order {order_id} not found")
    return order


async def cancel_order(uow: UnitOfWork, order_id: str, reason: str = "") -> ProductOrder:
    """completed -> cancelled; the product can no longer be used (the gateway refreshes on ORDER_CHANGED)."""
    if uow.actor.is_operator:
        access.require_staff(uow.actor, *ORDER_ROLES)
    order = await get_order(uow, order_id)
    if order.state == OrderState.CANCELLED:
        raise Conflict(f"order {order_id} is already cancelled", code="ORDER_CANCELLED")
    before = _order_snapshot(order)
    order.state = OrderState.CANCELLED
    order.active = False
    order.cancelled_at = uow.now
    if reason:
        order.note = reason[:300]
    await uow.session.flush()
    uow.audit(
        "order.cancelled",
        ("product_order", order.id),
        partner_id=order.partner_id,
        before=before,
        after=_order_snapshot(order),
        note=reason or None,
    )
    uow.publish(ORDER_CHANGED, order.partner_id)
    return order


async def cancel_partner_orders(uow: UnitOfWork, partner_id: str, reason: str) -> int:
    """Cancel every active order of a partner whose cooperation ended (R-EXIT-01: the admission domain
    terminates it); the caller has checked its authority. Returns how many were cancelled."""
    orders = (
        await uow.session.scalars(
            select(ProductOrder)
            .where(ProductOrder.partner_id == partner_id, ProductOrder.active.is_(True))
            .with_for_update()
        )
    ).all()
    for order in orders:
        before = _order_snapshot(order)
        order.state, order.active, order.cancelled_at, order.note = (
            OrderState.CANCELLED,
            False,
            uow.now,
            reason[:300],
        )
        uow.audit(
            "order.cancelled",
            ("product_order", order.id),
            partner_id=partner_id,
            before=before,
            after=_order_snapshot(order),
            note=reason,
        )
    if orders:
        uow.publish(ORDER_CHANGED, partner_id)
    return len(orders)


async def list_orders(
    uow: UnitOfWork,
    *,
    partner_id: str | None = None,
    state: OrderState | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ProductOrder], int]:
    offset, limit = access.page(offset, limit)
    if not access.is_staff(uow.actor):
        if partner_id is not None:
            access.check_partner_visible(uow.actor, partner_id)
        partner_id = uow.actor.partner_id or "-"
    stmt = select(ProductOrder)
    if partner_id is not None:
        stmt = stmt.where(ProductOrder.partner_id == partner_id)
    if state is not None:
        stmt = stmt.where(ProductOrder.state == state)
    if active is not None:
        stmt = stmt.where(ProductOrder.active.is_(active))
    total = await uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (
        await uow.session.scalars(
            stmt.order_by(ProductOrder.created_at.desc(), ProductOrder.id.desc()).offset(offset).limit(limit)
        )
    ).all()
    return list(rows), int(total)


async def product_codes(session: AsyncSession, product_ids: Sequence[str]) -> dict[str, str]:
    """id -> code, for read models of other domains (usage pages, statements)."""
    if not product_ids:
        return {}
    rows = (
        await session.execute(select(Product.id, Product.code).where(Product.id.in_(list(product_ids))))
    ).all()
    return {r[0]: r[1] for r in rows}


async def product_labels(session: AsyncSession, product_ids: Sequence[str]) -> dict[str, ProductLabel]:
    """id -> code, names, capability and unit, for reports of other domains (no visibility check:
    product names are not secret)."""
    if not product_ids:
        return {}
    rows = (
        await session.execute(
            select(
                Product.id,
                Product.code,
                Product.name_zh,
                Product.name_en,
                Product.capability_code,
                Product.unit,
            ).where(Product.id.in_(list(product_ids)))
        )
    ).all()
    return {r[0]: ProductLabel(*r) for r in rows}


async def order_of_partner(uow: UnitOfWork, partner_id: str, order_id: str) -> OrderRef | None:
    """The order if it is one of the partner's, else None (no visibility check: the caller decides)."""
    o = await uow.session.get(ProductOrder, order_id)
    if o is None or o.partner_id != partner_id:
        return None
    return OrderRef(o.id, o.partner_id, o.product_id, o.state, o.active)


async def product_rating(uow: UnitOfWork, product_id: str) -> ProductRating | None:
    """The product with every price plan version and its tiers per (scope, band), for the gateway's cache."""
    prod = await uow.session.get(Product, product_id)
    if prod is None:
        return None
    plans = (await uow.session.scalars(select(PricePlan).where(PricePlan.product_id == product_id))).all()
    tiers = (
        await uow.session.scalars(
            select(PriceTier)
            .where(PriceTier.plan_id.in_([p.id for p in plans]))
            .order_by(PriceTier.from_volume)
        )
    ).all()
    by_plan: dict[str, dict[tuple[str, str], list[tuple[int, Decimal]]]] = {}
    for t in tiers:
        by_plan.setdefault(t.plan_id, {}).setdefault((t.scope, t.band), []).append(
            (t.from_volume, t.unit_price)
        )
    versions = tuple(
        PlanVersion(
            plan_id=p.id,
            version=p.version,
            valid_from=p.valid_from,
            valid_to=p.valid_to,
            tiers={k: tuple(v) for k, v in by_plan.get(p.id, {}).items()},
        )
        for p in sorted(plans, key=lambda p: p.version)
    )
    return ProductRating(
        id=prod.id,
        code=prod.code,
        capability=prod.capability_code,
        unit=prod.unit,
        rate_limit=prod.rate_limit_per_second,
        status=prod.status,
        plans=versions,
    )


async def active_order_products(uow: UnitOfWork, partner_id: str) -> list[tuple[str, str]]:
    """(capability code, product id) of the partner's active orders, oldest order first."""
    rows = await uow.session.execute(
        select(Product.capability_code, ProductOrder.product_id)
        .join(Product, Product.id == ProductOrder.product_id)
        .where(ProductOrder.partner_id == partner_id, ProductOrder.active.is_(True))
        .order_by(ProductOrder.created_at, ProductOrder.id)
    )
    return [(cap, prod) for cap, prod in rows.all()]


_ACTIVE_ORDER_PRODUCTS = (
    select(Product.capability_code, ProductOrder.product_id)
    .join(Product, Product.id == ProductOrder.product_id)
    .where(ProductOrder.partner_id == bindparam("pid"), ProductOrder.active.is_(True))
    .order_by(ProductOrder.created_at, ProductOrder.id)
)


async def active_order_products_on(conn: AsyncConnection, partner_id: str) -> list[tuple[str, str]]:
    """active_order_products on a plain connection (Core, one statement): the gateway's caches."""
    rows = await conn.execute(_ACTIVE_ORDER_PRODUCTS, {"pid": partner_id})
    return [(cap, prod) for cap, prod in rows.all()]


_ACTIVE_ORDER_PRODUCTS_PG = PgQuery(_ACTIVE_ORDER_PRODUCTS)


async def active_order_products_pg(apg: Any, partner_id: str) -> list[tuple[str, str]]:
    """active_order_products on a raw asyncpg connection in no transaction (PostgreSQL, kernel/rawpg.py)."""
    return [(cap, prod) for cap, prod in await _ACTIVE_ORDER_PRODUCTS_PG.fetch(apg, pid=partner_id)]
