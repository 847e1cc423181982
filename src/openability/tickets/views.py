"""Console pages: the agent queue and ticket page, the calendar override admin, the SLA report, and the
partner portal's ticket list, form and conversation. Forms carry the session's CSRF token and post
through console.pagekit.act (check the token, one unit of work, redirect with a flash: PRG)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.datastructures import FormData
from starlette.responses import Response

from openability.console.pagekit import OperatorPage, PartnerPage, act, page
from openability.console.web import lang_of, redirect
from openability.kernel import calendar_admin
from openability.kernel.clock import SHANGHAI, business_date, month_key
from openability.kernel.errors import AppError
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of
from openability.tickets import attachments, rules, service, sla
from openability.tickets.api import read_upload
from openability.tickets.rules import SUBTYPES, Action, Importance, TicketState, TicketType
from openability.tickets.schemas import CommentIn, CreateTicket, TransitionIn

router = APIRouter(prefix="/console", include_in_schema=False)

OPS = "/console/ops/tickets"
PORTAL = "/console/portal/tickets"


def _common(uow: UnitOfWork, lang: str) -> dict[str, Any]:
    return {
        "now_epoch": int(uow.now.timestamp()),
        "L": lambda v: rules.label(v, lang),
        "countdown": lambda due: rules.countdown(due, uow.now, lang),
        "SUBTYPES": {t.value: [s.value for s in subs] for t, subs in SUBTYPES.items()},
        "TYPES": [t.value for t in TicketType],
        "STATES": [s.value for s in TicketState],
        "IMPORTANCES": [i.value for i in Importance],
        "limit_text": lambda s: sla.parse_span(s).text(lang),
        "fmt_time": lambda dt: dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if dt else "",
        "fmt_due": rules.format_due,
    }


def _create_cmd(form: FormData | dict[str, Any]) -> CreateTicket:
    calls = [c for c in str(form.get("related_call_ids", "")).replace(",", " ").split() if c]
    data: dict[str, Any] = {
        "type": form.get("type", ""),
        "subtype": form.get("subtype", ""),
        "importance": form.get("importance") or "general",
        "subject": form.get("subject", ""),
        "description": form.get("description", ""),
        "related_call_ids": calls,
    }
    for k in (
        "partner_id",
        "related_month",
        "related_product_ref",
        "related_order_id",
        "related_statement_id",
    ):
        v = str(form.get(k, "")).strip()
        if v:
            data[k] = v
    return CreateTicket.model_validate(data)


# ---------------------------------------------------------------- agent queue


@router.get("/ops/tickets")
async def ops_queue(request: Request, actor: OperatorPage) -> Response:
    q = request.query_params
    lang = lang_of(request)
    try:
        f = service.TicketFilter(
            state=TicketState(q["state"]) if q.get("state") else None,
            type=TicketType(q["type"]) if q.get("type") else None,
            owner_id=actor.id if q.get("mine") else (q.get("owner_id") or None),
            partner_id=q.get("partner_id") or None,
            breached=True if q.get("breached") else None,
            open_only=q.get("all") != "1" and not q.get("state"),
        )
        offset = max(0, int(q.get("offset", "0")))
    except ValueError:
        return redirect(OPS, error="bad filter")
    async with container_of(request).uow(actor) as uow:
        rows, total = await service.list_tickets(uow, f, offset, 50)
        partners = await service.partner_names(uow, {t.partner_id for t in rows})
        owners = await service.operator_names(uow, {t.owner_id for t in rows if t.owner_id})
        choices = await service.partner_choices(uow)
        agents = await service.active_agents(uow, service.AGENT_ROLES)
        ctx = _common(uow, lang)
    nxt = dict(q) | {"offset": str(offset + 50)}
    return page(
        request,
        "tickets_queue.html",
        actor,
        tickets=rows,
        total=total,
        offset=offset,
        partners=partners,
        owners=owners,
        partner_choices=choices,
        agents=agents,
        q=q,
        next_url=f"{OPS}?{urlencode(nxt)}" if offset + 50 < total else "",
        **ctx,
    )


@router.post("/ops/tickets")
async def ops_create(request: Request, actor: OperatorPage) -> Response:
    return await _create(request, actor, OPS, "工单已创建 / ticket created")


async def _create(request: Request, actor: Actor, base: str, flash: str) -> Response:
    """New ticket from the form; on success the ticket's own page, else back to the list."""
    created: list[str] = []

    async def fn(uow: UnitOfWork, form: FormData) -> None:
        data = dict(form)
        if not actor.is_operator:
            data.pop("partner_id", None)  # a partner's ticket is always its own
        t = await service.create_ticket(uow, _create_cmd(data))
        created.append(t.id)

    return await act(request, actor, fn, ok_url=lambda: f"{base}/{created[0]}", err_url=base, flash=flash)


@router.get("/ops/tickets/{ticket_id}")
async def ops_ticket(request: Request, actor: OperatorPage, ticket_id: str) -> Response:
    return await _ticket_page(request, actor, ticket_id, partner_view=False)


async def _ticket_page(request: Request, actor: Actor, ticket_id: str, *, partner_view: bool) -> Response:
    """One ticket's page: the agent's (with history, calls, reassignment) or the partner's."""
    back, template = (PORTAL, "tickets_portal_ticket.html") if partner_view else (OPS, "tickets_ticket.html")
    try:
        async with container_of(request).uow(actor) as uow:
            t = await service.get_ticket(uow, ticket_id)
            ctx = await _ticket_ctx(uow, t, lang_of(request), partner_view=partner_view)
            if not partner_view:
                ctx["history"] = await service.history(uow, t)
                ctx["calls"] = await service.related_calls(uow, t)
                ctx["agents"] = await service.active_agents(uow, service.AGENT_ROLES)
                ctx["can_reassign"] = actor.has_role("service_lead")
    except AppError as exc:
        return redirect(back, error=exc.message)
    return page(request, template, actor, **ctx)


async def _ticket_ctx(uow: UnitOfWork, t: Any, lang: str, *, partner_view: bool) -> dict[str, Any]:
    ctx = _common(uow, lang)
    ctx.update(
        tk=t,
        comments=await service.list_comments(uow, t),
        attachments=await attachments.list_attachments(uow, t),
        actions=[a.value for a in rules.allowed_actions(t.state, partner=partner_view)],
        partner_name=(await service.partner_names(uow, {t.partner_id})).get(t.partner_id, t.partner_id),
        owner_name=(await service.operator_names(uow, {t.owner_id} if t.owner_id else set())).get(
            t.owner_id or "", ""
        ),
        # R-CS-03/05: per deadline, whether it is a limit or a target, met (None while running), breached
        deadline_state={
            d.kind: {"mode": d.mode.value, "met": d.met(uow.now), "breached": d.breached(uow.now)}
            for d in t.deadlines()
        },
        running=t.state in rules.OPEN_STATES and t.paused_since is None,
        unconfirmed=await _unconfirmed(uow, t),
    )
    return ctx


async def _unconfirmed(uow: UnitOfWork, t: Any) -> list[int]:
    cal = await calendar_admin.load_working_calendar(uow)
    years = {business_date(t.first_response_due).year, business_date(t.final_due).year}
    return sorted(y for y in years if not cal.is_confirmed(y))


@router.post("/ops/tickets/{ticket_id}/comment")
async def ops_comment(
    request: Request, actor: OperatorPage, ticket_id: str, body: str = Form(""), internal: str = Form("")
) -> Response:
    url = f"{OPS}/{ticket_id}"

    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await service.add_comment(uow, ticket_id, CommentIn(body=body, internal=bool(internal)))

    return await act(request, actor, fn, ok_url=url, flash="已回复 / answer sent")


@router.post("/ops/tickets/{ticket_id}/action/{action}")
async def ops_action(request: Request, actor: OperatorPage, ticket_id: str, action: str) -> Response:
    return await _transition(request, actor, ticket_id, action, f"{OPS}/{ticket_id}")


async def _transition(request: Request, actor: Actor, ticket_id: str, action: str, url: str) -> Response:
    try:
        what = Action(action)
    except ValueError:
        return redirect(url, error=f"unknown action {action}")

    async def fn(uow: UnitOfWork, form: FormData) -> None:
        cmd = TransitionIn(
            note=str(form.get("note", "")),
            resolution=str(form.get("resolution", "")),
            product_ref=str(form.get("product_ref", "")).strip() or None,
            order_id=str(form.get("order_id", "")).strip() or None,
        )
        await service.transition(uow, ticket_id, what, cmd)

    return await act(
        request, actor, fn, ok_url=url, flash=f"{rules.label(what.value, 'zh')} / {what.value}: OK"
    )


@router.post("/ops/tickets/{ticket_id}/reassign")
async def ops_reassign(
    request: Request, actor: OperatorPage, ticket_id: str, owner_id: str = Form(""), note: str = Form("")
) -> Response:
    url = f"{OPS}/{ticket_id}"

    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await service.reassign(uow, ticket_id, owner_id, note)

    return await act(request, actor, fn, ok_url=url, flash="已转派 / reassigned")


async def _upload(request: Request, actor: Actor, ticket_id: str, file: UploadFile, url: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        data = await read_upload(file)
        await attachments.add_attachment(
            uow, ticket_id, file.filename or "file", file.content_type or "", data
        )

    return await act(request, actor, fn, ok_url=url, flash="附件已上传 / attachment uploaded")


@router.post("/ops/tickets/{ticket_id}/attachments")
async def ops_upload(
    request: Request, actor: OperatorPage, ticket_id: str, file: UploadFile = File(...)
) -> Response:
    return await _upload(request, actor, ticket_id, file, f"{OPS}/{ticket_id}")


# ---------------------------------------------------------------- calendar admin


@router.get("/ops/calendar")
async def ops_calendar(request: Request, actor: OperatorPage) -> Response:
    async with container_of(request).uow(actor) as uow:
        today = business_date(uow.now)
        try:
            year = int(request.query_params.get("year", today.year))
            st = await calendar_admin.calendar_status(uow, year)
        except (ValueError, AppError):
            return redirect("/console/ops/calendar", error="bad year")
        ahead = await calendar_admin.unconfirmed_years_ahead(uow, today)
    return page(
        request,
        "tickets_calendar.html",
        actor,
        st=st,
        year=year,
        unconfirmed_ahead=ahead,
        is_admin=actor.has_role("admin"),
    )


@router.post("/ops/calendar/override")
async def ops_calendar_override(
    request: Request,
    actor: OperatorPage,
    day: str = Form(""),
    is_working: str = Form(""),
    note: str = Form(""),
) -> Response:
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return redirect("/console/ops/calendar", error=f"bad date {day!r}")
    url = f"/console/ops/calendar?year={d.year}"

    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await calendar_admin.set_override(uow, d, is_working == "1", note)

    return await act(request, actor, fn, ok_url=url, flash="已保存 / saved")


@router.post("/ops/calendar/override/{day}/delete")
async def ops_calendar_delete(request: Request, actor: OperatorPage, day: date) -> Response:
    url = f"/console/ops/calendar?year={day.year}"

    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await calendar_admin.delete_override(uow, day)

    return await act(request, actor, fn, ok_url=url, flash="已删除 / deleted")


@router.post("/ops/calendar/confirm")
async def ops_calendar_confirm(
    request: Request, actor: OperatorPage, year: int = Form(...), confirmed: str = Form("1")
) -> Response:
    url = f"/console/ops/calendar?year={year}"

    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await calendar_admin.set_year_confirmed(uow, year, confirmed == "1")

    return await act(request, actor, fn, ok_url=url, flash="已保存 / saved")


# ---------------------------------------------------------------- SLA report


def _pct(v: float | None) -> Decimal | None:
    """A group with nothing decided has no percentage: no bar and "-" in the chart, as in the table."""
    return Decimal(str(v)) if v is not None else None


@router.get("/ops/reports/sla")
async def ops_report(request: Request, actor: OperatorPage) -> Response:
    lang = lang_of(request)
    async with container_of(request).uow(actor) as uow:
        month = request.query_params.get("month") or month_key(uow.now)
        try:
            rep = await sla.sla_report(uow, month)
        except AppError as exc:
            return redirect("/console/ops/reports/sla", error=exc.message)
        last = business_date(uow.now).replace(day=1) - timedelta(days=1)
        prev = f"{last.year:04d}-{last.month:02d}"
    by_type = [(rules.label(r["type"], lang), _pct(r["compliance_percent"])) for r in rep["by_type"]]
    target_by_type = [
        (rules.label(r["type"], lang), _pct(r["target_met_percent"]))
        for r in rep["by_type"]
        if r["target_tickets"]
    ]
    by_owner = [
        (r["owner_name"] or r["owner_id"] or "-", _pct(r["compliance_percent"])) for r in rep["by_owner"]
    ]
    breaches = [(rules.label(r["type"], lang), r["breached"]) for r in rep["by_type"]]
    return page(
        request,
        "tickets_report.html",
        actor,
        rep=rep,
        month=month,
        prev_month=prev,
        by_type_chart=by_type,
        target_chart=target_by_type,
        by_owner_chart=by_owner,
        breach_chart=breaches,
        L=lambda v: rules.label(v, lang),
    )


# ---------------------------------------------------------------- partner portal


@router.get("/portal/tickets")
async def portal_list(request: Request, actor: PartnerPage) -> Response:
    lang = lang_of(request)
    try:
        offset = max(0, int(request.query_params.get("offset", "0")))
    except ValueError:
        offset = 0
    async with container_of(request).uow(actor) as uow:
        rows, total = await service.list_tickets(uow, service.TicketFilter(), offset, 50)
        ctx = _common(uow, lang)
    return page(request, "tickets_portal_list.html", actor, tickets=rows, total=total, offset=offset, **ctx)


@router.post("/portal/tickets")
async def portal_create(request: Request, actor: PartnerPage) -> Response:
    return await _create(request, actor, PORTAL, "工单已提交 / ticket submitted")


@router.get("/portal/tickets/{ticket_id}")
async def portal_ticket(request: Request, actor: PartnerPage, ticket_id: str) -> Response:
    return await _ticket_page(request, actor, ticket_id, partner_view=True)


@router.post("/portal/tickets/{ticket_id}/comment")
async def portal_comment(
    request: Request, actor: PartnerPage, ticket_id: str, body: str = Form("")
) -> Response:
    url = f"{PORTAL}/{ticket_id}"

    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await service.add_comment(uow, ticket_id, CommentIn(body=body))

    return await act(request, actor, fn, ok_url=url, flash="已发送 / sent")


@router.post("/portal/tickets/{ticket_id}/action/{action}")
async def portal_action(request: Request, actor: PartnerPage, ticket_id: str, action: str) -> Response:
    return await _transition(request, actor, ticket_id, action, f"{PORTAL}/{ticket_id}")


@router.post("/portal/tickets/{ticket_id}/attachments")
async def portal_upload(
    request: Request, actor: PartnerPage, ticket_id: str, file: UploadFile = File(...)
) -> Response:
    return await _upload(request, actor, ticket_id, file, f"{PORTAL}/{ticket_id}")
