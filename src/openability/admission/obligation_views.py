"""Console pages of an admitted SI's standing obligations (R-OBLIG-01..04) and of the end of its
cooperation (R-EXIT-01/03).

- the partner portal: `/console/portal/obligations` (the interface contact and its change with the
  handover, change notices, the reports requested with their due dates, publicity filings) and
  `/console/portal/profile` (status, the contract, the certificates with their expiry);
- operators: `/console/ops/obligations` (overdue reports across SIs, publicity and contact changes
  waiting, exit bans), one partner's obligations with the reviewer's forms (request a report, decide
  publicity, record a handover), and the termination behind its confirmation page.

Pages call one service each (admission.obligations, admission.service); permissions are the services'
own: a partner reaches only its own rows (404 otherwise), an operator without the reviewer role is
answered 403 (pagekit.act(refuse=True))."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, File, Request, UploadFile
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.admission import obligations, rules, service
from openability.admission.schemas import BanIn
from openability.admission.types import ContractState
from openability.admission.views import LABELS, _file, _label, _page
from openability.console.pagekit import (
    FormError,
    OperatorPage,
    PartnerPage,
    act,
    error_page,
    field,
    int_field,
    partner_id_of,
    tr,
)
from openability.console.web import lang_of
from openability.kernel.clock import SHANGHAI
from openability.kernel.errors import AppError
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of
from openability.partners import service as partners

router = APIRouter(prefix="/console", include_in_schema=False)

PORTAL = "/console/portal/obligations"
PROFILE = "/console/portal/profile"
OPS = "/console/ops/obligations"


def _when(form: FormData, name: str, *, end_of_day: bool = False) -> datetime:
    """A form's date-time (`datetime-local`, Beijing time) or date (its start, or with `end_of_day` its
    last minute) as an aware datetime."""
    raw = field(form, name, max_len=20)
    if not raw:
        raise FormError(f"{name}: YYYY-MM-DD HH:MM")
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            at = time(23, 59) if end_of_day else time(0, 0)
            return datetime.combine(d, at, tzinfo=SHANGHAI)
        return datetime.fromisoformat(raw.replace(" ", "T")).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise FormError(f"{name}: YYYY-MM-DD HH:MM") from None


def _act(
    request: Request,
    actor: Actor,
    fn: Callable[[UnitOfWork, FormData], Awaitable[str | None]],
    url: str,
    flash: str,
) -> Awaitable[Response]:
    return act(request, actor, fn, ok_url=url, flash=flash, refuse=True)


async def _optional_file(request: Request, up: UploadFile | None) -> tuple[str, bytes] | None:
    """A file field left empty arrives as a part with no name and no bytes: no file."""
    if up is None:
        return None
    name, data = await _file(request, up)
    return None if not name and not data else (name, data)


async def _download(request: Request, actor: Actor, owner_type: str, owner_id: str, back: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            doc, data = await obligations.filed_file(uow, owner_type, owner_id)
    except AppError as exc:
        return error_page(request, actor, exc, back)
    headers = {
        "content-disposition": f"attachment; filename*=UTF-8''{quote(doc.filename)}",
        "x-content-type-options": "nosniff",
    }
    return Response(data, media_type=doc.content_type, headers=headers)


async def _obligations(uow: UnitOfWork, partner_id: str) -> dict[str, Any]:
    o = await obligations.obligations(uow, partner_id)
    now = uow.now
    return {
        "contact": next((c for c in o.contacts if c.state == "current"), None),
        "pending_change": next((c for c in o.contacts if c.state == "requested"), None),
        "contacts": o.contacts,
        "notices": o.notices,
        "reports": [(r, rules.report_overdue(r.state, r.due_at, now)) for r in o.reports],
        "publicity": o.publicity,
        "files": await obligations.filed_files(uow, partner_id),
        "now": now,
        "report_kinds": sorted(rules.REPORT_KINDS),
        "change_kinds": sorted(rules.CHANGE_KINDS),
        "notice_days": uow.settings.change_notice_lead_days,
        "contact_days": uow.settings.contact_change_lead_days,
    }


# ---- the partner portal ------------------------------------------------------------------------


@router.get("/portal/obligations")
async def portal_obligations(request: Request, actor: PartnerPage) -> Response:
    pid = partner_id_of(actor)
    try:
        async with container_of(request).uow(actor) as uow:
            ctx = await _obligations(uow, pid)
            partner = await partners.partner_ref(uow, pid)
    except AppError as exc:
        return error_page(request, actor, exc, "/console/portal")
    return _page(
        request,
        "obligations_portal.html",
        actor,
        partner=partner,
        can_file=service.is_partner_admin(actor) and partner.status.value != "exited",
        base=PORTAL,
        **ctx,
    )


@router.post("/portal/obligations/contact")
async def portal_contact(request: Request, actor: PartnerPage) -> Response:
    """R-OBLIG-01: the first interface contact, or a change filed in advance."""
    pid = partner_id_of(actor)

    async def fn(uow: UnitOfWork, form: FormData) -> str:
        first = await obligations.current_contact(uow, pid) is None
        row = await obligations.file_contact_change(
            uow,
            pid,
            name=field(form, "name", max_len=100),
            phone=field(form, "phone", max_len=40),
            email=field(form, "email", max_len=200),
            effective_at=uow.now if first else _when(form, "effective_at"),
            reason=field(form, "reason", max_len=300),
        )
        if first:
            return tr(request, "接口人已指定：%(name)s", name=row.name)
        return tr(request, "接口人变更已提交，待交接：%(name)s", name=row.name)

    return await _act(request, actor, fn, PORTAL, "")


@router.post("/portal/obligations/contact-changes/{change_id}/handover")
async def portal_handover(request: Request, actor: PartnerPage, change_id: str) -> Response:
    return await _handover(request, actor, change_id, PORTAL)


@router.post("/portal/obligations/notices")
async def portal_notice(request: Request, actor: PartnerPage) -> Response:
    """R-OBLIG-02: a product upgrade or a bank-account change, refused with its reason when too late."""
    pid = partner_id_of(actor)

    async def fn(uow: UnitOfWork, form: FormData) -> None:
        await obligations.file_change_notice(
            uow,
            pid,
            kind=field(form, "kind", max_len=30),
            summary=field(form, "summary", max_len=2000),
            effective_at=_when(form, "effective_at"),
        )

    return await _act(request, actor, fn, PORTAL, tr(request, "变更告知已提交"))


@router.post("/portal/obligations/reports/{report_id}/submit")
async def portal_report(
    request: Request, actor: PartnerPage, report_id: str, file: UploadFile | None = File(default=None)
) -> Response:
    """R-OBLIG-03: a requested report, with a note and/or its file (a late one is accepted, marked late)."""

    async def fn(uow: UnitOfWork, form: FormData) -> None:
        data = await _optional_file(request, file)
        await obligations.submit_report(uow, report_id, field(form, "note", max_len=2000), data)

    return await _act(request, actor, fn, PORTAL, tr(request, "报告已提交"))


@router.post("/portal/obligations/publicity")
async def portal_publicity(
    request: Request, actor: PartnerPage, file: UploadFile | None = File(default=None)
) -> Response:
    """R-OBLIG-04: publicity material filed (with its file) for approval before publication."""
    pid = partner_id_of(actor)

    async def fn(uow: UnitOfWork, form: FormData) -> None:
        data = await _optional_file(request, file)
        if data is None:
            raise FormError(tr(request, "请选择宣传材料文件"))
        await obligations.file_publicity(
            uow,
            pid,
            title=field(form, "title", max_len=200),
            channel=field(form, "channel", max_len=100),
            file=data,
        )

    return await _act(request, actor, fn, PORTAL, tr(request, "宣传材料已报备，待审核"))


@router.get("/portal/obligations/reports/{report_id}/file")
async def portal_report_file(request: Request, actor: PartnerPage, report_id: str) -> Response:
    return await _download(request, actor, "report", report_id, PORTAL)


@router.get("/portal/obligations/publicity/{filing_id}/file")
async def portal_publicity_file(request: Request, actor: PartnerPage, filing_id: str) -> Response:
    return await _download(request, actor, "publicity", filing_id, PORTAL)


@router.get("/portal/profile")
async def portal_profile(request: Request, actor: PartnerPage) -> Response:
    """The partner's profile: its status, its contract (number, scope, billing mode, deposit, validity,
    price band) and the certificates that count for it with their expiry."""
    pid = partner_id_of(actor)
    try:
        async with container_of(request).uow(actor) as uow:
            partner = await partners.partner_ref(uow, pid)
            contracts, _ = await service.list_contracts(uow, partner_id=pid, limit=50)
            certificates = await service.partner_certificates(uow, pid)
            contact = await obligations.current_contact(uow, pid)
    except AppError as exc:
        return error_page(request, actor, exc, "/console/portal")
    live = (ContractState.IN_FORCE, ContractState.SIGNED)
    current = next((c for c in contracts if c.state in live), None) or next(iter(contracts), None)
    return _page(
        request,
        "obligations_profile.html",
        actor,
        partner=partner,
        contract=current,
        contracts=contracts,
        certificates=certificates,
        contact=contact,
        labels=LABELS,
    )


# ---- operators ---------------------------------------------------------------------------------


@router.get("/ops/obligations")
async def ops_overview(request: Request, actor: OperatorPage, bans: str = "active") -> Response:
    """Overdue reports across SIs, publicity filings and contact changes waiting, the exit bans."""
    active: bool | None = None if bans == "all" else True
    try:
        async with container_of(request).uow(actor) as uow:
            overdue, overdue_total = await obligations.list_reports(uow, overdue=True, limit=200)
            filings, changes = await obligations.waiting(uow)
            ban_rows, ban_total = await service.list_bans(uow, active=active, limit=200)
            ids = {r.partner_id for r in overdue} | {p.partner_id for p in filings}
            ids |= {c.partner_id for c in changes}
            names = await partners.partner_names(uow, ids) if ids else {}
            now = uow.now
    except AppError as exc:
        return error_page(request, actor, exc, "/console/ops/partners")
    return _page(
        request,
        "obligations_ops.html",
        actor,
        overdue=overdue,
        overdue_total=overdue_total,
        filings=filings,
        changes=changes,
        bans=ban_rows,
        ban_total=ban_total,
        all_bans=active is None,
        names=names,
        now=now,
        can_review=service.is_reviewer(actor),
        today=now.astimezone(SHANGHAI).date().isoformat(),
    )


@router.get("/ops/obligations/partners/{partner_id}")
async def ops_partner(request: Request, actor: OperatorPage, partner_id: str) -> Response:
    try:
        async with container_of(request).uow(actor) as uow:
            partner = await partners.partner_ref(uow, partner_id)
            ctx = await _obligations(uow, partner_id)
    except AppError as exc:
        return error_page(request, actor, exc, OPS)
    due = (ctx["now"] + timedelta(days=30)).astimezone(SHANGHAI).date().isoformat()
    return _page(
        request,
        "obligations_ops_partner.html",
        actor,
        partner=partner,
        can_review=service.is_reviewer(actor),
        base=f"{OPS}/partners/{partner_id}",
        default_due=due,
        **ctx,
    )


@router.post("/ops/obligations/partners/{partner_id}/reports")
async def ops_request_report(request: Request, actor: OperatorPage, partner_id: str) -> Response:
    """R-OBLIG-03: a report requested by a due date (the end of that day, Beijing time)."""

    async def fn(uow: UnitOfWork, form: FormData) -> None:
        months = field(form, "recurrence_months", max_len=3)
        await obligations.request_report(
            uow,
            partner_id,
            kind=field(form, "kind", max_len=40),
            title=field(form, "title", max_len=200),
            due_at=_when(form, "due_at", end_of_day=True),
            recurrence_months=int_field(form, "recurrence_months") if months else None,
        )

    return await _act(request, actor, fn, f"{OPS}/partners/{partner_id}", tr(request, "已要求提交报告"))


@router.post("/ops/obligations/publicity/{filing_id}/decision")
async def ops_decide_publicity(request: Request, actor: OperatorPage, filing_id: str) -> Response:
    """R-OBLIG-04: approve, or reject with the reason."""
    back = field(request.query_params, "back", max_len=200)
    url = back if back.startswith(f"{OPS}/partners/") else OPS

    async def fn(uow: UnitOfWork, form: FormData) -> str:
        verdict = field(form, "decision", max_len=10)
        if verdict not in ("approve", "reject"):
            raise FormError(tr(request, "请选择批准或驳回"))
        row = await obligations.decide_publicity(
            uow, filing_id, verdict == "approve", field(form, "comment", max_len=1000)
        )
        return tr(request, "宣传材料：%(state)s", state=_label(lang_of(request))(row.state))

    return await _act(request, actor, fn, url, "")


async def _handover(request: Request, actor: Actor, change_id: str, url: str) -> Response:
    """R-OBLIG-01: the handover recorded; the new contact becomes current."""

    async def fn(uow: UnitOfWork, form: FormData) -> str:
        row = await obligations.record_handover(uow, change_id, field(form, "note", max_len=2000))
        return tr(request, "交接已记录，现任接口人：%(name)s", name=row.name)

    return await _act(request, actor, fn, url, "")


@router.post("/ops/obligations/contact-changes/{change_id}/handover")
async def ops_handover(request: Request, actor: OperatorPage, change_id: str) -> Response:
    back = field(request.query_params, "back", max_len=200)
    return await _handover(request, actor, change_id, back if back.startswith(f"{OPS}/partners/") else OPS)


@router.get("/ops/obligations/reports/{report_id}/file")
async def ops_report_file(request: Request, actor: OperatorPage, report_id: str) -> Response:
    return await _download(request, actor, "report", report_id, OPS)


@router.get("/ops/obligations/publicity/{filing_id}/file")
async def ops_publicity_file(request: Request, actor: OperatorPage, filing_id: str) -> Response:
    return await _download(request, actor, "publicity", filing_id, OPS)


@router.post("/ops/obligations/bans")
async def ops_record_ban(request: Request, actor: OperatorPage) -> Response:
    """R-EXIT-03: a company (or one business category of it) may not apply again for a year."""

    async def fn(uow: UnitOfWork, form: FormData) -> str:
        data: dict[str, Any] = {"reason": field(form, "reason", max_len=300)}
        for k in ("partner_id", "credit_code", "company_name", "business_category", "since"):
            if raw := field(form, k, max_len=200):
                data[k] = raw
        ban = await service.record_ban(uow, BanIn.model_validate(data))
        return tr(request, "已记录退出限制，至 %(until)s", until=ban.until.isoformat())

    return await _act(request, actor, fn, OPS, "")


@router.get("/ops/obligations/partners/{partner_id}/terminate")
async def ops_terminate_page(request: Request, actor: OperatorPage, partner_id: str) -> Response:
    """The confirmation before a termination: what it will do."""
    try:
        async with container_of(request).uow(actor) as uow:
            partner = await partners.partner_ref(uow, partner_id)
            contracts, _ = await service.list_contracts(uow, partner_id=partner_id, limit=50)
            clients = await partners.active_client_count(uow, partner_id)
    except AppError as exc:
        return error_page(request, actor, exc, OPS)
    live = [c for c in contracts if c.state in (ContractState.SIGNED, ContractState.IN_FORCE)]
    return _page(
        request,
        "obligations_terminate.html",
        actor,
        partner=partner,
        contracts=live,
        clients=clients,
        can_review=service.is_reviewer(actor),
    )


@router.post("/ops/obligations/partners/{partner_id}/terminate")
async def ops_terminate(request: Request, actor: OperatorPage, partner_id: str) -> Response:
    """R-EXIT-01/03: the contract ends, the partner exits (credentials revoked), its orders are
    cancelled; exited for failing assessment: an exit ban. Needs the confirmation box ticked."""
    back = f"{OPS}/partners/{partner_id}/terminate"

    async def fn(uow: UnitOfWork, form: FormData) -> str:
        if form.get("confirm") != "yes":
            service.require_reviewer(uow)  # a refusal of the role comes first (403)
            raise FormError(tr(request, "请勾选确认终止合作"))
        n = await service.terminate(
            uow,
            partner_id,
            field(form, "reason", max_len=300),
            failed_assessment=form.get("failed_assessment") == "on",
            category=field(form, "business_category", max_len=60) or None,
        )
        return tr(request, "合作已终止，已取消 %(n)s 个订购", n=n)

    return await act(
        request,
        actor,
        fn,
        ok_url=f"/console/ops/partners/{partner_id}",
        err_url=back,
        refuse=True,
    )
