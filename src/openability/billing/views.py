"""Console pages of the billing domain: the portal's home (balances, this month's usage by product,
latest payments), top-up and bank-transfer notices with invoices, the operator's pending payments
(confirm / reject), and the balance and payments sections of the operator's partner page.
Permissions are the services' own; pages only hide buttons."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.billing import alerts, rules
from openability.billing import service as billing
from openability.billing.types import PaymentMethod, PaymentPurpose, PaymentState
from openability.catalog import service as catalog
from openability.charging import usage
from openability.console.pagekit import (
    FormError,
    OperatorPage,
    Panel,
    PartnerPage,
    act,
    error_page,
    field,
    page,
    page_args,
    partner_id_of,
    tr,
)
from openability.console.web import lang_of
from openability.kernel.clock import month_key
from openability.kernel.errors import AppError
from openability.kernel.ids import new_id
from openability.kernel.money import MoneyError, parse_money
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of
from openability.partners import service as partners

router = APIRouter(prefix="/console", include_in_schema=False)

HOME = "/console/portal"
TOPUP = "/console/portal/topup"
PAYMENTS = "/console/ops/payments"


def _new_transaction_id() -> str:
    # Generated when the form is rendered, so a double submit of one form replays one payment.
    return new_id("web")


def _enum_or_none(enum_cls: Any, raw: str) -> Any:
    try:
        return enum_cls(raw) if raw else None
    except ValueError:
        return None


# ---- portal: home ------------------------------------------------------------------------------


@router.get("/portal")
async def home(request: Request, actor: PartnerPage) -> Response:
    lang = lang_of(request)
    try:
        async with container_of(request).uow(actor) as uow:
            partner = await partners.partner_ref(uow, partner_id_of(actor))
            balance = await billing.get_balance(uow, partner.id)
            month = month_key(uow.now)
            summary = await usage.usage_summary(uow, month=month)
            names = await usage.product_names(uow)
            payments, _ = await billing.list_payments(uow, limit=5)
            _orders, orders_total = await catalog.list_orders(uow, active=True, limit=1)
            active_clients = await partners.active_client_count(uow, partner.id)
    except AppError as exc:
        return error_page(request, actor, exc, "/console/login")
    products = usage.by_product(summary, names)
    return page(
        request,
        "billing_portal_home.html",
        actor,
        partner=partner,
        balance=balance,
        month=month,
        summary=summary,
        by_product=products,
        chart=[(p.name_zh if lang == "zh" else p.name_en, p.amount) for p in products],
        payments=payments,
        active_orders=orders_total,
        active_clients=active_clients,
        has_deposit=balance.deposit != 0 or partner.billing_mode.value == "postpaid",
    )


# ---- portal: top-up, bank transfer notice, invoices --------------------------------------------


@router.get("/portal/topup")
async def topup_page(request: Request, actor: PartnerPage) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            partner = await partners.partner_ref(uow, partner_id_of(actor))
            balance = await billing.get_balance(uow, partner.id)
            payments, _ = await billing.list_payments(uow, limit=50)
            invoices, _ = await billing.list_invoices(uow, limit=50)
            methods, providers = billing.offered_methods(uow)
            pending = [p for p in payments if p.state == PaymentState.PENDING]
            alert = await alerts.get_alert(uow, partner.id)
            orders = await billing.orders_for_payments(
                uow, [p.id for p in pending if p.method == PaymentMethod.ONLINE]
            )
    except AppError as exc:
        return error_page(request, actor, exc, HOME)
    purpose = rules.allowed_purpose(partner.kind.value, partner.billing_mode.value)
    return page(
        request,
        "billing_portal_topup.html",
        actor,
        partner=partner,
        balance=balance,
        purpose=purpose,
        payments=payments,
        invoices=invoices,
        # The sandbox is offered on demo installations only (settings.payments_sandbox).
        sandbox=PaymentMethod.SANDBOX in methods,
        providers=providers,
        sandbox_tx=_new_transaction_id(),
        online_tx=_new_transaction_id(),
        bank_tx=_new_transaction_id(),
        pending=[p for p in pending if p.method == PaymentMethod.BANK_TRANSFER],
        pending_online=[(p, orders[p.id]) for p in pending if p.id in orders],
        alert=alert,
        prepaid=partner.billing_mode.value == "prepaid",
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


async def _pay(request: Request, actor: Actor, method: PaymentMethod) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        tx = field(form, "transaction_id", max_len=80)
        amount = _amount(form)
        reference = field(form, "bank_reference", max_len=80)
        if method == PaymentMethod.BANK_TRANSFER and not reference:
            raise FormError(tr(request, "请填写银行流水号"))
        provider = field(form, "provider", max_len=20) if method == PaymentMethod.ONLINE else None
        if method == PaymentMethod.ONLINE and not provider:
            raise FormError(tr(request, "请选择支付方式"))
        partner = await partners.partner_ref(uow, partner_id_of(actor))
        purpose = PaymentPurpose(rules.allowed_purpose(partner.kind.value, partner.billing_mode.value))
        payment, created = await billing.create_payment(
            uow, partner.id, tx, amount, method, purpose=purpose, bank_reference=reference, provider=provider
        )
        if not created:
            return tr(request, "该笔支付已处理，未重复入账")
        if method == PaymentMethod.ONLINE:
            return tr(
                request,
                "支付订单已创建：¥%(amount)s，请在下方“待支付的在线订单”中扫码或打开链接完成支付，支付成功后自动入账",
                amount=f"{payment.amount:,.2f}",
            )
        if payment.state == PaymentState.CONFIRMED:
            return tr(request, "充值成功：¥%(amount)s", amount=f"{payment.amount:,.2f}")
        return tr(request, "转账通知已提交，待平台确认到账后入账")

    return await act(request, actor, fn, ok_url=TOPUP)


@router.post("/portal/low-balance")
async def low_balance_submit(request: Request, actor: PartnerPage) -> Response:
    """The prepaid partner's low-balance alert: one notice each time the available balance falls below
    the threshold (billing/alerts.py); an empty threshold removes the alert."""

    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        raw = field(form, "threshold", max_len=30).replace(",", "").replace("，", "")
        pid = partner_id_of(actor)
        if not raw:
            if await alerts.get_alert(uow, pid) is None:
                return tr(request, "尚未设置余额提醒")
            await alerts.clear_alert(uow, pid)
            return tr(request, "已取消余额提醒")
        try:
            threshold = parse_money(raw, field="threshold", places=2, example="100.00")
        except MoneyError as exc:
            raise FormError(str(exc)) from None
        a = await alerts.set_alert(uow, pid, threshold)
        return tr(request, "余额低于 ¥%(amount)s 时将提醒您", amount=f"{a.threshold:,.2f}")

    return await act(request, actor, fn, ok_url=TOPUP)


@router.post("/portal/topup")
async def topup_submit(request: Request, actor: PartnerPage) -> Response:
    return await _pay(request, actor, PaymentMethod.SANDBOX)


@router.post("/portal/pay-online")
async def online_submit(request: Request, actor: PartnerPage) -> Response:
    return await _pay(request, actor, PaymentMethod.ONLINE)


@router.post("/portal/transfer")
async def transfer_submit(request: Request, actor: PartnerPage) -> Response:
    return await _pay(request, actor, PaymentMethod.BANK_TRANSFER)


# ---- operator: payments ------------------------------------------------------------------------


@router.get("/ops/payments")
async def payments_page(
    request: Request, actor: OperatorPage, state: str = "pending", offset: str = "", limit: str = ""
) -> Response:
    off, lim = page_args(offset, limit)
    st: PaymentState | None = _enum_or_none(PaymentState, state)
    async with container_of(request).uow(actor) as uow:
        payments, total = await billing.list_payments(uow, state=st, offset=off, limit=lim)
        names = await partners.partner_names(uow, {p.partner_id for p in payments})
    base = {"state": st.value if st else "all", "limit": lim}
    return page(
        request,
        "billing_ops_payments.html",
        actor,
        payments=payments,
        total=total,
        state=st.value if st else "all",
        states=[s.value for s in PaymentState],
        partner_names=names,
        prev_url=f"{PAYMENTS}?{urlencode(base | {'offset': max(0, off - lim)})}" if off > 0 else "",
        next_url=f"{PAYMENTS}?{urlencode(base | {'offset': off + lim})}" if off + lim < total else "",
        can_confirm=actor.has_role("billing_clerk"),
    )


@router.post("/ops/payments/{payment_id}/confirm")
async def confirm_payment(request: Request, actor: OperatorPage, payment_id: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> str | None:
        p = await billing.confirm_payment(uow, payment_id)
        return tr(request, "已确认到账 ¥%(amount)s", amount=f"{p.amount:,.2f}")

    return await act(request, actor, fn, ok_url=PAYMENTS)


@router.post("/ops/payments/{payment_id}/reject")
async def reject_payment(request: Request, actor: OperatorPage, payment_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        reason = field(form, "reason", max_len=300)
        if not reason:
            raise FormError(tr(request, "请填写拒绝原因"))
        await billing.reject_payment(uow, payment_id, reason)
        return tr(request, "已拒绝 %(payment)s", payment=payment_id)

    return await act(request, actor, fn, ok_url=PAYMENTS)


# ---- the operator's partner page: balance and payments sections --------------------------------


async def _partner_balance(uow: UnitOfWork, partner_id: str) -> Mapping[str, Any]:
    return {"balance": await billing.get_balance(uow, partner_id)}


async def _partner_payments(uow: UnitOfWork, partner_id: str) -> Mapping[str, Any]:
    payments, _ = await billing.list_payments(uow, partner_id=partner_id, limit=20)
    return {"payments": payments}


PARTNER_BALANCE = Panel("billing_partner_balance.html", _partner_balance)
PARTNER_PAYMENTS = Panel("billing_partner_payments.html", _partner_payments)
