"""Delivery receipts: the sink connectors hand DLRs to (Connectors.receipt_sink), and the
delivery status a partner reads with GET /capabilities/<cap>/v1/<messages|notifications>/{id}.

Receipts are stored by network id (upsert: a later receipt for a part replaces the earlier one) through a
small group-committing writer, so a burst of DLRs costs one transaction per batch, not per receipt."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from openability.charging.models import DeliveryReceipt, Message
from openability.kernel.batching import BatchWriter, Pending
from openability.kernel.errors import NotFound

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

BATCH_MAX = 500

# Network element statuses (SMPP DLR stat, simulators) -> API delivery status.
STATUS_MAP = {
    "DELIVRD": "delivered",
    "ANSWERED": "delivered",  # voice notification: the callee picked up and heard it
    "UNDELIV": "undeliverable",
    "NO_ANSWER": "undeliverable",
    "EXPIRED": "expired",
    "REJECTD": "rejected",
    "DELETED": "deleted",
    "ACCEPTD": "submitted",
    "ENROUTE": "submitted",
    "UNKNOWN": "unknown",
}
FAILED = ("undeliverable", "expired", "rejected", "deleted")


def part_status(network_status: str) -> str:
    return STATUS_MAP.get(network_status.upper(), "unknown")


def overall_status(parts: list[str]) -> str:
    """A multi-part message is delivered only when every part is; any failed part fails it; otherwise
    it is still on its way ("submitted")."""
    for s in parts:
        if s in FAILED:
            return s
    if parts and all(s == "delivered" for s in parts):
        return "delivered"
    if any(s == "unknown" for s in parts):
        return "unknown"
    return "submitted"


class ReceiptWriter:
    """An async callable (network_id, status, error): returns once the receipt is stored."""

    def __init__(self, container: Platform) -> None:
        self.container = container
        self._writer: BatchWriter[tuple[str, str, str]] = BatchWriter(
            "receipt-writer", self._commit, batch_max=BATCH_MAX
        )

    async def start(self) -> None:
        await self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()

    async def __call__(self, network_id: str, status: str, error: str) -> None:
        row = (network_id[:80], status[:20], (error or "")[:10])
        if not self._writer.running:
            async with self.container.uow() as uow:
                await _upsert(uow.session, [row], uow.now)
            return
        await asyncio.shield(self._writer.put(row))

    async def _commit(self, batch: list[Pending[tuple[str, str, str]]]) -> None:
        # Last receipt per network id wins within a batch.
        rows = {p.item[0]: p.item for p in batch}
        async with self.container.uow() as uow:
            await _upsert(uow.session, list(rows.values()), uow.now)


async def _upsert(session: AsyncSession, rows: list[tuple[str, str, str]], now: datetime) -> None:
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for nid, status, error in sorted(rows):
        stmt = ins(DeliveryReceipt).values(network_id=nid, status=status, error=error, received_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["network_id"],
            set_={
                "status": stmt.excluded.status,
                "error": stmt.excluded.error,
                "received_at": stmt.excluded.received_at,
            },
        )
        await session.execute(stmt)


async def message_status(
    session: AsyncSession, partner_id: str, capability: str, message_id: str
) -> dict[str, Any]:
    """The delivery status of one message; only its owner partner sees it (404 otherwise)."""
    msg = await session.get(Message, message_id) if len(message_id) <= 40 else None
    if msg is None or msg.partner_id != partner_id or msg.capability != capability:
        raise NotFound(f"message {message_id} not found")
    ids = list(msg.network_ids or [])
    receipts = (
        {
            r.network_id: r
            for r in (
                await session.scalars(select(DeliveryReceipt).where(DeliveryReceipt.network_id.in_(ids)))
            ).all()
        }
        if ids
        else {}
    )
    parts: list[dict[str, Any]] = []
    statuses: list[str] = []
    updated = msg.created_at
    for nid in ids:
        r = receipts.get(nid)
        st = part_status(r.status) if r is not None else "submitted"
        statuses.append(st)
        part: dict[str, Any] = {"networkId": nid, "status": st}
        if r is not None:
            part["networkStatus"] = r.status
            part["error"] = r.error
            part["updatedAt"] = r.received_at.isoformat()
            updated = max(updated, r.received_at)
        parts.append(part)
    return {
        "messageId": msg.id,
        "to": msg.recipient,
        "status": overall_status(statuses) if statuses else "submitted",
        "parts": parts,
        "createdAt": msg.created_at.isoformat(),
        "updatedAt": updated.isoformat(),
    }
