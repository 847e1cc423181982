"""Notifications outbox: written in the business transaction, delivered after commit by a job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, IdStr, UTCDateTime
from openability.kernel.ids import new_id
from openability.kernel.uow import UnitOfWork


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recipient_type: Mapped[str] = mapped_column(String(20))  # operator | partner
    recipient_id: Mapped[str] = mapped_column(String(80), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    # Dedup key: the same notice for the same thing is sent once (e.g. "sla-breach:tkt_x:final").
    dedup_key: Mapped[str | None] = mapped_column(String(160), unique=True, nullable=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


async def notify(
    uow: UnitOfWork,
    *,
    recipient: tuple[str, str],
    kind: str,
    subject: str,
    body: str,
    dedup_key: str | None = None,
) -> Notification | None:
    """Queue a notification; returns None when one with the same dedup key already exists."""
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
    )
    uow.session.add(n)
    return n
