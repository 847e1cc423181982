"""Management API of notifications: the caller's inbox (a partner user: its partner's notices; an
operator: its own) and, for operators, the email delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from openability.catalog.schemas import Page
from openability.kernel.uow import Actor
from openability.kernel.web import CurrentActor, Limit, Offset, require_operator, uow_for
from openability.notifications import service
from openability.notifications.schemas import DeliveryOut, MarkedOut, NotificationOut, UnreadOut
from openability.notifications.types import Outcome

router = APIRouter(prefix="/api/v1", tags=["notifications"])
OperatorActor = Annotated[Actor, Depends(require_operator())]


@router.get("/notifications")
async def list_notifications(
    request: Request,
    actor: CurrentActor,
    unread: bool | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[NotificationOut]:
    """The caller's notices, newest first; `unread=true` only unread ones, `unread=false` only read."""
    async with uow_for(request, actor) as uow:
        rows, total = await service.inbox(uow, unread=unread, offset=offset, limit=limit)
    return Page(items=[NotificationOut.of(n) for n in rows], total=total, offset=offset, limit=limit)


@router.get("/notifications/unread-count")
async def unread_count(request: Request, actor: CurrentActor) -> UnreadOut:
    async with uow_for(request, actor) as uow:
        return UnreadOut(unread=await service.unread_count(uow))


@router.post("/notifications/read-all")
async def read_all(request: Request, actor: CurrentActor) -> MarkedOut:
    async with uow_for(request, actor) as uow:
        return MarkedOut(marked=await service.mark_all_read(uow))


@router.post("/notifications/{notification_id}/read")
async def read_one(request: Request, actor: CurrentActor, notification_id: str) -> NotificationOut:
    async with uow_for(request, actor) as uow:
        return NotificationOut.of(await service.mark_read(uow, notification_id))


@router.get("/notification-deliveries")
async def list_deliveries(
    request: Request,
    actor: OperatorActor,
    notification_id: str | None = Query(default=None, max_length=40),
    outcome: Outcome | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[DeliveryOut]:
    """Email delivery attempts, newest first (operators)."""
    async with uow_for(request, actor) as uow:
        rows, total = await service.delivery_log(
            uow, notification_id=notification_id, outcome=outcome, offset=offset, limit=limit
        )
    return Page(items=[DeliveryOut.of(d) for d in rows], total=total, offset=offset, limit=limit)
