"""Operator pages: partners (list with filters and paging, detail with status changes, new SI),
catalog (products, price plan versions and their tiers, new version, new product) and pending
bank transfers (confirm/reject). Permissions are the services' own; pages only hide buttons."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.billing import service as billing
from openability.billing.types import PaymentState
from openability.catalog import rules as catalog_rules
from openability.catalog import service as catalog
from openability.catalog.models import PricePlan, PriceTier
from openability.catalog.schemas import ProductCreate, flatten_tiers
from openability.catalog.types import Audience, ProductStatus
from openability.console.pagekit import (
    FormError,
    act,
    csrf_ok,
    error_page,
    error_text,
    field,
    int_field,
    operator_actor,
    page,
    page_args,
    read_form,
    tr,
)
from openability.console.web import redirect
from openability.kernel.clock import SHANGHAI
from openability.kernel.errors import AppError, NotFound
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of
from openability.partners import service as partners
from openability.partners.models import Partner
from openability.partners.schemas import CreateSi
from openability.partners.types import PartnerKind, PartnerStatus, ProductKind, Scope, Tier

router = APIRouter(prefix="/console/ops", include_in_schema=False)

PARTNERS = "/console/ops/partners"
CATALOG = "/console/ops/catalog"
PAYMENTS = "/console/ops/payments"


def _enum_or_none(enum_cls: Any, raw: str) -> Any:
    try:
        return enum_cls(raw) if raw else None
    except ValueError:
        return None


# ---- partners ----------------------------------------------------------------------------------


@router.get("/partners")
async def partners_page(
    request: Request, kind: str = "", status: str = "", offset: str = "", limit: str = ""
) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
    off, lim = page_args(offset, limit)
    k: PartnerKind | None = _enum_or_none(PartnerKind, kind)
    s: PartnerStatus | None = _enum_or_none(PartnerStatus, status)
    async with container_of(request).uow(actor) as uow:
        items, total = await partners.list_partners(uow, kind=k, status=s, offset=off, limit=lim)

    def link(new_offset: int) -> str:
        q = {"kind": k.value if k else "", "status": s.value if s else "", "offset": new_offset, "limit": lim}
        return f"{PARTNERS}?{urlencode({a: b for a, b in q.items() if b != ''})}"

    return page(
        request,
        "ops_partners.html",
        actor,
        items=items,
        total=total,
        offset=off,
        limit=lim,
        kind=k.value if k else "",
        status_filter=s.value if s else "",
        kinds=[x.value for x in PartnerKind],
        statuses=[x.value for x in PartnerStatus],
        prev_url=link(max(0, off - lim)) if off > 0 else "",
        next_url=link(off + lim) if off + lim < total else "",
        can_create_si=actor.has_role("reviewer"),
    )


@router.get("/partners/new-si")
async def new_si_page(request: Request) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
    return _si_form(request, actor, {})


def _si_form(
    request: Request, actor: Actor, form: dict[str, str], status: int = 200, error: str = ""
) -> Response:
    ctx: dict[str, Any] = {
        "form": form,
        "scopes": [x.value for x in Scope],
        "tiers": [x.value for x in Tier],
        "product_kinds": [x.value for x in ProductKind],
    }
    if error:
        ctx["error"] = error
    return page(request, "ops_si_new.html", actor, status=status, **ctx)


SI_FIELDS = (
    "name",
    "billing_mode",
    "scope",
    "product_kind",
    "industry",
    "tier",
    "contact_name",
    "contact_email",
    "contact_phone",
    "credit_code",
    "registered_capital",
    "admin_username",
)


@router.post("/partners/new-si")
async def new_si_submit(request: Request) -> Response:
    """Re-renders the form with the entered values on any error (no half-created SI: one uow)."""
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
    form = await read_form(request)
    values = {f: str(form.get(f, "") or "").strip() for f in SI_FIELDS}
    if not csrf_ok(request, form):
        msg = tr(request, "表单已过期，请刷新页面后重试", "The form expired; reload and retry")
        return _si_form(request, actor, values, status=403, error=msg)
    password = str(form.get("admin_password", "") or "")
    data: dict[str, Any] = {k: v for k, v in values.items() if v != "" and k != "admin_username"}
    data["activate"] = form.get("activate") == "on"
    if values["admin_username"] or password:
        data["admin_username"] = values["admin_username"]
        data["admin_password"] = password
    try:
        cmd = CreateSi.model_validate(data)
        async with container_of(request).uow(actor) as uow:
            si = await partners.create_si(uow, cmd)
    except (AppError, ValidationError, ValueError) as exc:
        return _si_form(request, actor, values, status=400, error=error_text(exc))
    return redirect(
        f"{PARTNERS}/{si.id}", flash=tr(request, f"已创建 SI：{si.name}", f"SI created: {si.name}")
    )


@router.get("/partners/{partner_id}")
async def partner_page(request: Request, partner_id: str) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
    try:
        async with container_of(request).uow(actor) as uow:
            partner = await partners.get_partner(uow, partner_id)
            balance = await billing.get_balance(uow, partner.id)
            orders, _ = await catalog.list_orders(uow, partner_id=partner.id, limit=200)
            codes = await catalog.product_codes(uow.session, sorted({o.product_id for o in orders}))
            users, _ = await partners.list_partner_users(uow, partner.id, limit=200)
            clients, _ = await partners.list_api_clients(uow, partner.id, limit=200)
            payments, _ = await billing.list_payments(uow, partner_id=partner.id, limit=20)
    except AppError as exc:
        return error_page(request, actor, exc, PARTNERS)
    return page(
        request,
        "ops_partner.html",
        actor,
        partner=partner,
        balance=balance,
        orders=orders,
        codes=codes,
        users=users,
        clients=clients,
        payments=payments,
        can_set_status=actor.has_role("reviewer", "billing_clerk"),
    )


@router.post("/partners/{partner_id}/status")
async def partner_status(request: Request, partner_id: str) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor

    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        raw = field(form, "status", max_len=20)
        if raw not in (PartnerStatus.ACTIVE.value, PartnerStatus.SUSPENDED.value):
            raise FormError(tr(request, "无效的状态", "Invalid status"))
        reason = field(form, "reason", max_len=300)
        if not reason:
            raise FormError(tr(request, "请填写原因", "A reason is required"))
        p = await partners.set_partner_status(uow, partner_id, PartnerStatus(raw), reason)
        return tr(request, f"状态已更新：{p.status.value}", f"Status changed: {p.status.value}")

    url = f"{PARTNERS}/{partner_id}"
    return await act(request, actor, fn, ok_url=url)


# ---- catalog -----------------------------------------------------------------------------------


@router.get("/catalog")
async def catalog_page(request: Request) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
    async with container_of(request).uow(actor) as uow:
        products, total = await catalog.list_products(uow, limit=200)
        capabilities = await catalog.list_capabilities(uow)
    return page(
        request,
        "ops_catalog.html",
        actor,
        products=products,
        total=total,
        capabilities=capabilities,
        units=list(catalog_rules.UNITS),
        audiences=[a.value for a in Audience],
        statuses=[s.value for s in ProductStatus],
        can_edit=actor.has_role("product_manager"),
    )


@router.post("/catalog/products")
async def create_product(request: Request) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
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
        return tr(
            request, f"已创建产品 {p.code}，请添加价格版本", f"Product {p.code} created; add a price version"
        )

    return await act(request, actor, fn, ok_url=lambda: f"{CATALOG}/{created['code']}", err_url=CATALOG)


def _tier_tables(tiers: list[PriceTier]) -> list[dict[str, Any]]:
    """Per scope: rows at every tier boundary of any band, one column per band, each cell the unit
    price in effect from that month-to-date volume (prices are step functions of the volume)."""
    by: dict[tuple[str, str], list[tuple[int, Any]]] = {}
    for t in tiers:
        by.setdefault((t.scope, t.band), []).append((t.from_volume, t.unit_price))
    out = []
    for scope in catalog_rules.SCOPES:
        bands = [b for b in catalog_rules.BANDS if (scope, b) in by]
        if not bands:
            continue
        volumes = sorted({v for b in bands for v, _ in by[(scope, b)]})
        rows = []
        for v in volumes:
            cells = {}
            for b in bands:
                lst = by[(scope, b)]
                cells[b] = {
                    "price": catalog_rules.unit_price_at(lst, v),
                    "own": any(fv == v for fv, _ in lst),  # a boundary of this band itself
                }
            rows.append({"from": v, "cells": cells})
        out.append({"scope": scope, "bands": bands, "rows": rows})
    return out


def _tiers_json(tiers: list[PriceTier]) -> str:
    nested: dict[str, dict[str, list[list[Any]]]] = {}
    for t in sorted(tiers, key=lambda x: (x.scope, catalog_rules.BANDS.index(x.band), x.from_volume)):
        nested.setdefault(t.scope, {}).setdefault(t.band, []).append([t.from_volume, str(t.unit_price)])
    return json.dumps(nested, ensure_ascii=False, indent=2)


def _default_valid_from(now: datetime) -> str:
    """Tomorrow 00:00 Asia/Shanghai, as a datetime-local value."""
    d = now.astimezone(SHANGHAI).date() + timedelta(days=1)
    return f"{d.isoformat()}T00:00"


async def _product_page(
    request: Request,
    actor: Actor,
    product_ref: str,
    *,
    draft: dict[str, str] | None = None,
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
        "ops_product.html",
        actor,
        status=status,
        product=product,
        versions=versions,
        tiers_json=draft.get("tiers") or (_tiers_json(plans[-1][1]) if plans else _EXAMPLE_TIERS),
        valid_from=draft.get("valid_from") or _default_valid_from(now),
        note=draft.get("note", ""),
        can_edit=actor.has_role("product_manager"),
        **ctx,
    )


@router.get("/catalog/{product_ref}")
async def product_page(request: Request, product_ref: str) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
    return await _product_page(request, actor, product_ref)


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


def _parse_valid_from(raw: str) -> datetime:
    """A datetime-local value ('YYYY-MM-DDTHH:MM'), read as Asia/Shanghai wall time."""
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


@router.post("/catalog/{product_ref}/versions")
async def new_version(request: Request, product_ref: str) -> Response:
    """On an error the form comes back with what was typed (a JSON price list is tedious to redo)."""
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
    form = await read_form(request)
    url = f"{CATALOG}/{product_ref}"
    draft = {k: str(form.get(k, "") or "")[:20000] for k in ("valid_from", "tiers", "note")}
    if not csrf_ok(request, form):
        msg = tr(request, "表单已过期，请刷新页面后重试", "The form expired; reload and retry")
        return await _product_page(request, actor, product_ref, draft=draft, error=msg, status=403)
    try:
        valid_from = _parse_valid_from(field(form, "valid_from", max_len=40))
        tiers = _parse_tiers(field(form, "tiers", max_len=20000))
        note = field(form, "note", max_len=300)
        async with container_of(request).uow(actor) as uow:
            plan = await catalog.create_price_plan(uow, product_ref, valid_from, tiers, note)
    except (AppError, FormError) as exc:
        return await _product_page(
            request, actor, product_ref, draft=draft, error=error_text(exc), status=400
        )
    return redirect(
        url, flash=tr(request, f"已创建价格版本 v{plan.version}", f"Price version v{plan.version} created")
    )


# ---- payments ----------------------------------------------------------------------------------


@router.get("/payments")
async def payments_page(
    request: Request, state: str = "pending", offset: str = "", limit: str = ""
) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor
    off, lim = page_args(offset, limit)
    st: PaymentState | None = _enum_or_none(PaymentState, state)
    async with container_of(request).uow(actor) as uow:
        payments, total = await billing.list_payments(uow, state=st, offset=off, limit=lim)
        names: dict[str, Partner] = {}
        for pid in sorted({p.partner_id for p in payments}):
            try:
                names[pid] = await partners.get_partner(uow, pid)
            except NotFound:
                continue
    base = {"state": st.value if st else "all", "limit": lim}
    return page(
        request,
        "ops_payments.html",
        actor,
        payments=payments,
        total=total,
        state=st.value if st else "all",
        states=[s.value for s in PaymentState],
        partners=names,
        prev_url=f"{PAYMENTS}?{urlencode(base | {'offset': max(0, off - lim)})}" if off > 0 else "",
        next_url=f"{PAYMENTS}?{urlencode(base | {'offset': off + lim})}" if off + lim < total else "",
        can_confirm=actor.has_role("billing_clerk"),
    )


@router.post("/payments/{payment_id}/confirm")
async def confirm_payment(request: Request, payment_id: str) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor

    async def fn(uow: UnitOfWork, _form: FormData) -> str | None:
        p = await billing.confirm_payment(uow, payment_id)
        return tr(request, f"已确认到账 ¥{p.amount:,.2f}", f"Confirmed ¥{p.amount:,.2f}")

    return await act(request, actor, fn, ok_url=PAYMENTS)


@router.post("/payments/{payment_id}/reject")
async def reject_payment(request: Request, payment_id: str) -> Response:
    actor = await operator_actor(request)
    if isinstance(actor, Response):
        return actor

    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        reason = field(form, "reason", max_len=300)
        if not reason:
            raise FormError(tr(request, "请填写拒绝原因", "A reason is required"))
        await billing.reject_payment(uow, payment_id, reason)
        return tr(request, f"已拒绝 {payment_id}", f"Rejected {payment_id}")

    return await act(request, actor, fn, ok_url=PAYMENTS)
