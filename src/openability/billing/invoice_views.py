"""Console pages of invoices (issue 7 item 7): the partner portal's invoices with PDF download and the
invoice profile form; the clerks' invoices with PDF download and the fapiao number entry. Permissions
are the services' own; pages only hide what a visitor cannot use."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.billing import invoice_pdf, invoices
from openability.billing.invoice_rules import ProfileInput, rate_label
from openability.billing.types import InvoiceKind, InvoiceState, InvoiceType
from openability.console.pagekit import (
    FormError,
    OperatorPage,
    PartnerPage,
    act,
    error_page,
    field,
    page,
    page_args,
    partner_id_of,
    tr,
)
from openability.kernel.errors import AppError
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of
from openability.partners import service as partners
from openability.partners.rules import PARTNER_ROLE_PREFIX

router = APIRouter(prefix="/console", include_in_schema=False)

PORTAL = "/console/portal/invoices"
OPS = "/console/ops/invoices"


def _labels(request: Request) -> dict[str, str]:
    return {
        InvoiceKind.STATEMENT.value: tr(request, "后付费结算单"),
        InvoiceKind.TOP_UP.value: tr(request, "预付费充值"),
        InvoiceKind.CONSUMPTION.value: tr(request, "预付费月度消费"),
        InvoiceType.GENERAL.value: tr(request, "普通发票"),
        InvoiceType.SPECIAL.value: tr(request, "专用发票"),
        InvoiceState.ISSUED.value: tr(request, "待税务开票"),
        InvoiceState.FAPIAO_RECORDED.value: tr(request, "已录入税务发票"),
    }


def _pager(base_url: str, params: dict[str, str | int], off: int, lim: int, total: int) -> tuple[str, str]:
    prev_url = f"{base_url}?{urlencode(params | {'offset': max(0, off - lim)})}" if off > 0 else ""
    next_url = f"{base_url}?{urlencode(params | {'offset': off + lim})}" if off + lim < total else ""
    return prev_url, next_url


async def _pdf(request: Request, actor: Actor, invoice_ref: str, back: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            filename, data = await invoices.invoice_pdf_of(uow, invoice_ref)
    except AppError as exc:
        return error_page(request, actor, exc, back)
    return Response(
        data,
        media_type=invoice_pdf.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---- portal --------------------------------------------------------------------------------------


@router.get("/portal/invoices")
async def portal_invoices(
    request: Request, actor: PartnerPage, offset: str = "", limit: str = ""
) -> Response:
    off, lim = page_args(offset, limit)
    try:
        async with container_of(request).uow(actor) as uow:
            pid = partner_id_of(actor)
            profile = await invoices.get_profile(uow, pid)
            rows, total = await invoices.list_invoices(uow, offset=off, limit=lim)
            rate = invoices.rate_of(uow.settings)
    except AppError as exc:
        return error_page(request, actor, exc, "/console/portal")
    prev_url, next_url = _pager(PORTAL, {"limit": lim}, off, lim, total)
    return page(
        request,
        "billing_portal_invoices.html",
        actor,
        profile=profile,
        invoices=rows,
        total=total,
        labels=_labels(request),
        rate=rate_label(rate),
        types=[t.value for t in InvoiceType],
        can_edit=any(PARTNER_ROLE_PREFIX + r in actor.roles for r in invoices.PARTNER_ROLES),
        prev_url=prev_url,
        next_url=next_url,
    )


def _profile_form(form: FormData) -> ProfileInput:
    raw_type = field(form, "invoice_type", max_len=20) or InvoiceType.GENERAL.value
    try:
        kind = InvoiceType(raw_type)
    except ValueError:
        raise FormError(f"invoice_type: {raw_type!r}") from None
    return ProfileInput(
        field(form, "buyer_name", max_len=200),
        field(form, "credit_code", max_len=40),
        field(form, "bank_name", max_len=100),
        field(form, "bank_account", max_len=60),
        field(form, "address", max_len=200),
        field(form, "phone", max_len=40),
        kind,
    )


@router.post("/portal/invoices/profile")
async def portal_profile_submit(request: Request, actor: PartnerPage) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        await invoices.set_profile(uow, partner_id_of(actor), _profile_form(form))
        return tr(request, "开票信息已保存")

    return await act(request, actor, fn, ok_url=PORTAL)


@router.get("/portal/invoices/{invoice_ref}/pdf")
async def portal_invoice_pdf(request: Request, actor: PartnerPage, invoice_ref: str) -> Response:
    return await _pdf(request, actor, invoice_ref, PORTAL)


# ---- operators -----------------------------------------------------------------------------------


@router.get("/ops/invoices")
async def ops_invoices(
    request: Request,
    actor: OperatorPage,
    state: str = "all",
    partner_id: str = "",
    offset: str = "",
    limit: str = "",
) -> Response:
    off, lim = page_args(offset, limit)
    st = InvoiceState(state) if state in {s.value for s in InvoiceState} else None
    try:
        async with container_of(request).uow(actor) as uow:
            rows, total = await invoices.list_invoices(
                uow, partner_id=partner_id or None, state=st, offset=off, limit=lim
            )
            names = await partners.partner_names(uow, {i.partner_id for i in rows})
    except AppError as exc:
        return error_page(request, actor, exc, "/console/ops/partners")
    params: dict[str, str | int] = {"state": st.value if st else "all", "limit": lim}
    if partner_id:
        params["partner_id"] = partner_id
    prev_url, next_url = _pager(OPS, params, off, lim, total)
    return page(
        request,
        "billing_ops_invoices.html",
        actor,
        invoices=rows,
        total=total,
        state=st.value if st else "all",
        states=[s.value for s in InvoiceState],
        partner_id=partner_id,
        partner_names=names,
        labels=_labels(request),
        can_record=actor.has_role(*invoices.BILLING_ROLES),
        prev_url=prev_url,
        next_url=next_url,
    )


@router.post("/ops/invoices/{invoice_ref}/fapiao")
async def ops_fapiao_submit(request: Request, actor: OperatorPage, invoice_ref: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        number = field(form, "fapiao_number", max_len=40)
        raw = field(form, "fapiao_date", max_len=10)
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise FormError(tr(request, "请填写开票日期（YYYY-MM-DD）")) from None
        inv = await invoices.record_fapiao(uow, invoice_ref, number, day)
        return tr(request, "已录入税务发票号码 %(fapiao)s（%(invoice)s）", fapiao=number, invoice=inv.number)

    return await act(request, actor, fn, ok_url=OPS)


@router.get("/ops/invoices/{invoice_ref}/pdf")
async def ops_invoice_pdf(request: Request, actor: OperatorPage, invoice_ref: str) -> Response:
    return await _pdf(request, actor, invoice_ref, OPS)
