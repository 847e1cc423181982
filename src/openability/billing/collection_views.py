"""Console pages of collections (R-BILL-07..09): the billing clerks' board (postpaid statements due, paid,
overdue; pending payment notices to confirm; funds to record; deposits against their required level) and
the partner portal's amounts due with the payment-notice form. Permissions are the services' own."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.billing import collections
from openability.billing import service as billing
from openability.billing.types import DueState, PaymentPurpose
from openability.billing.views import _amount, _new_transaction_id
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
from openability.kernel.money import MoneyError, fmt_fen, parse_money
from openability.kernel.uow import UnitOfWork
from openability.kernel.web import container_of
from openability.partners import service as partners

router = APIRouter(prefix="/console", include_in_schema=False)

BOARD = "/console/ops/collections"
DUES = "/console/portal/dues"


def _plain(amount: Decimal) -> str:
    """A form's prefilled amount: whole fen, plain digits."""
    return fmt_fen(amount)


def _state(raw: str) -> DueState | None:
    try:
        return DueState(raw) if raw else None
    except ValueError:
        return None


# ---- operator: the collections board ------------------------------------------------------------


@router.get("/ops/collections")
async def board_page(
    request: Request,
    actor: OperatorPage,
    state: str = "",
    month: str = "",
    suspended: str = "",
    offset: str = "",
    limit: str = "",
) -> Response:
    off, lim = page_args(offset, limit)
    st = _state(state)
    susp = True if suspended == "yes" else None
    try:
        async with container_of(request).uow(actor) as uow:
            rows, total = await collections.board(
                uow, state=st, month=month or None, suspended=susp, offset=off, limit=lim
            )
            pids = sorted({r.partner_id for r in rows})
            names = await partners.partner_names(uow, pids)
            levels = {pid: await collections.deposit_level(uow, pid) for pid in pids}
            notices = await collections.pending_notices(uow, [r.statement_id for r in rows])
    except AppError as exc:
        return error_page(request, actor, exc, BOARD)
    base = {"state": st.value if st else "", "month": month, "suspended": suspended, "limit": lim}
    return page(
        request,
        "billing_ops_collections.html",
        actor,
        rows=rows,
        total=total,
        state=st.value if st else "",
        states=[s.value for s in DueState],
        month=month,
        suspended=suspended,
        partner_names=names,
        levels=levels,
        notices=notices,
        new_tx=_new_transaction_id,
        plain=_plain,
        can_act=actor.has_role("billing_clerk"),
        prev_url=f"{BOARD}?{urlencode(base | {'offset': max(0, off - lim)})}" if off > 0 else "",
        next_url=f"{BOARD}?{urlencode(base | {'offset': off + lim})}" if off + lim < total else "",
    )


@router.post("/ops/collections/notices/{payment_id}/confirm")
async def confirm_notice(request: Request, actor: OperatorPage, payment_id: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> str | None:
        p = await billing.confirm_payment(uow, payment_id)
        return tr(request, "已确认到账 ¥%(amount)s", amount=f"{p.amount:,.2f}")

    return await act(request, actor, fn, ok_url=BOARD)


@router.post("/ops/collections/notices/{payment_id}/reject")
async def reject_notice(request: Request, actor: OperatorPage, payment_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        reason = field(form, "reason", max_len=300)
        if not reason:
            raise FormError(tr(request, "请填写拒绝原因"))
        await billing.reject_payment(uow, payment_id, reason)
        return tr(request, "已拒绝 %(payment)s", payment=payment_id)

    return await act(request, actor, fn, ok_url=BOARD)


@router.post("/ops/collections/{statement_id}/payments")
async def record_funds(request: Request, actor: OperatorPage, statement_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        p = await collections.record_payment(
            uow,
            statement_id,
            transaction_id=field(form, "transaction_id", max_len=80),
            amount=_amount(form),
            bank_reference=field(form, "bank_reference", max_len=80),
        )
        return tr(request, "已确认到账 ¥%(amount)s", amount=f"{p.amount:,.2f}")

    return await act(request, actor, fn, ok_url=BOARD)


@router.post("/ops/collections/deposits/{partner_id}")
async def set_required(request: Request, actor: OperatorPage, partner_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        raw = field(form, "required", max_len=30).replace(",", "")
        try:
            amount = parse_money(raw, field="required", places=2, example="10000.00")
        except MoneyError as exc:
            raise FormError(str(exc)) from None
        level = await collections.set_required_deposit(uow, partner_id, amount)
        return tr(request, "应缴保证金已设为 ¥%(amount)s", amount=f"{level.required:,.2f}")

    return await act(request, actor, fn, ok_url=BOARD)


# ---- partner portal: amounts due and payment notices -------------------------------------------


@router.get("/portal/dues")
async def dues_page(request: Request, actor: PartnerPage) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            pid = partner_id_of(actor)
            partner = await partners.partner_ref(uow, pid)
            rows, _ = await collections.board(uow, limit=50)
            level = await collections.deposit_level(uow, pid)
            payments, _ = await billing.list_payments(uow, limit=50)
    except AppError as exc:
        return error_page(request, actor, exc, "/console/portal")
    unpaid = [r for r in rows if r.state != DueState.PAID]
    return page(
        request,
        "billing_portal_dues.html",
        actor,
        partner=partner,
        rows=rows,
        owed=sum((r.unpaid for r in unpaid), Decimal(0)),
        unpaid=unpaid,
        level=level,
        notices=[p for p in payments if p.purpose == PaymentPurpose.STATEMENT],
        new_tx=_new_transaction_id,
        plain=_plain,
    )


@router.post("/portal/dues/{statement_id}/notice")
async def notice_submit(request: Request, actor: PartnerPage, statement_id: str) -> Response:
    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        reference = field(form, "bank_reference", max_len=80)
        if not reference:
            raise FormError(tr(request, "请填写银行流水号"))
        payment, created = await collections.file_notice(
            uow,
            statement_id,
            transaction_id=field(form, "transaction_id", max_len=80),
            amount=_amount(form),
            bank_reference=reference,
        )
        if not created:
            return tr(request, "该笔支付已处理，未重复入账")
        return tr(request, "付款通知已提交：¥%(amount)s，待平台确认到账", amount=f"{payment.amount:,.2f}")

    return await act(request, actor, fn, ok_url=DUES)
