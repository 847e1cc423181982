"""Catalog management API: capabilities, products, price plan versions, product orders (TMF states)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from openability.catalog import service
from openability.catalog.schemas import (
    CapabilityOut,
    OrderCancel,
    OrderCreate,
    OrderOut,
    Page,
    PricePlanCreate,
    PricePlanOut,
    ProductCreate,
    ProductOut,
    ProductUpdate,
)
from openability.catalog.types import OrderState, ProductStatus
from openability.kernel.errors import InvalidArgument
from openability.kernel.web import CurrentActor, Limit, Offset, uow_for

if TYPE_CHECKING:
    pass

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get("/capabilities")
async def list_capabilities(request: Request, actor: CurrentActor) -> list[CapabilityOut]:
    async with uow_for(request, actor) as uow:
        return [CapabilityOut.of(c) for c in await service.list_capabilities(uow)]


@router.get("/products")
async def list_products(
    request: Request,
    actor: CurrentActor,
    capability: str | None = None,
    status: ProductStatus | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ProductOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await service.list_products(
            uow, capability=capability, status=status, offset=offset, limit=limit
        )
        return Page(items=[ProductOut.of(p) for p in rows], total=total, offset=offset, limit=limit)


@router.post("/products", status_code=201)
async def create_product(request: Request, actor: CurrentActor, body: ProductCreate) -> ProductOut:
    async with uow_for(request, actor) as uow:
        return ProductOut.of(await service.create_product(uow, body))


@router.get("/products/{product_ref}")
async def get_product(request: Request, actor: CurrentActor, product_ref: str) -> ProductOut:
    async with uow_for(request, actor) as uow:
        return ProductOut.of(await service.get_product(uow, product_ref))


@router.patch("/products/{product_ref}")
async def update_product(
    request: Request, actor: CurrentActor, product_ref: str, body: ProductUpdate
) -> ProductOut:
    async with uow_for(request, actor) as uow:
        return ProductOut.of(await service.update_product(uow, product_ref, body))


@router.get("/products/{product_ref}/price-plans")
async def list_price_plans(request: Request, actor: CurrentActor, product_ref: str) -> list[PricePlanOut]:
    async with uow_for(request, actor) as uow:
        return [PricePlanOut.of(p, t) for p, t in await service.list_price_plans(uow, product_ref)]


@router.post("/products/{product_ref}/price-plans", status_code=201)
async def create_price_plan(
    request: Request, actor: CurrentActor, product_ref: str, body: PricePlanCreate
) -> PricePlanOut:
    async with uow_for(request, actor) as uow:
        plan = await service.create_price_plan(
            uow, product_ref, body.valid_from, body.flat_tiers(), body.note
        )
        tiers = next(t for p, t in await service.list_price_plans(uow, plan.product_id) if p.id == plan.id)
        return PricePlanOut.of(plan, tiers)


@router.post("/orders", status_code=201)
async def place_order(request: Request, actor: CurrentActor, body: OrderCreate) -> OrderOut:
    partner_id = body.partner_id or actor.partner_id
    if partner_id is None:
        raise InvalidArgument("partnerId: required when an operator orders for a partner")
    async with uow_for(request, actor) as uow:
        return OrderOut.of(await service.place_order(uow, partner_id, body.product_id, body.note))


@router.get("/orders")
async def list_orders(
    request: Request,
    actor: CurrentActor,
    partner_id: str | None = None,
    state: OrderState | None = None,
    active: bool | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[OrderOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await service.list_orders(
            uow, partner_id=partner_id, state=state, active=active, offset=offset, limit=limit
        )
        return Page(items=[OrderOut.of(o) for o in rows], total=total, offset=offset, limit=limit)


@router.get("/orders/{order_id}")
async def get_order(request: Request, actor: CurrentActor, order_id: str) -> OrderOut:
    async with uow_for(request, actor) as uow:
        return OrderOut.of(await service.get_order(uow, order_id))


@router.post("/orders/{order_id}/cancel")
async def cancel_order(
    request: Request, actor: CurrentActor, order_id: str, body: OrderCancel | None = None
) -> OrderOut:
    async with uow_for(request, actor) as uow:
        return OrderOut.of(await service.cancel_order(uow, order_id, body.reason if body else ""))
