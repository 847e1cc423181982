"""Partner portal: home (balances, this month's usage by product, latest payments), API clients,
orders, top-up and invoices, usage by month. Partner users only; each page sees its own partner."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.billing import rules as billing_rules
from openability.billing import service as billing
from openability.billing.types import PaymentMethod, PaymentPurpose, PaymentState
from openability.catalog import service as catalog
from openability.charging import usage
from openability.console.pagekit import (
    FormError,
    act,
    csrf_ok,
    error_page,
    error_text,
    field,
    page,
    partner_actor,
    read_form,
    tr,
)
from openability.console.web import lang_of, redirect
from openability.kernel.clock import month_key
from openability.kernel.errors import AppError
from openability.kernel.ids import new_id
from openability.kernel.money import MoneyError, parse_money
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of
from openability.partners import service as partners
from openability.partners.rules import SCOPES

router = APIRouter(prefix="/console/portal", include_in_schema=False)

HOME = "/console/portal"
CLIENTS = "/console/portal/clients"
ORDERS = "/console/portal/orders"
TOPUP = "/console/portal/topup"
USAGE = "/console/portal/usage"


def _pid(actor: Actor) -> str:
    assert actor.partner_id is not None  # partner_actor() guarantees it
    return actor.partner_id


async def _product_names(uow: UnitOfWork) -> dict[str, tuple[str, str, str]]:
    """product id -> (code, name_zh, name_en) of every product the partner may see."""
    products, _ = await catalog.list_products(uow, limit=200)
    return {p.id: (p.code, p.name_zh, p.name_en) for p in products}


def _by_product(
    summary: usage.UsageSummary, names: dict[str, tuple[str, str, str]], lang: str
) -> list[dict[str, Any]]:
    agg: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "quantity": 0, "amount": Decimal("0.0000")}
    )
    for r in summary.rows:
        a = agg[r.product_id]
        a["calls"] += r.calls
        a["quantity"] += r.quantity
        a["amount"] += r.amount
        code, zh, en = names.get(r.product_id, (r.product_code, r.product_code, r.product_code))
        a["code"] = code
        a["name"] = zh if lang == "zh" else en
    return sorted(agg.values(), key=lambda a: (-a["amount"], a["code"]))


def _new_transaction_id() -> str:
    # Generated when the form is rendered, so a double submit of one form replays one payment.
    return new_id("web")


# ---- home --------------------------------------------------------------------------------------


@router.get("")
async def home(request: Request) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor
    lang = lang_of(request)
    try:
        async with container_of(request).uow(actor) as uow:
            partner = await partners.get_partner(uow, _pid(actor))
            balance = await billing.get_balance(uow, partner.id)
            month = month_key(uow.now)
            summary = await usage.usage_summary(uow, month=month)
            names = await _product_names(uow)
            payments, _ = await billing.list_payments(uow, limit=5)
            _orders, orders_total = await catalog.list_orders(uow, active=True, limit=1)
            clients, _ = await partners.list_api_clients(uow, partner.id, limit=200)
    except AppError as exc:
        return error_page(request, actor, exc, "/console/login")
    by_product = _by_product(summary, names, lang)
    chart = [(f"{p['name']}", p["amount"]) for p in by_product]
    return page(
        request,
        "portal_home.html",
        actor,
        partner=partner,
        balance=balance,
        month=month,
        summary=summary,
        by_product=by_product,
        chart=chart,
        payments=payments,
        active_orders=orders_total,
        active_clients=sum(1 for c in clients if c.active),
        has_deposit=balance.deposit != 0 or partner.billing_mode.value == "postpaid",
    )


# ---- API clients -------------------------------------------------------------------------------


async def _clients_page(
    request: Request, actor: Actor, *, created: Any = None, secret: str = "", status: int = 200
) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            clients, total = await partners.list_api_clients(uow, _pid(actor), limit=200)
    except AppError as exc:
        return error_page(request, actor, exc, HOME)
    return page(
        request,
        "portal_clients.html",
        actor,
        status=status,
        clients=clients,
        total=total,
        scopes=sorted(SCOPES),
        created=created,
        secret=secret,
    )


@router.get("/clients")
async def clients_page(request: Request) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor
    return await _clients_page(request, actor)


@router.post("/clients")
async def create_client(request: Request) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor
    form = await read_form(request)
    if not csrf_ok(request, form):
        return redirect(
            CLIENTS, error=tr(request, "表单已过期，请刷新页面后重试", "The form expired; reload and retry")
        )
    try:
        name = field(form, "name", max_len=100)
        scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
        if not scopes:
            raise FormError(tr(request, "请至少选择一个能力范围", "Choose at least one scope"))
        async with container_of(request).uow(actor) as uow:
            client, secret = await partners.create_api_client(uow, _pid(actor), name, scopes)
    except (AppError, FormError) as exc:
        return redirect(CLIENTS, error=error_text(exc))
    # Rendered, not redirected: the secret must never travel in a URL, and is shown only this once.
    return await _clients_page(request, actor, created=client, secret=secret, status=201)


@router.post("/clients/{client_id}/revoke")
async def revoke_client(request: Request, client_id: str) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor

    async def fn(uow: UnitOfWork, _form: FormData) -> str | None:
        await partners.revoke_api_client(uow, _pid(actor), client_id)
        return None

    return await act(
        request, actor, fn, ok_url=CLIENTS, flash=tr(request, f"已吊销 {client_id}", f"Revoked {client_id}")
    )


# ---- orders ------------------------------------------------------------------------------------


@router.get("/orders")
async def orders_page(request: Request) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor
    try:
        async with container_of(request).uow(actor) as uow:
            orders, total = await catalog.list_orders(uow, limit=200)
            products, _ = await catalog.list_products(uow, limit=200)
            codes = await catalog.product_codes(uow.session, sorted({o.product_id for o in orders}))
    except AppError as exc:
        return error_page(request, actor, exc, HOME)
    ordered = {o.product_id for o in orders if o.active}
    by_id = {p.id: p for p in products}
    return page(
        request,
        "portal_orders.html",
        actor,
        orders=orders,
        total=total,
        products=products,
        ordered=ordered,
        codes=codes,
        by_id=by_id,
    )


@router.post("/orders")
async def place_order(request: Request) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor

    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        product = field(form, "product", max_len=40)
        if not product:
            raise FormError(tr(request, "请选择产品", "Choose a product"))
        order = await catalog.place_order(uow, _pid(actor), product)
        return tr(request, f"订购成功：{order.id}", f"Ordered: {order.id}")

    return await act(request, actor, fn, ok_url=ORDERS)


@router.post("/orders/{order_id}/cancel")
async def cancel_order(request: Request, order_id: str) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor

    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        await catalog.cancel_order(uow, order_id, field(form, "reason", max_len=300))
        return None

    return await act(
        request, actor, fn, ok_url=ORDERS, flash=tr(request, f"已取消 {order_id}", f"Cancelled {order_id}")
    )


# ---- top-up, bank transfer notice, invoices ----------------------------------------------------


@router.get("/topup")
async def topup_page(request: Request) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor
    try:
        async with container_of(request).uow(actor) as uow:
            partner = await partners.get_partner(uow, _pid(actor))
            balance = await billing.get_balance(uow, partner.id)
            payments, _ = await billing.list_payments(uow, limit=50)
            invoices, _ = await billing.list_invoices(uow, limit=50)
    except AppError as exc:
        return error_page(request, actor, exc, HOME)
    purpose = billing_rules.allowed_purpose(partner.kind.value, partner.billing_mode.value)
    return page(
        request,
        "portal_topup.html",
        actor,
        partner=partner,
        balance=balance,
        purpose=purpose,
        payments=payments,
        invoices=invoices,
        sandbox_tx=_new_transaction_id(),
        bank_tx=_new_transaction_id(),
        pending=[p for p in payments if p.state == PaymentState.PENDING],
    )


def _amount(form: FormData) -> Decimal:
    raw = field(form, "amount", max_len=30).replace(",", "").replace("，", "")
    if not raw:
        raise FormError("amount: required")
    # The one money path: plain decimal notation only ("1e3", "+3", full-width digits are mistakes).
    try:
        return parse_money(raw, field="amount", example="100.00")
    except MoneyError as exc:
        raise FormError(str(exc)) from None


async def _pay(request: Request, method: PaymentMethod) -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor

    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        tx = field(form, "transaction_id", max_len=80)
        amount = _amount(form)
        reference = field(form, "bank_reference", max_len=80)
        if method == PaymentMethod.BANK_TRANSFER and not reference:
            raise FormError(tr(request, "请填写银行流水号", "The bank reference is required"))
        partner = await partners.get_partner(uow, _pid(actor))
        purpose = PaymentPurpose(
            billing_rules.allowed_purpose(partner.kind.value, partner.billing_mode.value)
        )
        payment, created = await billing.create_payment(
            uow, partner.id, tx, amount, method, purpose=purpose, bank_reference=reference
        )
        if not created:
            return tr(
                request,
                "该笔支付已处理，未重复入账",
                "This payment was already recorded; nothing was charged twice",
            )
        if payment.state == PaymentState.CONFIRMED:
            return tr(
                request, f"充值成功：¥{payment.amount:,.2f}", f"Top-up confirmed: ¥{payment.amount:,.2f}"
            )
        return tr(
            request,
            "转账通知已提交，待平台确认到账后入账",
            "Transfer notice filed: it is credited once the operator confirms the funds",
        )

    return await act(request, actor, fn, ok_url=TOPUP)


@router.post("/topup")
async def topup_submit(request: Request) -> Response:
    return await _pay(request, PaymentMethod.SANDBOX)


@router.post("/transfer")
async def transfer_submit(request: Request) -> Response:
    return await _pay(request, PaymentMethod.BANK_TRANSFER)


# ---- usage -------------------------------------------------------------------------------------


@router.get("/usage")
async def usage_page(request: Request, month: str = "") -> Response:
    actor = await partner_actor(request)
    if isinstance(actor, Response):
        return actor
    lang = lang_of(request)
    try:
        async with container_of(request).uow(actor) as uow:
            summary = await usage.usage_summary(uow, month=month.strip() or None)
            names = await _product_names(uow)
    except AppError as exc:
        return redirect(USAGE, error=exc.message)
    by_product = _by_product(summary, names, lang)
    rows = [
        {
            "day": r.day,
            "name": names.get(r.product_id, (r.product_code, r.product_code, r.product_code))[
                1 if lang == "zh" else 2
            ],
            "code": r.product_code,
            "calls": r.calls,
            "quantity": r.quantity,
            "amount": r.amount,
        }
        for r in summary.rows
    ]
    return page(
        request,
        "portal_usage.html",
        actor,
        summary=summary,
        month=summary.month,
        rows=rows,
        by_product=by_product,
        chart=[(p["name"], p["amount"]) for p in by_product],
        csv_url=f"/api/v1/usage?format=csv&month={summary.month}",
    )
