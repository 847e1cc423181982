"""Use cases of notifications: the inbox (a partner user sees its partner's notices, an operator its
own; anyone else's is NOT_FOUND), and the two transactions of a delivery attempt: claiming due notices
and recording what sending them came to (with one delivery-log row per attempt)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update

from openability.config import Settings
from openability.kernel import access
from openability.kernel.db import is_postgres
from openability.kernel.errors import NotFound, PermissionDenied
from openability.kernel.ids import new_id
from openability.kernel.notify import EmailState, Notification, NotificationAttachment
from openability.kernel.uow import Actor, UnitOfWork
from openability.notifications import rules
from openability.notifications.models import DeliveryAttempt
from openability.notifications.types import (
    AttemptResult,
    Channel,
    DeliveryLogEntry,
    InboxItem,
    MailAttachment,
    Outcome,
    Outgoing,
    RecipientKind,
)
from openability.partners import service as partners


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _item(n: Notification) -> InboxItem:
    return InboxItem(
        id=n.id,
        created_at=n.created_at,
        recipient_type=n.recipient_type,
        recipient_id=n.recipient_id,
        kind=n.kind,
        subject=n.subject,
        body=n.body,
        read_at=n.read_at,
        email_state=n.email_state.value,
        sent_at=n.sent_at,
    )


# ---------------------------------------------------------------- the inbox


def inbox_owner(actor: Actor) -> tuple[RecipientKind, str]:
    """Whose notices an actor reads: a partner user its partner's, an operator its own."""
    if actor.type == "partner_user" and actor.partner_id:
        return RecipientKind.PARTNER, actor.partner_id
    if actor.is_operator:
        return RecipientKind.OPERATOR, actor.id
    raise PermissionDenied("the inbox is for operators and partner users")


def _mine(actor: Actor) -> ColumnElement[bool]:
    kind, rid = inbox_owner(actor)
    return and_(Notification.recipient_type == kind.value, Notification.recipient_id == rid)


async def inbox(
    uow: UnitOfWork, *, unread: bool | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[InboxItem], int]:
    """The actor's notices, newest first; `unread` True: unread only, False: read only."""
    offset, limit = access.page(offset, limit)
    cond = [_mine(uow.actor)]
    if unread is True:
        cond.append(Notification.read_at.is_(None))
    elif unread is False:
        cond.append(Notification.read_at.is_not(None))
    total = await uow.session.scalar(select(func.count()).select_from(Notification).where(*cond)) or 0
    rows = await uow.session.scalars(
        select(Notification)
        .where(*cond)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [_item(n) for n in rows.all()], int(total)


async def unread_count(uow: UnitOfWork) -> int:
    n = await uow.session.scalar(
        select(func.count()).select_from(Notification).where(_mine(uow.actor), Notification.read_at.is_(None))
    )
    return int(n or 0)


async def mark_read(uow: UnitOfWork, notification_id: str) -> InboxItem:
    """Mark one of the actor's notices read (again: no change). Another recipient's: NOT_FOUND."""
    n = await uow.session.scalar(
        select(Notification).where(Notification.id == notification_id, _mine(uow.actor))
    )
    if n is None:
        raise NotFound(f"notification {notification_id} not found")
    if n.read_at is None:
        n.read_at = uow.now
        uow.audit(
            "notification.read",
            ("notification", n.id),
            partner_id=n.recipient_id if n.recipient_type == RecipientKind.PARTNER else None,
            after={"read_at": uow.now},
        )
    return _item(n)


async def mark_all_read(uow: UnitOfWork) -> int:
    """Mark every unread notice of the actor read; returns how many."""
    kind, rid = inbox_owner(uow.actor)
    res = await uow.session.execute(
        update(Notification)
        .where(_mine(uow.actor), Notification.read_at.is_(None))
        .values(read_at=uow.now)
        .execution_options(synchronize_session=False)
    )
    n = _rowcount(res)
    if n:
        uow.audit(
            "notification.read_all",
            (kind.value, rid),
            partner_id=rid if kind == RecipientKind.PARTNER else None,
            after={"marked": n},
        )
    return n


# ---------------------------------------------------------------- the delivery log (operators)


def _require_operator(actor: Actor) -> None:
    if not (actor.is_operator or actor.type == "system"):
        raise PermissionDenied("operator only")


async def delivery_log(
    uow: UnitOfWork,
    *,
    notification_id: str | None = None,
    outcome: Outcome | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[DeliveryLogEntry], int]:
    """Delivery attempts, newest first."""
    offset, limit = access.page(offset, limit)
    _require_operator(uow.actor)
    cond: list[ColumnElement[bool]] = []
    if notification_id:
        cond.append(DeliveryAttempt.notification_id == notification_id)
    if outcome is not None:
        cond.append(DeliveryAttempt.outcome == outcome)
    total = await uow.session.scalar(select(func.count()).select_from(DeliveryAttempt).where(*cond)) or 0
    rows = await uow.session.scalars(
        select(DeliveryAttempt)
        .where(*cond)
        .order_by(DeliveryAttempt.at.desc(), DeliveryAttempt.id.desc())
        .offset(offset)
        .limit(limit)
    )
    items = [
        DeliveryLogEntry(
            id=a.id,
            at=a.at,
            notification_id=a.notification_id,
            channel=a.channel.value,
            recipient=a.recipient,
            attempt=a.attempt,
            outcome=a.outcome.value,
            error=a.error,
        )
        for a in rows.all()
    ]
    return items, int(total)


async def email_state_counts(uow: UnitOfWork) -> dict[str, int]:
    """How many notices are in each email state (the delivery page's summary)."""
    _require_operator(uow.actor)
    rows = await uow.session.execute(
        select(Notification.email_state, func.count()).group_by(Notification.email_state)
    )
    counts = {s.value: 0 for s in EmailState}
    for state, n in rows.all():
        counts[EmailState(state).value] = int(n)
    return counts


# ---------------------------------------------------------------- delivery: claim, then record


def _due(now: datetime) -> ColumnElement[bool]:
    """Due: pending and its time has come, or claimed by a sender whose claim ran out (it died)."""
    return or_(
        and_(Notification.email_state == EmailState.PENDING, Notification.next_attempt_at <= now),
        and_(Notification.email_state == EmailState.SENDING, Notification.claimed_until <= now),
    )


def _log(
    uow: UnitOfWork, notification_id: str, recipient: str, attempt: int, outcome: Outcome, error: str
) -> None:
    uow.session.add(
        DeliveryAttempt(
            id=new_id("dlv"),
            at=uow.now,
            notification_id=notification_id,
            channel=Channel.EMAIL,
            recipient=recipient[:200],
            attempt=attempt,
            outcome=outcome,
            error=error,
        )
    )


async def claim_due(uow: UnitOfWork, owner: str, *, limit: int, lease: timedelta) -> list[Outgoing]:
    """Claim up to `limit` due notices for `owner` and resolve their addresses. Each claim is one
    conditional UPDATE on (id, attempts seen, still due), so of two senders that saw the same notice
    exactly one gets it; on PostgreSQL the scan also skips rows another sender is claiming right now
    (FOR UPDATE SKIP LOCKED), so concurrent senders share the work instead of queueing.

    A notice whose sender died after its last allowed attempt is given up here (logged as failed)."""
    now = uow.now
    max_attempts = uow.settings.notify_max_attempts
    stmt = (
        select(Notification.id, Notification.attempts)
        .where(_due(now))
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if is_postgres(uow.session):
        stmt = stmt.with_for_update(skip_locked=True)
    # id order: concurrent claimers lock rows in one order (no deadlock)
    seen = sorted((nid, attempts) for nid, attempts in (await uow.session.execute(stmt)).all())
    claimed: list[tuple[str, int]] = []
    for nid, attempts in seen:
        fence = [Notification.id == nid, Notification.attempts == attempts, _due(now)]
        if attempts >= max_attempts:
            res = await uow.session.execute(
                update(Notification)
                .where(*fence)
                .values(
                    email_state=EmailState.FAILED,
                    next_attempt_at=None,
                    claimed_by=None,
                    claimed_until=None,
                    last_error="the sender stopped during the last attempt",
                )
                .execution_options(synchronize_session=False)
            )
            if _rowcount(res) == 1:
                _log(uow, nid, "-", attempts, Outcome.FAILED, "the sender stopped during the last attempt")
            continue
        res = await uow.session.execute(
            update(Notification)
            .where(*fence)
            .values(
                email_state=EmailState.SENDING,
                claimed_by=owner,
                claimed_until=now + lease,
                attempts=attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(res) == 1:
            claimed.append((nid, attempts + 1))
    if not claimed:
        return []
    rows = {
        n.id: n
        for n in (
            await uow.session.scalars(
                select(Notification)
                .where(Notification.id.in_([nid for nid, _ in claimed]))
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    files: dict[str, list[MailAttachment]] = {}
    for a in (
        await uow.session.scalars(
            select(NotificationAttachment)
            .where(NotificationAttachment.notification_id.in_([nid for nid, _ in claimed]))
            .order_by(NotificationAttachment.id)
        )
    ).all():
        files.setdefault(a.notification_id, []).append(MailAttachment(a.filename, a.content_type, a.content))
    out: list[Outgoing] = []
    for nid, attempt in claimed:
        n = rows[nid]
        address = await partners.recipient_email(uow, n.recipient_type, n.recipient_id)
        out.append(
            Outgoing(
                id=n.id,
                attempt=attempt,
                claimed_until=now + lease,
                recipient_type=n.recipient_type,
                recipient_id=n.recipient_id,
                kind=n.kind,
                subject=n.subject,
                body=n.body,
                address=address,
                attachments=tuple(files.get(n.id, ())),
            )
        )
    return out


async def record_attempt(uow: UnitOfWork, owner: str, item: Outgoing, result: AttemptResult) -> bool:
    """Record an attempt: the notice's new state (only while the claim is still this sender's: a
    claim that ran out and was taken over belongs to the new sender) and its delivery-log row (the
    attempt happened either way). Returns whether the state was updated."""
    values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "last_error": result.error}
    if result.outcome == Outcome.SENT:
        values |= {"email_state": EmailState.SENT, "sent_at": uow.now, "next_attempt_at": None}
    elif result.outcome == Outcome.RETRY:
        values |= {"email_state": EmailState.PENDING, "next_attempt_at": result.next_attempt_at}
    elif result.outcome == Outcome.FAILED:
        values |= {"email_state": EmailState.FAILED, "next_attempt_at": None}
    else:
        values |= {"email_state": EmailState.SKIPPED, "next_attempt_at": None}
    res = await uow.session.execute(
        update(Notification)
        .where(
            Notification.id == item.id,
            Notification.claimed_by == owner,
            Notification.attempts == item.attempt,
            Notification.email_state == EmailState.SENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    recipient = item.address or f"{item.recipient_type}:{item.recipient_id}"
    _log(uow, item.id, recipient, item.attempt, result.outcome, result.error)
    return _rowcount(res) == 1


async def release(uow: UnitOfWork, owner: str, item: Outgoing) -> None:
    """Give a claim back untried (its time ran out before its turn): due again now, the attempt
    it was counted as taken back."""
    await uow.session.execute(
        update(Notification)
        .where(
            Notification.id == item.id,
            Notification.claimed_by == owner,
            Notification.attempts == item.attempt,
            Notification.email_state == EmailState.SENDING,
        )
        .values(
            email_state=EmailState.PENDING,
            claimed_by=None,
            claimed_until=None,
            attempts=item.attempt - 1,
            next_attempt_at=uow.now,
        )
        .execution_options(synchronize_session=False)
    )


def failure_result(attempt: int, error: str, now: datetime, settings: Settings) -> AttemptResult:
    outcome, next_at = rules.after_failure(
        attempt,
        now,
        max_attempts=settings.notify_max_attempts,
        base_seconds=settings.notify_retry_base_seconds,
        max_seconds=settings.notify_retry_max_seconds,
    )
    return AttemptResult(outcome, error, next_at)
