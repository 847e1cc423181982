"""Payments, invoices and balances management API; also installs the usage read API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import PlainTextResponse, Response

from openability.billing import alerts, invoices, service
from openability.billing.models import Payment
from openability.billing.schemas import (
    BalanceOut,
    InvoiceOut,
    PaymentCreate,
    PaymentOut,
    PaymentReject,
    ProvidersOut,
)
from openability.billing.types import InvoiceKind, InvoiceState, PaymentMethod, PaymentState
from openability.catalog.schemas import Page
from openability.kernel.errors import InvalidArgument, NotFound
from openability.kernel.money import MoneyError, fmt, parse_money
from openability.kernel.schemas import ApiModel
from openability.kernel.uow import UnitOfWork
from openability.kernel.web import CurrentActor, JSONResponse, Limit, Offset, container_of, uow_for

if TYPE_CHECKING:
    pass

router = APIRouter(prefix="/api/v1", tags=["billing"])


async def _views(uow: UnitOfWork, payments: Sequence[Payment]) -> list[PaymentOut]:
    """Payments with their invoice (confirmed) or their rejection's when and who (rejected)."""
    ids = [p.id for p in payments]
    invoices = await service.invoices_for_payments(uow, ids)
    rejected = [p.id for p in payments if p.state == PaymentState.REJECTED]
    rejections = await service.rejections_for_payments(uow, rejected)
    online = [p.id for p in payments if p.method == PaymentMethod.ONLINE]
    orders = await service.orders_for_payments(uow, online)
    return [PaymentOut.of(p, invoices.get(p.id), rejections.get(p.id), orders.get(p.id)) for p in payments]


@router.post(
    "/payments/notify/{provider}",
    summary="An online payment provider's asynchronous notification (public, signed)",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"example": "success"}}, "description": "handled (or a repeat)"},
        400: {"description": "bad signature or unreadable notification; audited, nothing credited"},
        403: {"description": "addressed to another app id or merchant; audited"},
        404: {"description": "unknown order; audited"},
        409: {"description": "another provider's order, or an order settled otherwise; audited"},
        422: {"description": "amount differs from the order's; audited"},
    },
)
async def payment_notification(request: Request, provider: str) -> Response:
    """The provider posts what it posts (Alipay: a signed form) with no login; the signature is the
    authentication. The answer is what the provider expects ("success" for Alipay)."""
    body = await request.body()
    actor = service.provider_actor(provider[:40])
    async with container_of(request).uow(actor, correlator=request.headers.get("x-correlator")) as uow:
        outcome = await service.handle_notification(
            uow, provider, request.headers.get("content-type", ""), body
        )
    # The refusal's audit row is committed with the unit of work above; then the 4xx is answered.
    if outcome.refusal is not None:
        raise outcome.refusal
    assert outcome.reply is not None
    return PlainTextResponse(outcome.reply.body, media_type=outcome.reply.media_type)


@router.get("/payments/providers")
async def payment_providers(request: Request, actor: CurrentActor) -> ProvidersOut:
    """The payment methods this installation offers and its online providers."""
    async with uow_for(request, actor) as uow:
        methods, names = service.offered_methods(uow)
    return ProvidersOut(methods=methods, providers=names)


@router.post(
    "/payments",
    status_code=201,
    response_model=PaymentOut,
    responses={200: {"model": PaymentOut, "description": "a retry: the payment with this transactionId"}},
)
async def create_payment(request: Request, actor: CurrentActor, body: PaymentCreate) -> Response:
    partner_id = body.partner_id or actor.partner_id
    if partner_id is None:
        raise InvalidArgument("partnerId: required when an operator records a payment")
    async with uow_for(request, actor) as uow:
        payment, created = await service.create_payment(
            uow,
            partner_id,
            body.transaction_id,
            body.amount,
            body.method,
            body.purpose,
            body.bank_reference,
            body.provider,
            body.statement_id,
        )
        (out,) = await _views(uow, [payment])
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/payments")
async def list_payments(
    request: Request,
    actor: CurrentActor,
    partner_id: str | None = None,
    state: PaymentState | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PaymentOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await service.list_payments(
            uow, partner_id=partner_id, state=state, offset=offset, limit=limit
        )
        items = await _views(uow, rows)
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/payments/{payment_id}")
async def get_payment(request: Request, actor: CurrentActor, payment_id: str) -> PaymentOut:
    async with uow_for(request, actor) as uow:
        p = await service.get_payment(uow, payment_id)
        (out,) = await _views(uow, [p])
    return out


@router.post("/payments/{payment_id}/confirm")
async def confirm_payment(request: Request, actor: CurrentActor, payment_id: str) -> PaymentOut:
    async with uow_for(request, actor) as uow:
        p = await service.confirm_payment(uow, payment_id)
        (out,) = await _views(uow, [p])
    return out


@router.post("/payments/{payment_id}/reject")
async def reject_payment(
    request: Request, actor: CurrentActor, payment_id: str, body: PaymentReject
) -> PaymentOut:
    async with uow_for(request, actor) as uow:
        p = await service.reject_payment(uow, payment_id, body.reason)
        (out,) = await _views(uow, [p])
    return out


@router.get("/invoices")
async def list_invoices(
    request: Request,
    actor: CurrentActor,
    partner_id: str | None = None,
    kind: InvoiceKind | None = None,
    state: InvoiceState | None = None,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[InvoiceOut]:
    """A partner's own invoices (operators: every partner's), newest first; `month` is the month of
    the number (YYYY-MM)."""
    async with uow_for(request, actor) as uow:
        rows, total = await invoices.list_invoices(
            uow, partner_id=partner_id, kind=kind, state=state, month=month, offset=offset, limit=limit
        )
    return Page(items=[InvoiceOut.of(i) for i in rows], total=total, offset=offset, limit=limit)


@router.get("/invoices/{invoice_ref}")
async def get_invoice(request: Request, actor: CurrentActor, invoice_ref: str) -> InvoiceOut:
    async with uow_for(request, actor) as uow:
        return InvoiceOut.of(await service.get_invoice(uow, invoice_ref))


@router.get("/accounts/{partner_id}")
async def get_account(request: Request, actor: CurrentActor, partner_id: str) -> BalanceOut:
    async with uow_for(request, actor) as uow:
        b = await service.get_balance(uow, partner_id)
    return BalanceOut(
        partner_id=b.partner_id,
        available=fmt(b.available),
        reserved=fmt(b.reserved),
        balance=fmt(b.total),
        deposit=fmt(b.deposit),
        receivable=fmt(b.receivable),
    )


class LowBalanceAlertIn(ApiModel):
    threshold: str  # money string, e.g. "20.00"


class LowBalanceAlertOut(ApiModel):
    partner_id: str
    threshold: str
    armed: bool  # false once notified, until the balance is back at or above the threshold
    notified_at: datetime | None = None


def _alert_out(a: alerts.AlertSetting) -> LowBalanceAlertOut:
    return LowBalanceAlertOut(
        partner_id=a.partner_id, threshold=fmt(a.threshold), armed=a.armed, notified_at=a.notified_at
    )


@router.get("/accounts/{partner_id}/low-balance-alert")
async def get_low_balance_alert(request: Request, actor: CurrentActor, partner_id: str) -> LowBalanceAlertOut:
    """The partner's low-balance alert (404 when none is set)."""
    async with uow_for(request, actor) as uow:
        a = await alerts.get_alert(uow, partner_id)
    if a is None:
        raise NotFound(f"no low-balance alert for partner {partner_id}")
    return _alert_out(a)


@router.put("/accounts/{partner_id}/low-balance-alert")
async def put_low_balance_alert(
    request: Request, actor: CurrentActor, partner_id: str, body: LowBalanceAlertIn
) -> LowBalanceAlertOut:
    """Set (or change) the threshold below which the partner gets one notice per crossing."""
    try:
        threshold = parse_money(body.threshold, field="threshold", places=2)
    except MoneyError as exc:
        raise InvalidArgument(str(exc), code="INVALID_AMOUNT") from None
    async with uow_for(request, actor) as uow:
        return _alert_out(await alerts.set_alert(uow, partner_id, threshold))


@router.delete("/accounts/{partner_id}/low-balance-alert", status_code=204)
async def delete_low_balance_alert(request: Request, actor: CurrentActor, partner_id: str) -> Response:
    async with uow_for(request, actor) as uow:
        await alerts.clear_alert(uow, partner_id)
    return Response(status_code=204)
