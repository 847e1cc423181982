"""Management API for tickets, SLA policies, the working-day calendar and the SLA report (thin routes).
JSON is camelCase like the catalog and billing APIs (tickets/schemas.py); query parameters stay as
the other list endpoints name them (`partner_id`, `owner_id`)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, File, Form, Query, Request, UploadFile
from starlette.responses import Response

from openability.catalog.schemas import Page
from openability.kernel import access, calendar_admin
from openability.kernel.errors import InvalidArgument
from openability.kernel.uow import Actor
from openability.kernel.web import CurrentActor, Limit, Offset, require_operator, uow_for
from openability.tickets import attachments, service, sla
from openability.tickets.rules import Action, TicketState, TicketType
from openability.tickets.schemas import (
    AttachmentOut,
    CommentIn,
    CommentOut,
    CreateTicket,
    HistoryEntryOut,
    OverrideIn,
    OverrideOut,
    PolicyRowOut,
    PolicySetIn,
    PolicySetOut,
    ReassignIn,
    RelatedCallOut,
    SlaReportOut,
    TicketDetailOut,
    TicketOut,
    TransitionIn,
    YearConfirmIn,
    YearStatusOut,
)

if TYPE_CHECKING:
    pass

router = APIRouter(prefix="/api/v1", tags=["tickets"])
AdminActor = Annotated[Actor, Depends(require_operator("admin"))]
OperatorActor = Annotated[Actor, Depends(require_operator())]
T = TypeVar("T")


def _whole(items: list[T]) -> Page[T]:
    """An unpaged list in the paged envelope (a ticket's comments, attachments, history)."""
    return Page(items=items, total=len(items), offset=0, limit=len(items))


@router.post("/tickets", status_code=201)
async def create_ticket(request: Request, actor: CurrentActor, cmd: CreateTicket) -> TicketOut:
    async with uow_for(request, actor) as uow:
        t = await service.create_ticket(uow, cmd)
        return TicketOut.of(t, uow.now, partner_view=not actor.is_operator)


@router.get("/tickets")
async def list_tickets(
    request: Request,
    actor: CurrentActor,
    state: TicketState | None = None,
    type: TicketType | None = None,
    owner_id: str | None = Query(default=None, max_length=40),
    partner_id: str | None = Query(default=None, max_length=40),
    breached: bool | None = None,
    open: bool = False,
    offset: Offset = 0,
    limit: Limit = access.DEFAULT_LIMIT,
) -> Page[TicketOut]:
    f = service.TicketFilter(state, type, owner_id, partner_id, breached, open)
    async with uow_for(request, actor) as uow:
        rows, total = await service.list_tickets(uow, f, offset, limit)
        items = [TicketOut.of(t, uow.now, partner_view=not actor.is_operator) for t in rows]
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/tickets/{ticket_id}")
async def get_ticket(request: Request, actor: CurrentActor, ticket_id: str) -> TicketDetailOut:
    async with uow_for(request, actor) as uow:
        t = await service.get_ticket(uow, ticket_id)
        base = TicketOut.of(t, uow.now, partner_view=not actor.is_operator)
        comments = [CommentOut.of(c) for c in await service.list_comments(uow, t)]
        files = [AttachmentOut.of(a) for a in await attachments.list_attachments(uow, t)]
        calls = [
            RelatedCallOut(
                id=r.id,
                product_id=r.product_id,
                capability=r.capability,
                quantity=r.quantity,
                unit=r.unit,
                amount=r.amount,
                month=r.month,
                occurred_at=r.occurred_at,
            )
            for r in await service.related_calls(uow, t)
        ]
    return TicketDetailOut(**dict(base), comments=comments, attachments=files, related_calls=calls)


@router.get("/tickets/{ticket_id}/comments")
async def list_comments(request: Request, actor: CurrentActor, ticket_id: str) -> Page[CommentOut]:
    async with uow_for(request, actor) as uow:
        t = await service.get_ticket(uow, ticket_id)
        items = [CommentOut.of(c) for c in await service.list_comments(uow, t)]
    return _whole(items)


@router.post("/tickets/{ticket_id}/comments", status_code=201)
async def add_comment(request: Request, actor: CurrentActor, ticket_id: str, cmd: CommentIn) -> CommentOut:
    async with uow_for(request, actor) as uow:
        c = await service.add_comment(uow, ticket_id, cmd)
    return CommentOut.of(c)


async def read_upload(file: UploadFile) -> bytes:
    """Read at most one byte past the limit, so an oversized upload is refused without buffering it."""
    data = await file.read(attachments.MAX_ATTACHMENT_BYTES + 1)
    if len(data) > attachments.MAX_ATTACHMENT_BYTES:
        raise InvalidArgument(
            f"attachment larger than {attachments.MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB",
            code="ATTACHMENT_TOO_LARGE",
        )
    return data


@router.post("/tickets/{ticket_id}/attachments", status_code=201)
async def add_attachment(
    request: Request,
    actor: CurrentActor,
    ticket_id: str,
    file: UploadFile = File(...),
    comment_id: str | None = Form(default=None, max_length=40, alias="commentId"),
) -> AttachmentOut:
    data = await read_upload(file)
    async with uow_for(request, actor) as uow:
        a = await attachments.add_attachment(
            uow, ticket_id, file.filename or "file", file.content_type or "", data, comment_id
        )
    return AttachmentOut.of(a)


@router.get("/tickets/{ticket_id}/attachments")
async def list_attachments(request: Request, actor: CurrentActor, ticket_id: str) -> Page[AttachmentOut]:
    async with uow_for(request, actor) as uow:
        t = await service.get_ticket(uow, ticket_id)
        items = [AttachmentOut.of(a) for a in await attachments.list_attachments(uow, t)]
    return _whole(items)


@router.get(
    "/tickets/{ticket_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"description": "the file's bytes", "content": {"application/octet-stream": {}}}},
)
async def download_attachment(
    request: Request, actor: CurrentActor, ticket_id: str, attachment_id: str
) -> Response:
    async with uow_for(request, actor) as uow:
        a, data = await attachments.read_attachment(uow, ticket_id, attachment_id)
    return Response(
        data,
        media_type=a.content_type,
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(a.filename)}",
            "x-content-type-options": "nosniff",
        },
    )


@router.get("/tickets/{ticket_id}/history")
async def ticket_history(request: Request, actor: CurrentActor, ticket_id: str) -> Page[HistoryEntryOut]:
    """Operators: the whole audit trail. A partner user: its own tickets' trail without internal notes,
    each entry trimmed to the state and SLA times (docs/tickets.md)."""
    async with uow_for(request, actor) as uow:
        t = await service.get_ticket(uow, ticket_id)
        partner_view = not actor.is_operator
        items = [HistoryEntryOut.of(e, partner_view=partner_view) for e in await service.history(uow, t)]
    return _whole(items)


@router.post("/tickets/{ticket_id}/reassign")
async def reassign(request: Request, actor: CurrentActor, ticket_id: str, cmd: ReassignIn) -> TicketOut:
    async with uow_for(request, actor) as uow:
        t = await service.reassign(uow, ticket_id, cmd.owner_id, cmd.note)
        return TicketOut.of(t, uow.now)


@router.post("/tickets/{ticket_id}/{action}")
async def transition(
    request: Request,
    actor: CurrentActor,
    ticket_id: str,
    action: Action,
    cmd: Annotated[TransitionIn | None, Body()] = None,
) -> TicketOut:
    async with uow_for(request, actor) as uow:
        t = await service.transition(uow, ticket_id, action, cmd or TransitionIn())
        return TicketOut.of(t, uow.now, partner_view=not actor.is_operator)


# ---------------------------------------------------------------- SLA policies


@router.get("/sla-policies")
async def get_policies(request: Request, actor: OperatorActor) -> PolicySetOut:
    async with uow_for(request, actor) as uow:
        version, rows = await sla.current_policies(uow)
    return PolicySetOut(version=version, items=[PolicyRowOut.of(r) for r in rows])


@router.put("/sla-policies")
async def put_policies(request: Request, actor: AdminActor, cmd: PolicySetIn) -> PolicySetOut:
    async with uow_for(request, actor) as uow:
        version, rows = await sla.put_policies(uow, cmd)
    return PolicySetOut(version=version, items=[PolicyRowOut.of(r) for r in rows])


# ---------------------------------------------------------------- calendar


@router.get("/calendar/overrides")
async def list_overrides(
    request: Request, actor: OperatorActor, year: int | None = Query(default=None, ge=2000, le=2100)
) -> Page[OverrideOut]:
    async with uow_for(request, actor) as uow:
        rows = await calendar_admin.list_overrides(uow, year)
        items = [
            OverrideOut(
                day=o.day,
                is_working=o.is_working,
                note=o.note,
                updated_by=o.updated_by,
                updated_at=o.updated_at,
            )
            for o in rows
        ]
    return _whole(items)


@router.put("/calendar/overrides/{day}")
async def put_override(request: Request, actor: AdminActor, day: date, cmd: OverrideIn) -> OverrideOut:
    async with uow_for(request, actor) as uow:
        o = await calendar_admin.set_override(uow, day, cmd.is_working, cmd.note)
        return OverrideOut(
            day=o.day, is_working=o.is_working, note=o.note, updated_by=o.updated_by, updated_at=o.updated_at
        )


@router.delete("/calendar/overrides/{day}", status_code=204)
async def delete_override(request: Request, actor: AdminActor, day: date) -> Response:
    async with uow_for(request, actor) as uow:
        await calendar_admin.delete_override(uow, day)
    return Response(status_code=204)


@router.get("/calendar/status")
async def calendar_status(
    request: Request, actor: OperatorActor, year: int = Query(ge=2000, le=2100)
) -> YearStatusOut:
    async with uow_for(request, actor) as uow:
        st = await calendar_admin.calendar_status(uow, year)
    return YearStatusOut.of(st)


@router.put("/calendar/status/{year}")
async def confirm_year(request: Request, actor: AdminActor, year: int, cmd: YearConfirmIn) -> YearStatusOut:
    async with uow_for(request, actor) as uow:
        await calendar_admin.set_year_confirmed(uow, year, cmd.confirmed, cmd.note)
        st = await calendar_admin.calendar_status(uow, year)
    return YearStatusOut.of(st)


# ---------------------------------------------------------------- report


@router.get("/reports/sla")
async def sla_report(
    request: Request, actor: OperatorActor, month: str = Query(max_length=7)
) -> SlaReportOut:
    async with uow_for(request, actor) as uow:
        body = await sla.sla_report(uow, month)
    return SlaReportOut.model_validate(body)
