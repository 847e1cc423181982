"""Console pages of the month's statements (R-BILL-02..06).

Billing clerk (operators): bill runs with their progress and results, statements (filters, figures,
lines, the actions their state allows: issue the drafts, confirm or record a dispute on the partner's
behalf), disputes with the matching report. Partner portal: its statements, confirm, dispute with its
total or its record list (a CSV upload), the raw usage log (the statements API's usage.csv).

Who sees what is the services' decision (billing/statements.py, reconciliation.py, statement_reads.py):
another partner's statement answers 404 as an unknown one does; pages only hide buttons.

Other billing pages hook in without editing these templates: a template named
`billing_ops_tabs_more.html` adds tabs to the clerk's billing tabs (collections, invoices),
`billing_statement_more.html` adds a section to a statement's page (its invoice: `s`, `side`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Request, UploadFile
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as FormFile
from starlette.responses import Response

from openability.billing import reconciliation, statement_reads, statement_rules, statements
from openability.billing.statement_api import MAX_RECORDS_BYTES
from openability.billing.types import BillRunState, DisputeOutcome, StatementState
from openability.console.i18n import N_, gettext_for
from openability.console.pagekit import (
    FormError,
    OperatorPage,
    Panel,
    PartnerPage,
    act,
    error_page,
    field,
    label,
    page,
    page_args,
    partner_id_of,
    tr,
)
from openability.console.web import lang_of, redirect
from openability.kernel.errors import AppError
from openability.kernel.money import fmt_fen, parse_money
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of
from openability.partners import service as partners

router = APIRouter(prefix="/console", include_in_schema=False)

OPS = "/console/ops/billing"
PORTAL = "/console/portal/statements"
CLERK_ROLES = statements.STATEMENT_ROLES

# Labels of the billing values whose words differ from pagekit.LABELS' (there "completed" is an order's
# 已生效; a bill run's is 已完成), so billing pages look here first.
LABELS: dict[str, str] = {
    "draft": N_("草稿"),
    "issued": N_("已出具"),
    "confirmed": N_("已确认"),
    "disputed": N_("有异议"),
    "settled": N_("已结清"),
    "running": N_("进行中"),
    "completed": N_("已完成"),
    "usage": N_("用量"),
    "adjustment": N_("调整"),
    "rounding": N_("四舍五入"),
    "partner": N_("伙伴确认"),
    "deemed": N_("逾期视为确认"),
    "total": N_("按总额"),
    "records": N_("按记录清单"),
    "open": N_("处理中"),
    "closed": N_("已关闭"),
    "stands": N_("维持原结算单"),
    "adjusted": N_("差额计入下月"),
    "billed": N_("已出账"),
    "charged": N_("暂估（未出账）"),
    "unbilled": N_("未出账"),
    "current": N_("未到期"),
    "1-30": N_("逾期 1–30 天"),
    "31-60": N_("逾期 31–60 天"),
    "61-90": N_("逾期 61–90 天"),
    "90+": N_("逾期 90 天以上"),
}


def billing_label(value: object, lang: str) -> str:
    key = str(getattr(value, "value", value) or "")
    text = LABELS.get(key)
    return label(value, lang) if text is None else gettext_for(lang, text)


def bpage(request: Request, template: str, actor: Actor, **ctx: Any) -> Response:
    lang = lang_of(request)
    return page(request, template, actor, BL=lambda v: billing_label(v, lang), **ctx)


def pager(base: str, params: Mapping[str, object], off: int, lim: int, total: int) -> dict[str, str]:
    keep = {k: v for k, v in params.items() if v not in (None, "")} | {"limit": lim}
    return {
        "prev_url": f"{base}?{urlencode(keep | {'offset': max(0, off - lim)})}" if off > 0 else "",
        "next_url": f"{base}?{urlencode(keep | {'offset': off + lim})}" if off + lim < total else "",
    }


def _enum(enum_cls: Any, raw: str) -> Any:
    try:
        return enum_cls(raw) if raw else None
    except ValueError:
        return None


def _answerable(uow: UnitOfWork, s: Any) -> bool:
    """R-BILL-04/05: issued, and its window still open."""
    return bool(s.state == StatementState.ISSUED and (s.confirm_by is None or uow.now < s.confirm_by))


# ---- operator: bill runs ------------------------------------------------------------------------------


@router.get("/ops/billing")
async def billing_home(actor: OperatorPage) -> Response:
    return redirect(f"{OPS}/dashboard" if actor.has_role(*CLERK_ROLES) else f"{OPS}/statements")


@router.get("/ops/billing/runs")
async def runs_page(request: Request, actor: OperatorPage, offset: str = "", limit: str = "") -> Response:
    off, lim = page_args(offset, limit)
    try:
        async with container_of(request).uow(actor) as uow:
            runs, total = await statement_reads.list_bill_runs(uow, offset=off, limit=lim)
            unbilled = await statement_reads.unbilled_months(uow)
    except AppError as exc:
        return error_page(request, actor, exc, OPS)
    return bpage(
        request,
        "billing_ops_runs.html",
        actor,
        runs=runs,
        total=total,
        unbilled=unbilled,
        **pager(f"{OPS}/runs", {}, off, lim, total),
    )


async def _run_context(uow: UnitOfWork, month: str) -> dict[str, Any]:
    run = await statement_reads.bill_run_view(uow, month)
    return {"run": run, "month": month, "running": run is not None and run.state == BillRunState.RUNNING}


@router.get("/ops/billing/runs/{month}")
async def run_page(request: Request, actor: OperatorPage, month: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            ctx = await _run_context(uow, statements.parse_month(month))
            figures = await statement_reads.run_figures(uow, month)
            drafts = await statement_reads.drafts_of(uow, month)
            rows, count = await statements.list_statements(uow, month=month, limit=20)
            names = await partners.partner_names(uow, {s.partner_id for s in rows})
    except AppError as exc:
        return error_page(request, actor, exc, f"{OPS}/runs")
    done = ctx["run"] is not None and ctx["run"].state == BillRunState.COMPLETED
    return bpage(
        request,
        "billing_ops_run.html",
        actor,
        **ctx,
        figures=figures,
        drafts=drafts,
        statements=rows,
        statement_count=count,
        partner_names=names,
        can_issue=done and drafts > 0 and actor.has_role(*CLERK_ROLES),
    )


@router.get("/ops/billing/runs/{month}/progress")
async def run_progress(request: Request, actor: OperatorPage, month: str) -> Response:
    """The progress box alone (htmx polls it while the run is running)."""
    try:
        async with container_of(request).uow(actor) as uow:
            ctx = await _run_context(uow, statements.parse_month(month))
    except AppError as exc:
        return error_page(request, actor, exc, f"{OPS}/runs")
    return bpage(request, "billing_ops_run_progress.html", actor, **ctx)


@router.post("/ops/billing/runs/{month}/issue")
async def run_issue(request: Request, actor: OperatorPage, month: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> str | None:
        n = await statements.issue_statements(uow, statements.parse_month(month))
        return tr(request, "已出具 %(n)s 份结算单，并已通知合作伙伴", n=n)

    return await act(request, actor, fn, ok_url=f"{OPS}/runs/{month}")


# ---- operator: statements -----------------------------------------------------------------------------


@router.get("/ops/billing/statements")
async def ops_statements(
    request: Request,
    actor: OperatorPage,
    month: str = "",
    state: str = "",
    partner_id: str = "",
    offset: str = "",
    limit: str = "",
) -> Response:
    off, lim = page_args(offset, limit)
    st: StatementState | None = _enum(StatementState, state)
    filters = {"month": month.strip(), "state": st.value if st else "", "partner_id": partner_id.strip()}
    try:
        async with container_of(request).uow(actor) as uow:
            rows, total = await statements.list_statements(
                uow,
                month=filters["month"] or None,
                state=st,
                partner_id=filters["partner_id"] or None,
                offset=off,
                limit=lim,
            )
            names = await partners.partner_names(uow, {s.partner_id for s in rows})
            choices = await partners.partner_names(uow, limit=200)
    except AppError as exc:
        return redirect(f"{OPS}/statements", error=exc.message)
    return bpage(
        request,
        "billing_ops_statements.html",
        actor,
        statements=rows,
        total=total,
        filters=filters,
        states=[s.value for s in StatementState],
        partner_names=names,
        partner_choices=sorted(choices.items(), key=lambda kv: kv[1]),
        **pager(f"{OPS}/statements", filters, off, lim, total),
    )


async def _statement_context(uow: UnitOfWork, statement_id: str) -> dict[str, Any]:
    d = await statements.statement_detail(uow, statement_id)
    dispute = await statement_reads.dispute_detail(uow, d.dispute.id) if d.dispute else None
    partner = await partners.partner_names(uow, [d.statement.partner_id])
    return {
        "s": d.statement,
        "lines": d.lines,
        "dispute": dispute,
        "partner_name": partner.get(d.statement.partner_id, d.statement.partner_id),
        "answerable": _answerable(uow, d.statement),
        "threshold": uow.settings.dispute_threshold_percent,
    }


@router.get("/ops/billing/statements/{statement_id}")
async def ops_statement(request: Request, actor: OperatorPage, statement_id: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            ctx = await _statement_context(uow, statement_id)
    except AppError as exc:
        return error_page(request, actor, exc, f"{OPS}/statements")
    return bpage(
        request,
        "billing_ops_statement.html",
        actor,
        **ctx,
        side="ops",
        base=f"{OPS}/statements/{statement_id}",
        can_act=actor.has_role(*CLERK_ROLES),
    )


async def _confirm(request: Request, actor: Actor, statement_id: str, back: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> str | None:
        s = await statements.confirm_statement(uow, statement_id)
        return tr(request, "已确认 %(month)s 结算单，合计 ¥%(total)s", month=s.month, total=fmt_fen(s.total))

    return await act(request, actor, fn, ok_url=back)


async def _record_ids(request: Request, form: FormData) -> list[str]:
    upload = form.get("records")
    if not isinstance(upload, FormFile) or not upload.filename:
        raise FormError(tr(request, "请选择记录清单文件（CSV）"))
    data = await upload.read(MAX_RECORDS_BYTES + 1)
    if len(data) > MAX_RECORDS_BYTES:
        raise FormError(tr(request, "记录清单文件过大"))
    try:
        return statement_rules.parse_record_ids(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise FormError(tr(request, "记录清单须为 UTF-8 编码的 CSV 文件")) from None
    except ValueError as exc:
        raise FormError(f"records: {exc}") from None


async def _dispute(request: Request, actor: Actor, statement_id: str, back: str) -> Response:
    """R-BILL-05/06: the partner's total or its record list (a multipart form); matched, decided and
    closed at once by reconciliation.open_dispute."""

    async def fn(uow: UnitOfWork, form: FormData) -> str | None:
        reason = field(form, "reason", max_len=500)
        if field(form, "basis", max_len=10) == "records":
            ids = await _record_ids(request, form)
            d = await reconciliation.open_dispute(uow, statement_id, record_ids=ids, reason=reason)
        else:
            raw = field(form, "partner_total", max_len=40).replace(",", "")
            if not raw:
                raise FormError(tr(request, "请填写贵方核对的总额"))
            total = parse_money(raw, field="partnerTotal", example="123.45")
            d = await reconciliation.open_dispute(uow, statement_id, partner_total=total, reason=reason)
        if d.outcome == DisputeOutcome.ADJUSTED:
            return tr(
                request,
                "异议已处理：差额 ¥%(diff)s 超过阈值，将计入下月结算单",
                diff=fmt_fen(d.discrepancy),
            )
        return tr(
            request, "异议已处理：差额 ¥%(diff)s 未超过阈值，结算单维持原样", diff=fmt_fen(d.discrepancy)
        )

    return await act(request, actor, fn, ok_url=back)


@router.post("/ops/billing/statements/{statement_id}/confirm")
async def ops_confirm(request: Request, actor: OperatorPage, statement_id: str) -> Response:
    return await _confirm(request, actor, statement_id, f"{OPS}/statements/{statement_id}")


# The `records` parameter declares the upload, so the request body limit is the upload limit (a record
# list of ~150,000 ids); the handler reads the form itself (act) and the file from it.
@router.post("/ops/billing/statements/{statement_id}/dispute")
async def ops_dispute(
    request: Request, actor: OperatorPage, statement_id: str, records: UploadFile | None = File(default=None)
) -> Response:
    return await _dispute(request, actor, statement_id, f"{OPS}/statements/{statement_id}")


# ---- operator: disputes -------------------------------------------------------------------------------


@router.get("/ops/billing/disputes")
async def ops_disputes(
    request: Request,
    actor: OperatorPage,
    month: str = "",
    outcome: str = "",
    partner_id: str = "",
    offset: str = "",
    limit: str = "",
) -> Response:
    off, lim = page_args(offset, limit)
    oc: DisputeOutcome | None = _enum(DisputeOutcome, outcome)
    filters = {"month": month.strip(), "outcome": oc.value if oc else "", "partner_id": partner_id.strip()}
    try:
        async with container_of(request).uow(actor) as uow:
            rows, total = await statement_reads.list_disputes(
                uow,
                month=filters["month"] or None,
                outcome=oc,
                partner_id=filters["partner_id"] or None,
                offset=off,
                limit=lim,
            )
            names = await partners.partner_names(uow, {r.dispute.partner_id for r in rows})
    except AppError as exc:
        return redirect(f"{OPS}/disputes", error=exc.message)
    return bpage(
        request,
        "billing_ops_disputes.html",
        actor,
        rows=rows,
        total=total,
        filters=filters,
        outcomes=[o.value for o in DisputeOutcome],
        partner_names=names,
        **pager(f"{OPS}/disputes", filters, off, lim, total),
    )


@router.get("/ops/billing/disputes/{dispute_id}")
async def ops_dispute_page(request: Request, actor: OperatorPage, dispute_id: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            detail = await statement_reads.dispute_detail(uow, dispute_id)
            names = await partners.partner_names(uow, [detail.dispute.partner_id])
    except AppError as exc:
        return error_page(request, actor, exc, f"{OPS}/disputes")
    return bpage(
        request,
        "billing_ops_dispute.html",
        actor,
        dispute=detail,
        partner_name=names.get(detail.dispute.partner_id, detail.dispute.partner_id),
        side="ops",
    )


# ---- partner portal -----------------------------------------------------------------------------------


@router.get("/portal/statements")
async def portal_statements(
    request: Request, actor: PartnerPage, offset: str = "", limit: str = ""
) -> Response:
    off, lim = page_args(offset, limit)
    try:
        async with container_of(request).uow(actor) as uow:
            rows, total = await statements.list_statements(
                uow, partner_id=partner_id_of(actor), offset=off, limit=lim
            )
            open_ids = {s.id for s in rows if _answerable(uow, s)}
    except AppError as exc:
        return error_page(request, actor, exc, "/console/portal")
    return bpage(
        request,
        "billing_portal_statements.html",
        actor,
        statements=rows,
        total=total,
        open_ids=open_ids,
        **pager(PORTAL, {}, off, lim, total),
    )


@router.get("/portal/statements/{statement_id}")
async def portal_statement(request: Request, actor: PartnerPage, statement_id: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            ctx = await _statement_context(uow, statement_id)
    except AppError as exc:
        return error_page(request, actor, exc, PORTAL)
    return bpage(
        request,
        "billing_portal_statement.html",
        actor,
        **ctx,
        side="portal",
        base=f"{PORTAL}/{statement_id}",
        can_act=True,
    )


@router.post("/portal/statements/{statement_id}/confirm")
async def portal_confirm(request: Request, actor: PartnerPage, statement_id: str) -> Response:
    return await _confirm(request, actor, statement_id, f"{PORTAL}/{statement_id}")


@router.post("/portal/statements/{statement_id}/dispute")
async def portal_dispute(
    request: Request, actor: PartnerPage, statement_id: str, records: UploadFile | None = File(default=None)
) -> Response:
    return await _dispute(request, actor, statement_id, f"{PORTAL}/{statement_id}")


# ---- the operator's partner page: its latest statements --------------------------------------------


async def _partner_statements(uow: UnitOfWork, partner_id: str) -> Mapping[str, Any]:
    rows, total = await statements.list_statements(uow, partner_id=partner_id, limit=6)
    return {"statements": rows, "total": total, "partner_id": partner_id, "labels": LABELS}


PARTNER_STATEMENTS = Panel("billing_partner_statements.html", _partner_statements)
