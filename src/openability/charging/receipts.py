"""Delivery receipts: the sink connectors hand DLRs to (container.parts["receipt_sink"]), and the
delivery status a partner reads with GET /capabilities/<cap>/v1/<messages|notifications>/{id}.

Receipts are stored by network id (upsert: a later receipt for a part replaces the earlier one) through a
small group-committing writer, so a burst of DLRs costs one transaction per batch, not per receipt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from openability.charging.models import DeliveryReceipt, Message
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
        self._queue: asyncio.Queue[tuple[str, str, str, asyncio.Future[None]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="receipt-writer")

    async def stop(self) -> None:
        if self._task is None:
            return
        await self._queue.put(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def __call__(self, network_id: str, status: str, error: str) -> None:
        if self._task is None:
            async with self.container.uow() as uow:
                await _upsert(uow.session, [(network_id[:80], status[:20], (error or "")[:10])], uow.now)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((network_id[:80], status[:20], (error or "")[:10], fut))
        await asyncio.shield(fut)

    async def _loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < BATCH_MAX:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            # Last receipt per network id wins within a batch.
            rows = {nid: (nid, st, err) for nid, st, err, _ in batch}
            try:
                async with self.container.uow() as uow:
                    await _upsert(uow.session, list(rows.values()), uow.now)
            except Exception as exc:
                log.exception("storing %d receipt(s) failed", len(batch))
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                        fut.exception()
            else:
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
            if stop:
                return


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
