"""Console pages of the catalog domain: the operator's catalog (products with their current price,
new product), a product's price versions with their tier tables and the new-version form, the
portal's product orders, and the orders section of the operator's partner page. Permissions are the
services' own; pages only hide buttons."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.catalog import rules
from openability.catalog import service as catalog
from openability.catalog.models import PricePlan, PriceTier
from openability.catalog.schemas import ProductCreate, flatten_tiers
from openability.catalog.types import Audience, ProductStatus
from openability.console.pagekit import (
    FormError,
    OperatorPage,
    Panel,
    PartnerPage,
    act,
    csrf_ok,
    error_page,
    error_text,
    field,
    int_field,
    page,
    partner_id_of,
    read_form,
    tr,
)
from openability.console.web import redirect
from openability.kernel.clock import SHANGHAI
from openability.kernel.errors import AppError
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of

router = APIRouter(prefix="/console", include_in_schema=False)

CATALOG = "/console/ops/catalog"
ORDERS = "/console/portal/orders"
PORTAL_HOME = "/console/portal"


# ---- operator: catalog -------------------------------------------------------------------------


@router.get("/ops/catalog")
async def catalog_page(request: Request, actor: OperatorPage) -> Response:
    async with container_of(request).uow(actor) as uow:
        products, total = await catalog.list_products(uow, limit=200)
        prices = await catalog.current_prices(uow, [p.id for p in products])
        capabilities = await catalog.list_capabilities(uow)
    return page(
        request,
        "catalog_ops_list.html",
        actor,
        products=products,
        prices=prices,
        total=total,
        capabilities=capabilities,
        units=list(rules.UNITS),
        audiences=[a.value for a in Audience],
        statuses=[s.value for s in ProductStatus],
        can_edit=actor.has_role("product_manager"),
    )


@router.post("/ops/catalog/products")
async def create_product(request: Request, actor: OperatorPage) -> Response:
    created: dict[str, str] = {}

    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        cmd = ProductCreate.model_validate(
            {
                "code": field(form, "code", max_len=40),
                "capability": field(form, "capability", max_len=20),
                "name_zh": field(form, "name_zh", max_len=100),
                "name_en": field(form, "name_en", max_len=100),
                "description": field(form, "description", max_len=1000),
                "unit": field(form, "unit", max_len=20),
                "audience": field(form, "audience", max_len=10) or "all",
                "rate_limit_per_second": int_field(form, "rate_limit_per_second", 100),
                # New products start as drafts unless asked: a product without a price cannot be ordered.
                "status": field(form, "status", max_len=10) or "draft",
            }
        )
        p = await catalog.create_product(uow, cmd)
        created["code"] = p.code
        return tr(request, "已创建产品 %(code)s，请添加价格版本", code=p.code)

    return await act(request, actor, fn, ok_url=lambda: f"{CATALOG}/{created['code']}", err_url=CATALOG)


def _tier_tables(tiers: list[PriceTier]) -> list[dict[str, Any]]:
    """Per scope: rows at every tier boundary of any band, one column per band, each cell the unit
    price in effect from that month-to-date volume (prices are step functions of the volume)."""
    by: dict[tuple[str, str], list[tuple[int, Any]]] = {}
    for t in tiers:
        by.setdefault((t.scope, t.band), []).append((t.from_volume, t.unit_price))
    out = []
    for scope in rules.SCOPES:
        bands = [b for b in rules.BANDS if (scope, b) in by]
        if not bands:
            continue
        volumes = sorted({v for b in bands for v, _ in by[(scope, b)]})
        rows = []
        for v in volumes:
            cells = {}
            for b in bands:
                lst = by[(scope, b)]
                cells[b] = {
                    "price": rules.unit_price_at(lst, v),
                    "own": any(fv == v for fv, _ in lst),  # a boundary of this band itself
                }
            rows.append({"from": v, "cells": cells})
        out.append({"scope": scope, "bands": bands, "rows": rows})
    return out


def _tiers_json(tiers: list[PriceTier]) -> str:
    nested: dict[str, dict[str, list[list[Any]]]] = {}
    for t in sorted(tiers, key=lambda x: (x.scope, rules.BANDS.index(x.band), x.from_volume)):
        nested.setdefault(t.scope, {}).setdefault(t.band, []).append([t.from_volume, str(t.unit_price)])
    return json.dumps(nested, ensure_ascii=False, indent=2)


def _suggested_start(now: datetime) -> str:
    """For a scheduled start: tomorrow 00:00 Asia/Shanghai, as a datetime-local value."""
    d = now.astimezone(SHANGHAI).date() + timedelta(days=1)
    return f"{d.isoformat()}T00:00"


def _is_current(plan: PricePlan, now: datetime) -> bool:
    return plan.valid_from <= now and (plan.valid_to is None or plan.valid_to > now)


_EXAMPLE_TIERS = json.dumps(
    {
        "national": {
            "list": [[0, "0.0500"], [100000, "0.0450"]],
            "certified": [[0, "0.0450"], [100000, "0.0400"]],
            "close": [[0, "0.0420"], [100000, "0.0380"]],
            "strategic": [[0, "0.0400"], [100000, "0.0350"]],
        }
    },
    indent=2,
)


async def _product_page(
    request: Request,
    actor: Actor,
    product_ref: str,
    *,
    draft: Mapping[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            product = await catalog.get_product(uow, product_ref)
            plans = await catalog.list_price_plans(uow, product.id)
            now = uow.now
    except AppError as exc:
        return error_page(request, actor, exc, CATALOG)
    versions: list[dict[str, Any]] = []
    for plan, tiers in reversed(plans):
        versions.append({"plan": plan, "tables": _tier_tables(tiers), "current": _is_current(plan, now)})
    draft = draft or {}
    ctx: dict[str, Any] = {"error": error} if error else {}
    return page(
        request,
        "catalog_ops_product.html",
        actor,
        status=status,
        product=product,
        versions=versions,
        tiers_json=draft.get("tiers") or (_tiers_json(plans[-1][1]) if plans else _EXAMPLE_TIERS),
        # A new version starts now unless the form asks for a later moment.
        start=draft.get("start") or "now",
        valid_from=draft.get("valid_from") or _suggested_start(now),
        note=draft.get("note", ""),
        can_edit=actor.has_role("product_manager"),
        **ctx,
    )


@router.get("/ops/catalog/{product_ref}")
async def product_page(request: Request, actor: OperatorPage, product_ref: str) -> Response:
    return await _product_page(request, actor, product_ref)


def _parse_start(form: FormData) -> datetime | None:
    """None (now) when the form asks for "now", or gives no start at all; else the datetime-local
    value ('YYYY-MM-DDTHH:MM'), read as Asia/Shanghai wall time."""
    start = field(form, "start", max_len=10)
    raw = field(form, "valid_from", max_len=40)
    if start == "now" or (not start and not raw):
        return None
    if start not in ("", "at"):
        raise FormError("start: now or at")
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise FormError("valid_from: expected YYYY-MM-DDTHH:MM") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=SHANGHAI)


def _parse_tiers(raw: str) -> dict[tuple[str, str], list[tuple[object, object]]]:
    try:
        # Prices written as bare numbers are kept as their text, never as binary floats.
        data = json.loads(raw, parse_float=str)
    except json.JSONDecodeError as exc:
        raise FormError(f"tiers: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict) or not all(
        isinstance(b, dict) and all(isinstance(lst, list) for lst in b.values()) for b in data.values()
    ):
        raise FormError('tiers: expected {"national": {"list": [[0, "0.0500"], ...], ...}, ...}')
    return flatten_tiers(data)


@router.post("/ops/catalog/{product_ref}/versions")
async def new_version(request: Request, actor: OperatorPage, product_ref: str) -> Response:
    """On an error the form comes back with what was typed (a JSON price list is tedious to redo)."""
    form = await read_form(request)
    url = f"{CATALOG}/{product_ref}"
    draft = {k: str(form.get(k, "") or "")[:20000] for k in ("start", "valid_from", "tiers", "note")}
    if not csrf_ok(request, form):
        msg = tr(request, "表单已过期，请刷新页面后重试")
        return await _product_page(request, actor, product_ref, draft=draft, error=msg, status=403)
    try:
        valid_from = _parse_start(form)
        tiers = _parse_tiers(field(form, "tiers", max_len=20000))
        note = field(form, "note", max_len=300)
        async with container_of(request).uow(actor) as uow:
            plan = await catalog.create_price_plan(uow, product_ref, valid_from, tiers, note)
    except (AppError, FormError) as exc:
        return await _product_page(
            request, actor, product_ref, draft=draft, error=error_text(exc), status=400
        )
    return redirect(url, flash=tr(request, "已创建价格版本 v%(version)s", version=plan.version))


# ---- portal: orders ----------------------------------------------------------------------------


@router.get("/portal/orders")
async def orders_page(request: Request, actor: PartnerPage) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            orders, total = await catalog.list_orders(uow, limit=200)
            products, _ = await catalog.list_products(uow, limit=200)
            codes = await catalog.product_codes(uow.session, sorted({o.product_id for o in orders}))
    except AppError as exc:
        return error_page(request, actor, exc, PORTAL_HOME)
    ordered = {o.product_id for o in orders if o.active}
    by_id = {p.id: p for p in products}
    return page(
        request,
        "catalog_portal_orders.html",
        actor,
        orders=orders,
        total=total,
        products=products,
        ordered=ordered,
        codes=codes,
        by_id=by_id,
    )


@router.post("/portal/orders")
async def place_order(request: Request, actor: PartnerPage) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        product = field(form, "product", max_len=40)
        if not product:
            raise FormError(tr(request, "请选择产品"))
        order = await catalog.place_order(uow, partner_id_of(actor), product)
        return tr(request, "订购成功：%(order)s", order=order.id)

    return await act(request, actor, fn, ok_url=ORDERS)


@router.post("/portal/orders/{order_id}/cancel")
async def cancel_order(request: Request, actor: PartnerPage, order_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        await catalog.cancel_order(uow, order_id, field(form, "reason", max_len=300))
        return None

    return await act(request, actor, fn, ok_url=ORDERS, flash=tr(request, "已取消 %(order)s", order=order_id))


# ---- the operator's partner page: orders section -----------------------------------------------


async def _partner_orders(uow: UnitOfWork, partner_id: str) -> Mapping[str, Any]:
    orders, _ = await catalog.list_orders(uow, partner_id=partner_id, limit=200)
    codes = await catalog.product_codes(uow.session, sorted({o.product_id for o in orders}))
    return {"orders": orders, "codes": codes}


PARTNER_ORDERS = Panel("catalog_partner_orders.html", _partner_orders)
