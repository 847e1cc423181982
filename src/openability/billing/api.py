"""Payments, invoices and balances management API; also installs the usage read API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response

from openability.billing import service
from openability.billing.models import Payment
from openability.billing.schemas import BalanceOut, InvoiceOut, PaymentCreate, PaymentOut, PaymentReject
from openability.billing.types import PaymentState
from openability.catalog.schemas import Page
from openability.kernel.errors import InvalidArgument
from openability.kernel.money import fmt
from openability.kernel.uow import UnitOfWork
from openability.kernel.web import CurrentActor, JSONResponse, Limit, Offset, uow_for

if TYPE_CHECKING:
    pass

router = APIRouter(prefix="/api/v1", tags=["billing"])


async def _views(uow: UnitOfWork, payments: Sequence[Payment]) -> list[PaymentOut]:
    """Payments with their invoice (confirmed) or their rejection's when and who (rejected)."""
    ids = [p.id for p in payments]
    invoices = await service.invoices_for_payments(uow, ids)
    rejected = [p.id for p in payments if p.state == PaymentState.REJECTED]
    rejections = await service.rejections_for_payments(uow, rejected)
    return [PaymentOut.of(p, invoices.get(p.id), rejections.get(p.id)) for p in payments]


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
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[InvoiceOut]:
    async with uow_for(request, actor) as uow:
        rows, total = await service.list_invoices(uow, partner_id=partner_id, offset=offset, limit=limit)
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
