"""Pure rules of delivery: back-off, give-up, the email a notice becomes, secrets kept out of errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from openability.notifications.types import MailAttachment, Outcome, RecipientKind

MAX_ERROR_CHARS = 500


def backoff(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Wait before the next attempt after `attempts` failed ones: base, 2×base, 4×base… capped."""
    exp = min(max(attempts - 1, 0), 40)  # 2**40 × any base is past any cap
    return timedelta(seconds=min(base_seconds * (2**exp), max_seconds))


def after_failure(
    attempts: int, now: datetime, *, max_attempts: int, base_seconds: float, max_seconds: float
) -> tuple[Outcome, datetime | None]:
    """A failed attempt number `attempts`: retried after the back-off, or given up after the last."""
    if attempts >= max_attempts:
        return Outcome.FAILED, None
    return Outcome.RETRY, now + backoff(attempts, base_seconds, max_seconds)


def scrub(error: str, secrets: tuple[str, ...]) -> str:
    """An error text as the log and the delivery log may keep it: no secret, one line, bounded."""
    for s in secrets:
        if s:
            error = error.replace(s, "***")
    error = " ".join(error.split())
    return error[:MAX_ERROR_CHARS]


def inbox_path(recipient_type: str) -> str:
    return (
        "/console/ops/notifications"
        if recipient_type == RecipientKind.OPERATOR
        else "/console/portal/notifications"
    )


def sender_domain(from_address: str) -> str:
    _, addr = parseaddr(from_address)
    return addr.rpartition("@")[2] or "localhost"


def email_text(body: str, inbox_url: str) -> str:
    return (
        f"{body}\n\n"
        "--\n"
        f"在控制台查看全部通知 / All notices in the console: {inbox_url}\n"
        "此邮件由能力开放平台自动发送，请勿直接回复。\n"
        "This message was sent automatically by openability; please do not reply.\n"
    )


def compose(
    *,
    notification_id: str,
    to: str,
    from_address: str,
    subject: str,
    body: str,
    inbox_url: str,
    now: datetime,
    attachments: tuple[MailAttachment, ...] = (),
) -> EmailMessage:
    """The email of a notice: UTF-8 text (base64, so any server takes it), the subject as RFC 2047
    encoded words, and a Message-ID made of the notice id, the same on every attempt, so that a copy
    sent twice (a sender died after sending, before recording it) can be recognised as one."""
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    domain = sender_domain(from_address)
    msg["Message-ID"] = f"<{notification_id}@{domain}>"
    msg["X-Openability-Notification"] = notification_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    msg.set_content(email_text(body, inbox_url), charset="utf-8", cte="base64")
    for a in attachments:  # the message becomes multipart/mixed: the text first, then each file
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(a.content, maintype=maintype, subtype=subtype, filename=a.filename)
    return msg


def valid_address(address: str) -> bool:
    """A single plain mailbox (local@domain, no display name, no header injection)."""
    if any(c in address for c in '\r\n,;<>"') or address.count("@") != 1:
        return False
    local, _, domain = address.partition("@")
    if not local or not domain:
        return False
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError):
        return False
    return True
