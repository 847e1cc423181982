"""The notifications domain's face: recipients, channels, attempt outcomes and typed read models."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class RecipientKind(enum.StrEnum):
    OPERATOR = "operator"
    PARTNER = "partner"


class Channel(enum.StrEnum):
    EMAIL = "email"


class Outcome(enum.StrEnum):
    """What one delivery attempt came to (one delivery-log row each)."""

    SENT = "sent"
    RETRY = "retry"  # failed; tried again after the back-off
    FAILED = "failed"  # failed on the last allowed attempt: given up
    SKIPPED = "skipped"  # nothing to send to (no address): not retried


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: str
    created_at: datetime
    recipient_type: str
    recipient_id: str
    kind: str
    subject: str
    body: str
    read_at: datetime | None
    email_state: str
    sent_at: datetime | None

    @property
    def unread(self) -> bool:
        return self.read_at is None


@dataclass(frozen=True, slots=True)
class MailAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A notice claimed for sending: `attempt` fences the claim (its number of attempts after the
    claim), `address` is None when the recipient has no email."""

    id: str
    attempt: int
    claimed_until: datetime
    recipient_type: str
    recipient_id: str
    kind: str
    subject: str
    body: str
    address: str | None
    attachments: tuple[MailAttachment, ...] = ()


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: Outcome
    error: str = ""
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryLogEntry:
    id: str
    at: datetime
    notification_id: str
    channel: str
    recipient: str
    attempt: int
    outcome: str
    error: str


@dataclass(slots=True)
class DeliveryReport:
    enabled: bool = True
    sent: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0
    left_to_expire: int = 0  # claimed, but the claim ran out before its turn: left for the next run

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    def text(self) -> str:
        if not self.enabled:
            return "email delivery is off (OPENABILITY_SMTP_ENABLED)"
        out = f"sent {self.sent}, retry {self.retry}, failed {self.failed}, skipped {self.skipped}"
        return out + (f", {self.left_to_expire} left for the next run" if self.left_to_expire else "")
