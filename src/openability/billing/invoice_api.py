"""Invoices (issue 7 item 7) and the settlement hold (item 10) in the management API: a partner's invoice
profile, an invoice's PDF, the official fapiao number, and the hold. The invoice list and reads are in
billing/api.py. camelCase JSON, money as strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from openability.billing import holds, invoice_pdf, invoices
from openability.billing.invoice_rules import ProfileInput
from openability.billing.schemas import InvoiceOut
from openability.billing.types import InvoiceType
from openability.kernel.money import fmt_fen
from openability.kernel.schemas import ApiModel
from openability.kernel.web import CurrentActor, uow_for

router = APIRouter(prefix="/api/v1", tags=["invoices"])


class InvoiceProfileIn(ApiModel):
    buyer_name: Annotated[str, Field(max_length=200)]
    credit_code: Annotated[str, Field(max_length=40)] = ""
    bank_name: Annotated[str, Field(max_length=100)] = ""
    bank_account: Annotated[str, Field(max_length=60)] = ""
    address: Annotated[str, Field(max_length=200)] = ""
    phone: Annotated[str, Field(max_length=40)] = ""
    invoice_type: InvoiceType = InvoiceType.GENERAL


class InvoiceProfileOut(ApiModel):
    partner_id: str
    buyer_name: str
    credit_code: str
    bank_name: str
    bank_account: str
    address: str
    phone: str
    invoice_type: InvoiceType
    saved: bool  # false: not set yet (the partner's registered name and credit code stand in)
    updated_at: datetime | None
    updated_by: str | None


def _profile_out(p: invoices.Profile) -> InvoiceProfileOut:
    d = p.data
    return InvoiceProfileOut(
        partner_id=p.partner_id,
        buyer_name=d.buyer_name,
        credit_code=d.credit_code,
        bank_name=d.bank_name,
        bank_account=d.bank_account,
        address=d.address,
        phone=d.phone,
        invoice_type=d.invoice_type,
        saved=p.saved,
        updated_at=p.updated_at,
        updated_by=p.updated_by,
    )


@router.get("/partners/{partner_id}/invoice-profile")
async def get_invoice_profile(request: Request, actor: CurrentActor, partner_id: str) -> InvoiceProfileOut:
    """What the partner's invoices are made out to (购买方信息) and the fapiao type it asks for."""
    async with uow_for(request, actor) as uow:
        return _profile_out(await invoices.get_profile(uow, partner_id))


@router.put("/partners/{partner_id}/invoice-profile")
async def put_invoice_profile(
    request: Request, actor: CurrentActor, partner_id: str, body: InvoiceProfileIn
) -> InvoiceProfileOut:
    """Set the invoice profile (the partner's admin or finance users, or a billing clerk). A special
    (专用) invoice needs the credit code, bank name and account, address and phone; every problem is
    named in one 400 INVALID_INVOICE_PROFILE."""
    given = ProfileInput(
        body.buyer_name,
        body.credit_code,
        body.bank_name,
        body.bank_account,
        body.address,
        body.phone,
        body.invoice_type,
    )
    async with uow_for(request, actor) as uow:
        return _profile_out(await invoices.set_profile(uow, partner_id, given))


@router.get(
    "/invoices/{invoice_ref}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the invoice as a PDF"}},
)
async def invoice_pdf_route(request: Request, actor: CurrentActor, invoice_ref: str) -> Response:
    """The invoice (by id or number) as a PDF, the Chinese text in STSong-Light."""
    async with uow_for(request, actor) as uow:
        filename, data = await invoices.invoice_pdf_of(uow, invoice_ref)
    return Response(
        data,
        media_type=invoice_pdf.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class FapiaoIn(ApiModel):
    fapiao_number: Annotated[str, Field(min_length=1, max_length=40)]
    fapiao_date: date


@router.post("/invoices/{invoice_ref}/fapiao")
async def record_fapiao(
    request: Request, actor: CurrentActor, invoice_ref: str, body: FapiaoIn
) -> InvoiceOut:
    """A billing clerk records the official fapiao the tax system issued (8-20 digits, its date). The
    same again changes nothing; another number for an invoice that has one: 409 FAPIAO_RECORDED."""
    async with uow_for(request, actor) as uow:
        inv = await invoices.record_fapiao(uow, invoice_ref, body.fapiao_number, body.fapiao_date)
        return InvoiceOut.of(inv)


# ---- the settlement hold (R-TIER-03) -----------------------------------------------------------------


class HoldIn(ApiModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class HoldOut(ApiModel):
    id: str
    partner_id: str
    reason: str
    set_by: str
    since: datetime
    lifted_at: datetime | None
    lifted_by: str | None
    held: str  # credits waiting in settlement:held
    held_statements: int
    released: str  # released by the lift that answered this


def _hold_out(v: holds.HoldView) -> HoldOut:
    h = v.hold
    return HoldOut(
        id=h.id,
        partner_id=h.partner_id,
        reason=h.reason,
        set_by=h.set_by,
        since=h.since,
        lifted_at=h.lifted_at,
        lifted_by=h.lifted_by,
        held=fmt_fen(v.held),
        held_statements=v.statements,
        released=fmt_fen(v.released),
    )


@router.get("/partners/{partner_id}/settlement-hold")
async def get_settlement_hold(request: Request, actor: CurrentActor, partner_id: str) -> HoldOut:
    """The partner's active settlement hold and what waits under it (404 NOT_HELD when none)."""
    async with uow_for(request, actor) as uow:
        return _hold_out(await holds.get_hold(uow, partner_id))


@router.post("/partners/{partner_id}/settlement-hold", status_code=201)
async def place_settlement_hold(
    request: Request, actor: CurrentActor, partner_id: str, body: HoldIn
) -> HoldOut:
    """R-TIER-03: hold the partner's settlement (admin, billing clerk). Statements are still produced;
    true-up credits, favourable adjustments and refunds wait until the hold lifts. 409 ALREADY_HELD."""
    async with uow_for(request, actor) as uow:
        return _hold_out(await holds.place_hold(uow, partner_id, body.reason))


@router.delete("/partners/{partner_id}/settlement-hold")
async def lift_settlement_hold(request: Request, actor: CurrentActor, partner_id: str) -> HoldOut:
    """Lift the hold: every held credit is released to the partner's account (one balanced entry per
    statement). 409 NOT_HELD when there is none."""
    async with uow_for(request, actor) as uow:
        return _hold_out(await holds.lift_hold(uow, partner_id))
