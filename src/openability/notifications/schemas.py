"""HTTP shapes of the inbox and the delivery log: camelCase JSON (kernel ApiModel)."""

from __future__ import annotations

from datetime import datetime

from openability.kernel.schemas import ApiModel
from openability.notifications.types import DeliveryLogEntry, InboxItem


class NotificationOut(ApiModel):
    id: str
    created_at: datetime
    kind: str
    subject: str
    body: str
    unread: bool
    read_at: datetime | None
    # email: pending | sending | sent | failed | skipped
    email_state: str
    sent_at: datetime | None

    @classmethod
    def of(cls, n: InboxItem) -> NotificationOut:
        return cls(
            id=n.id,
            created_at=n.created_at,
            kind=n.kind,
            subject=n.subject,
            body=n.body,
            unread=n.unread,
            read_at=n.read_at,
            email_state=n.email_state,
            sent_at=n.sent_at,
        )


class UnreadOut(ApiModel):
    unread: int


class MarkedOut(ApiModel):
    marked: int


class DeliveryOut(ApiModel):
    id: str
    at: datetime
    notification_id: str
    channel: str
    recipient: str
    attempt: int
    outcome: str
    error: str

    @classmethod
    def of(cls, d: DeliveryLogEntry) -> DeliveryOut:
        return cls(
            id=d.id,
            at=d.at,
            notification_id=d.notification_id,
            channel=d.channel,
            recipient=d.recipient,
            attempt=d.attempt,
            outcome=d.outcome,
            error=d.error,
        )
