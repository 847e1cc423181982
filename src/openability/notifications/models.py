"""The delivery log: one row per delivery attempt (private to the notifications domain). The notices
themselves and their email state are the outbox table of kernel/notify.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, IdStr, UTCDateTime, enum_column
from openability.notifications.types import Channel, Outcome


class DeliveryAttempt(Base):
    __tablename__ = "notification_deliveries"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    # The address tried; for a recipient without one, who it was ("operator:opr_…").
    recipient: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome), index=True)
    # The server's or the network's answer, secrets removed (rules.scrub).
    error: Mapped[str] = mapped_column(Text, default="")
