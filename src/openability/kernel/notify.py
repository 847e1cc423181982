"""Notifications outbox: written in the business transaction (`notify`), so a notice exists exactly when
what it tells of was committed; read by its recipient in the console inbox and mailed after commit by
the `notifications-delivery` job (openability.notifications), which keeps the email state here.

Email delivery states (EmailState): a new notice is `pending` with `next_attempt_at` = now; a sender
claims it (`sending`, `claimed_by`, `claimed_until`, `attempts` + 1) with one conditional UPDATE, sends,
and records `sent`, `pending` again with a later `next_attempt_at` (back-off), `failed` (given up after
the last attempt) or `skipped` (no address: nothing to retry). A claim whose sender died expires at
`claimed_until` and is taken again, so delivery is at least once."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, IdStr, UTCDateTime, enum_column
from openability.kernel.ids import new_id
from openability.kernel.uow import UnitOfWork


class EmailState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # the delivery job's scan: due pending notices, expired claims
        Index("ix_notifications_email_due", "email_state", "next_attempt_at"),
        # the inbox: one recipient's notices, newest first
        Index("ix_notifications_inbox", "recipient_type", "recipient_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recipient_type: Mapped[str] = mapped_column(String(20))  # operator | partner
    recipient_id: Mapped[str] = mapped_column(String(80), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    # Dedup key: the same notice for the same thing is sent once (e.g. "sla-breach:tkt_x:final").
    dedup_key: Mapped[str | None] = mapped_column(String(160), unique=True, nullable=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # When the email went out (None until then).
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the recipient (for a partner: any of its users) marked it read in the inbox.
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    email_state: Mapped[EmailState] = mapped_column(
        enum_column(EmailState), default=EmailState.PENDING, server_default=EmailState.PENDING.value
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The next send may start at this instant (None: nothing more to send).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    claimed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class NotificationAttachment(Base):
    """A file the notice's email carries (an invoice's PDF), written with the notice."""

    __tablename__ = "notification_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    content: bytes


MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024  # a notice is no file transfer: invoices are a few kB


async def notify(
    uow: UnitOfWork,
    *,
    recipient: tuple[str, str],
    kind: str,
    subject: str,
    body: str,
    dedup_key: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> Notification | None:
    """Queue a notification (with files its email carries); returns None when one with the same dedup
    key already exists."""
    if dedup_key is not None:
        existing = await uow.session.scalar(select(Notification).where(Notification.dedup_key == dedup_key))
        if existing is not None:
            return None
    n = Notification(
        id=new_id("ntf"),
        created_at=uow.now,
        recipient_type=recipient[0],
        recipient_id=recipient[1],
        kind=kind,
        dedup_key=dedup_key,
        subject=subject,
        body=body,
        email_state=EmailState.PENDING,
        attempts=0,
        next_attempt_at=uow.now,
        last_error="",
    )
    uow.session.add(n)
    if attachments:
        await uow.session.flush()  # the notice's row before its attachments' (foreign key)
        for a in attachments:
            if len(a.content) > MAX_ATTACHMENT_BYTES or "/" not in a.content_type:
                raise ValueError(
                    f"attachment {a.filename!r}: at most {MAX_ATTACHMENT_BYTES} bytes, a MIME type"
                )
            uow.session.add(
                NotificationAttachment(
                    notification_id=n.id, filename=a.filename, content_type=a.content_type, content=a.content
                )
            )
    return n
