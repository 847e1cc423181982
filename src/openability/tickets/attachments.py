"""Ticket attachments: files under settings.data_dir/attachments, metadata in ticket_attachments;
size limit and content-type allowlist; downloads only by the ticket's partner and operators."""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from pathlib import Path

from sqlalchemy import func, select

from openability.kernel.errors import InvalidArgument, NotFound, RuleViolation
from openability.kernel.ids import new_id
from openability.kernel.uow import UnitOfWork
from openability.tickets.models import Ticket, TicketAttachment, TicketComment
from openability.tickets.service import _is_partner_user, _require_agent, get_ticket

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS_PER_TICKET = 20
ATTACHMENT_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "text/plain",
        "text/csv",
        "application/zip",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
)


# ---------------------------------------------------------------- attachments


_UNSAFE = re.compile(r"[^\w.\- ()\u4e00-\u9fff]")


def safe_filename(name: str) -> str:
    base = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name).strip()
    base = _UNSAFE.sub("_", base)[:200].lstrip(".")
    return base or "file"


def attachments_dir(uow: UnitOfWork) -> Path:
    return Path(uow.settings.data_dir) / "attachments"


async def add_attachment(
    uow: UnitOfWork,
    ticket_id: str,
    filename: str,
    content_type: str,
    data: bytes,
    comment_id: str | None = None,
) -> TicketAttachment:
    t = await get_ticket(uow, ticket_id, lock=True)
    if not _is_partner_user(uow):
        _require_agent(uow)
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype not in ATTACHMENT_TYPES:
        raise InvalidArgument(f"content type {ctype or '?'} is not allowed", code="ATTACHMENT_TYPE")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidArgument(
            f"attachment larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB", code="ATTACHMENT_TOO_LARGE"
        )
    if not data:
        raise InvalidArgument("empty attachment", code="ATTACHMENT_EMPTY")
    n = await uow.session.scalar(
        select(func.count()).select_from(TicketAttachment).where(TicketAttachment.ticket_id == t.id)
    )
    if int(n or 0) >= MAX_ATTACHMENTS_PER_TICKET:
        raise RuleViolation(
            f"at most {MAX_ATTACHMENTS_PER_TICKET} attachments per ticket", code="TOO_MANY_ATTACHMENTS"
        )
    if comment_id is not None:
        c = await uow.session.get(TicketComment, comment_id)
        if c is None or c.ticket_id != t.id:
            raise InvalidArgument("comment not on this ticket")
    att_id = new_id("att")
    key = f"{t.id}/{att_id}"
    path = attachments_dir(uow) / key
    # Written before commit: a rolled-back upload leaves an orphan file, never a row without bytes.
    await asyncio.to_thread(_write_file, path, data)
    a = TicketAttachment(
        id=att_id,
        ticket_id=t.id,
        partner_id=t.partner_id,
        comment_id=comment_id,
        filename=safe_filename(filename),
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
        uploaded_by_type=uow.actor.type,
        uploaded_by_id=uow.actor.id,
        created_at=uow.now,
    )
    uow.session.add(a)
    await uow.session.flush()
    uow.audit(
        "ticket.attachment_added",
        ("ticket", t.id),
        partner_id=t.partner_id,
        after={"attachment_id": a.id, "filename": a.filename, "size": a.size, "sha256": a.sha256},
    )
    return a


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def list_attachments(uow: UnitOfWork, t: Ticket) -> list[TicketAttachment]:
    return list(
        (
            await uow.session.scalars(
                select(TicketAttachment)
                .where(TicketAttachment.ticket_id == t.id)
                .order_by(TicketAttachment.created_at)
            )
        ).all()
    )


async def read_attachment(
    uow: UnitOfWork, ticket_id: str, attachment_id: str
) -> tuple[TicketAttachment, bytes]:
    """Downloads only for the ticket's partner and operators (get_ticket enforces it)."""
    t = await get_ticket(uow, ticket_id)
    a = await uow.session.get(TicketAttachment, attachment_id)
    if a is None or a.ticket_id != t.id:
        raise NotFound(f"attachment {attachment_id} not found")
    path = attachments_dir(uow) / a.storage_key
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise NotFound(f"attachment {attachment_id} content missing") from None
    return a, data
