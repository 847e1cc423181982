"""Console pages: the inbox of operators (/console/ops/notifications) and of partner users
(/console/portal/notifications), the email delivery log (operators), and the unread badge the header
loads. Forms carry the session's CSRF token and post through console.pagekit.act (PRG)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, Response

from openability.console.pagekit import OperatorPage, PartnerPage, act, page, page_args, tr
from openability.console.web import lang_of
from openability.kernel.uow import Actor, UnitOfWork
from openability.kernel.web import container_of, current_actor_optional
from openability.notifications import service
from openability.notifications.types import Outcome

router = APIRouter(prefix="/console", include_in_schema=False)

OPS = "/console/ops/notifications"
PORTAL = "/console/portal/notifications"
PAGE = 50

# Email states and attempt outcomes, zh-CN first.
LABELS: dict[str, tuple[str, str]] = {
    "pending": ("待发送", "pending"),
    "sending": ("发送中", "sending"),
    "sent": ("已发送", "sent"),
    "failed": ("发送失败", "failed"),
    "skipped": ("未发送（无邮箱）", "skipped (no address)"),
    "retry": ("失败，将重试", "failed, will retry"),
}


def _label(value: str, lang: str) -> str:
    pair = LABELS.get(value)
    return value if pair is None else (pair[0] if lang == "zh" else pair[1])


async def unread_count_for(request: Request, actor: Actor) -> int:
    """The unread count the console header shows (0 for anyone without an inbox)."""
    if not (actor.is_operator or (actor.type == "partner_user" and actor.partner_id)):
        return 0
    async with container_of(request).uow(actor) as uow:
        return await service.unread_count(uow)


@router.get("/notifications/badge")
async def badge(request: Request) -> Response:
    """The header's unread badge (an htmx fragment: empty when nothing is unread or nobody is in)."""
    actor = await current_actor_optional(request)
    n = await unread_count_for(request, actor) if actor is not None else 0
    if not n:
        return HTMLResponse("")
    text = tr(request, "%(n)s 条未读", n=n)
    return HTMLResponse(
        Markup('<span class="badge st-pending" id="unread-badge" title="{}">{}</span>').format(text, n)
    )


async def _inbox(request: Request, actor: Actor, base: str) -> Response:
    q = request.query_params
    offset, _ = page_args(q.get("offset"), None)
    unread = q.get("unread") == "1"
    async with container_of(request).uow(actor) as uow:
        items, total = await service.inbox(uow, unread=True if unread else None, offset=offset, limit=PAGE)
        n_unread = await service.unread_count(uow)

    def url(**kw: object) -> str:
        args = {"unread": "1"} if unread else {}
        args |= {k: str(v) for k, v in kw.items()}
        return f"{base}?{urlencode(args)}" if args else base

    lang = lang_of(request)
    return page(
        request,
        "notifications_inbox.html",
        actor,
        items=items,
        total=total,
        unread_total=n_unread,
        offset=offset,
        unread_only=unread,
        base=base,
        prev_url=url(offset=max(offset - PAGE, 0)) if offset else "",
        next_url=url(offset=offset + PAGE) if offset + PAGE < total else "",
        EL=lambda v: _label(v, lang),
    )


@router.get("/ops/notifications")
async def ops_inbox(request: Request, actor: OperatorPage) -> Response:
    return await _inbox(request, actor, OPS)


@router.get("/portal/notifications")
async def portal_inbox(request: Request, actor: PartnerPage) -> Response:
    return await _inbox(request, actor, PORTAL)


def _back(request: Request, base: str) -> str:
    # back to the list as it was shown (unread filter), never to another site
    return f"{base}?unread=1" if request.query_params.get("unread") == "1" else base


async def _read_one(request: Request, actor: Actor, base: str, notification_id: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> None:
        await service.mark_read(uow, notification_id)

    return await act(request, actor, fn, ok_url=_back(request, base), flash=tr(request, "已标为已读"))


async def _read_all(request: Request, actor: Actor, base: str) -> Response:
    async def fn(uow: UnitOfWork, _form: FormData) -> str:
        n = await service.mark_all_read(uow)
        return tr(request, "%(n)s 条已标为已读", n=n)

    return await act(request, actor, fn, ok_url=base)


@router.post("/ops/notifications/read-all")
async def ops_read_all(request: Request, actor: OperatorPage) -> Response:
    return await _read_all(request, actor, OPS)


@router.post("/portal/notifications/read-all")
async def portal_read_all(request: Request, actor: PartnerPage) -> Response:
    return await _read_all(request, actor, PORTAL)


@router.post("/ops/notifications/{notification_id}/read")
async def ops_read(request: Request, actor: OperatorPage, notification_id: str) -> Response:
    return await _read_one(request, actor, OPS, notification_id)


@router.post("/portal/notifications/{notification_id}/read")
async def portal_read(request: Request, actor: PartnerPage, notification_id: str) -> Response:
    return await _read_one(request, actor, PORTAL, notification_id)


@router.get("/ops/notification-deliveries")
async def ops_deliveries(request: Request, actor: OperatorPage) -> Response:
    """The email delivery log: every attempt with its outcome and error, and the outbox by state."""
    q = request.query_params
    offset, _ = page_args(q.get("offset"), None)
    outcome = q.get("outcome") or ""
    notification_id = (q.get("notification_id") or "").strip()[:40]
    try:
        chosen = Outcome(outcome) if outcome else None
    except ValueError:
        chosen, outcome = None, ""
    async with container_of(request).uow(actor) as uow:
        rows, total = await service.delivery_log(
            uow, notification_id=notification_id or None, outcome=chosen, offset=offset, limit=PAGE
        )
        states = await service.email_state_counts(uow)
    args = {k: v for k, v in (("outcome", outcome), ("notification_id", notification_id)) if v}
    lang = lang_of(request)
    base = "/console/ops/notification-deliveries"
    return page(
        request,
        "notifications_deliveries.html",
        actor,
        rows=rows,
        total=total,
        offset=offset,
        states=states,
        outcome=outcome,
        notification_id=notification_id,
        OUTCOMES=[o.value for o in Outcome],
        enabled=container_of(request).settings.smtp_enabled,
        prev_url=f"{base}?{urlencode(args | {'offset': str(max(offset - PAGE, 0))})}" if offset else "",
        next_url=f"{base}?{urlencode(args | {'offset': str(offset + PAGE)})}"
        if offset + PAGE < total
        else "",
        EL=lambda v: _label(v, lang),
    )
