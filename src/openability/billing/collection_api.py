"""Collections management API (R-BILL-07..09): the clerk's board of postpaid statements, payment notices
and recorded payments of a statement, a partner's deposit level and its required deposit. camelCase
JSON, money as strings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from openability.billing import collections, service
from openability.billing.models import Payment
from openability.billing.schemas import MoneyIn, PaymentOut
from openability.billing.types import DueState
from openability.catalog.schemas import Page
from openability.kernel.money import fmt, fmt_fen
from openability.kernel.schemas import ApiModel
from openability.kernel.uow import UnitOfWork
from openability.kernel.web import CurrentActor, JSONResponse, Limit, Offset, uow_for

router = APIRouter(prefix="/api/v1", tags=["collections"])


class DueOut(ApiModel):
    statement_id: str
    partner_id: str
    month: str
    currency: str = "CNY"
    amount: str  # due: the statement total
    paid: str  # confirmed bank transfers
    deducted: str  # taken from the deposit (R-BILL-08)
    unpaid: str
    state: DueState
    due_at: datetime
    notice_by: datetime  # a payment notice filed before this instant defers collection (R-BILL-07)
    collect_at: datetime  # when what is unpaid is taken from the deposit
    deferred: bool
    collected_at: datetime | None
    paid_at: datetime | None
    notices_pending: int

    @classmethod
    def of(cls, r: collections.DueRow) -> DueOut:
        return cls(
            statement_id=r.statement_id,
            partner_id=r.partner_id,
            month=r.month,
            amount=fmt_fen(r.amount),
            paid=fmt_fen(r.paid),
            deducted=fmt_fen(r.deducted),
            unpaid=fmt_fen(r.unpaid),
            state=r.state,
            due_at=r.due_at,
            notice_by=r.notice_by,
            collect_at=r.collect_at,
            deferred=r.deferred,
            collected_at=r.collected_at,
            paid_at=r.paid_at,
            notices_pending=r.notices_pending,
        )


class StatementPaymentIn(ApiModel):
    transaction_id: Annotated[str, Field(min_length=1, max_length=80)]  # idempotency key of the payer
    amount: MoneyIn
    bank_reference: Annotated[str, Field(min_length=1, max_length=80)]


class DepositOut(ApiModel):
    partner_id: str
    currency: str = "CNY"
    deposit: str
    required: str
    required_set: bool  # set by a billing clerk (else: the first deposit paid)
    shortfall: str  # to restore
    arrears: str  # unpaid on statements whose collection has run
    suspended_for_arrears: bool

    @classmethod
    def of(cls, d: collections.DepositLevel) -> DepositOut:
        return cls(
            partner_id=d.partner_id,
            deposit=fmt(d.deposit),
            required=fmt(d.required),
            required_set=d.required_set,
            shortfall=fmt(d.shortfall),
            arrears=fmt(d.arrears),
            suspended_for_arrears=d.suspended_for_arrears,
        )


class RequiredDepositIn(ApiModel):
    amount: MoneyIn


async def _payments_out(uow: UnitOfWork, payments: Sequence[Payment]) -> list[PaymentOut]:
    rejected = [p.id for p in payments if p.state.value == "rejected"]
    rejections = await service.rejections_for_payments(uow, rejected)
    return [PaymentOut.of(p, None, rejections.get(p.id)) for p in payments]


@router.get("/collections")
async def list_collections(
    request: Request,
    actor: CurrentActor,
    state: DueState | None = None,
    month: str | None = None,
    partner_id: str | None = None,
    suspended: bool | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[DueOut]:
    """Postpaid statements' collection (R-BILL-07..09): due, partially paid, overdue, paid. A partner sees
    its own; operators every partner's, filtered by state, month, partner and suspension for arrears."""
    async with uow_for(request, actor) as uow:
        rows, total = await collections.board(
            uow,
            state=state,
            month=month,
            partner_id=partner_id,
            suspended=suspended,
            offset=offset,
            limit=limit,
        )
    return Page(items=[DueOut.of(r) for r in rows], total=total, offset=offset, limit=limit)


@router.post(
    "/statements/{statement_id}/payment-notices",
    status_code=201,
    response_model=PaymentOut,
    responses={200: {"model": PaymentOut, "description": "a retry: the notice with this transactionId"}},
)
async def file_payment_notice(
    request: Request, actor: CurrentActor, statement_id: str, body: StatementPaymentIn
) -> Response:
    """R-BILL-07: the partner (admin or finance user) or a billing clerk files a bank transfer's notice
    for the statement: at most the unpaid amount (422 OVERPAYMENT), pending until a billing clerk
    confirms the funds (`POST /api/v1/payments/{id}/confirm`). Filed before the end of the 26th, it
    defers collection from the deposit to 00:00 on the 1st."""
    async with uow_for(request, actor) as uow:
        payment, created = await collections.file_notice(
            uow,
            statement_id,
            transaction_id=body.transaction_id,
            amount=body.amount,
            bank_reference=body.bank_reference,
        )
        (out,) = await _payments_out(uow, [payment])
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.post("/statements/{statement_id}/payments", status_code=201)
async def record_statement_payment(
    request: Request, actor: CurrentActor, statement_id: str, body: StatementPaymentIn
) -> PaymentOut:
    """A billing clerk records a transfer of the statement that arrived and confirms it at once: Dr cash
    / Cr the partner's receivable; fully paid, the statement is settled (a partner suspended for arrears
    resumes once its arrears are paid and its deposit restored)."""
    async with uow_for(request, actor) as uow:
        payment = await collections.record_payment(
            uow,
            statement_id,
            transaction_id=body.transaction_id,
            amount=body.amount,
            bank_reference=body.bank_reference,
        )
        (out,) = await _payments_out(uow, [payment])
    return out


@router.get("/statements/{statement_id}/payments")
async def list_statement_payments(
    request: Request, actor: CurrentActor, statement_id: str
) -> list[PaymentOut]:
    """The statement's payment notices and payments, newest first."""
    async with uow_for(request, actor) as uow:
        return await _payments_out(uow, await collections.statement_payments(uow, statement_id))


@router.get("/partners/{partner_id}/deposit")
async def get_deposit(request: Request, actor: CurrentActor, partner_id: str) -> DepositOut:
    """The partner's deposit against the required level, its arrears and whether it is suspended for them."""
    async with uow_for(request, actor) as uow:
        return DepositOut.of(await collections.deposit_level(uow, partner_id))


@router.put("/partners/{partner_id}/required-deposit")
async def put_required_deposit(
    request: Request, actor: CurrentActor, partner_id: str, body: RequiredDepositIn
) -> DepositOut:
    """The deposit a postpaid SI must hold (its contract's; default: the first deposit it paid). A
    partner suspended for arrears resumes once its deposit is back at this level and its arrears paid."""
    async with uow_for(request, actor) as uow:
        return DepositOut.of(await collections.set_required_deposit(uow, partner_id, body.amount))
