"""Delivery receipts: the sink connectors hand DLRs to (Connectors.receipt_sink), and the
delivery status a partner reads with GET /capabilities/<cap>/v1/<messages|notifications>/{id}.

Receipts are stored by network id through a small group-committing writer, so a burst of DLRs costs one
transaction per batch, not per receipt. The sink returns only once its receipt is **durable** — its batch
committed, or, when the database cannot take the batch, the batch appended to the local spool
(`data_dir/receipts-spool`, one fsynced file per batch) — and raises when neither worked: the SMPP
connector acknowledges a receipt (deliver_sm_resp) only after the sink returned, and otherwise answers a
temporary error so the SMSC sends it again (connectors/smpp.py). Spooled receipts are replayed into the
database at start-up and every `receipt_spool_replay_seconds`; each file is removed once its rows are
committed.

Storing is idempotent by network id: a receipt carries the time it arrived, and the upsert replaces a
stored receipt only with one that arrived at the same time or later — so a replayed or resent receipt
can be stored any number of times, and an old spooled receipt never overwrites a newer one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from openability.charging.models import DeliveryReceipt, Message
from openability.kernel.batching import BatchWriter, Pending
from openability.kernel.errors import NotFound
from openability.kernel.outage import is_outage
from openability.kernel.tasks import cancelled_meanwhile, stop_task

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


# network_id, status, error, received_at (when the receipt reached the platform)
ReceiptRow = tuple[str, str, str, datetime]

SPOOL_DIR = "receipts-spool"


class ReceiptSpool:
    """Receipts the database could not take, one file per batch: written under a temporary name, fsynced,
    renamed into place and the directory fsynced, so a file that is there is whole and on disk. Blocking
    file calls: the writer runs them in a thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def append(self, rows: list[ReceiptRow]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        tmp = self.directory / f".{name}.tmp"
        path = self.directory / f"{name}.jsonl"
        data = b"".join(
            orjson.dumps({"id": nid, "status": st, "error": err, "at": at.isoformat()}) + b"\n"
            for nid, st, err, at in rows
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return path

    def files(self) -> list[Path]:
        """Spooled batches, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.jsonl"))

    def read(self, path: Path) -> list[ReceiptRow]:
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:  # another worker replayed it meanwhile
            return []
        rows: list[ReceiptRow] = []
        for line in lines:
            try:
                r = orjson.loads(line)
                rows.append(
                    (str(r["id"]), str(r["status"]), str(r["error"]), datetime.fromisoformat(r["at"]))
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.error("receipt spool %s: unreadable line %r skipped", path.name, line[:200])
        return rows

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class ReceiptWriter:
    """An async callable (network_id, status, error): returns once the receipt is durable (stored, or
    spooled when the database cannot take it); raises when it is neither."""

    def __init__(self, container: Platform) -> None:
        self.container = container
        self.spool = ReceiptSpool(container.settings.data_dir / SPOOL_DIR)
        self._writer: BatchWriter[ReceiptRow] = BatchWriter(
            "receipt-writer", self._commit, batch_max=BATCH_MAX
        )
        self._replayer: asyncio.Task[None] | None = None
        self._replay_lock = asyncio.Lock()
        self.spooled = 0  # receipts written to the spool
        self.replayed = 0  # spooled receipts stored in the database since

    async def start(self) -> None:
        await self._writer.start()
        try:
            await self.replay()  # what an earlier run spooled
        except Exception as exc:
            log.warning("receipt spool not replayed at start-up (%s: %s); retrying", type(exc).__name__, exc)
        if self._replayer is None:
            self._replayer = asyncio.create_task(self._replay_loop(), name="receipt-spool-replay")

    async def stop(self) -> None:
        await stop_task(self._replayer)
        self._replayer = None
        await self._writer.stop()

    async def __call__(self, network_id: str, status: str, error: str) -> None:
        row = (network_id[:80], status[:20], (error or "")[:10], self.container.clock.now())
        if not self._writer.running:
            await self._store([row])
            return
        await asyncio.shield(self._writer.put(row))

    async def _commit(self, batch: list[Pending[ReceiptRow]]) -> None:
        # Last receipt per network id wins within a batch.
        rows = {p.item[0]: p.item for p in batch}
        await self._store(list(rows.values()))

    async def _store(self, rows: list[ReceiptRow]) -> None:
        """Commit the rows, or spool them; raises when neither worked (the callers' receipts are then
        not acknowledged)."""
        try:
            async with self.container.uow() as uow:
                await _upsert(uow.session, rows)
        except Exception as exc:
            path = await asyncio.to_thread(self.spool.append, rows)  # OSError: not durable, raised
            self.spooled += len(rows)
            log.warning(
                "%d delivery receipts not stored (%s: %s); spooled to %s for replay",
                len(rows),
                type(exc).__name__,
                exc,
                path,
            )

    async def replay(self) -> int:
        """Store the spooled receipts, removing each file once its rows are committed. Returns the number
        of receipts stored; raises (leaving the rest spooled) when the database is still unreachable. A
        file the database refuses for another reason stays spooled (logged) and the others go on."""
        async with self._replay_lock:
            stored = 0
            for path in await asyncio.to_thread(self.spool.files):
                rows = await asyncio.to_thread(self.spool.read, path)
                if rows:
                    try:
                        async with self.container.uow() as uow:
                            await _upsert(uow.session, rows)
                    except Exception as exc:
                        if is_outage(exc):
                            raise
                        log.exception("receipt spool %s not replayed; kept for the next attempt", path.name)
                        continue
                await asyncio.to_thread(self.spool.remove, path)
                stored += len(rows)
            if stored:
                self.replayed += stored
                log.info("%d spooled delivery receipts stored", stored)
            return stored

    async def _replay_loop(self) -> None:
        interval = self.container.settings.receipt_spool_replay_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.replay()
            except Exception as exc:
                if cancelled_meanwhile():  # stopping: the cancel came out as this error
                    raise asyncio.CancelledError from exc
                log.warning(
                    "receipt spool replay failed (%s: %s); retrying in %gs", type(exc).__name__, exc, interval
                )


async def _upsert(session: AsyncSession, rows: list[ReceiptRow]) -> None:
    """Idempotent by network id: a stored receipt is replaced only by one that arrived no earlier."""
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for nid, status, error, at in sorted(rows):
        stmt = ins(DeliveryReceipt).values(network_id=nid, status=status, error=error, received_at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["network_id"],
            set_={
                "status": stmt.excluded.status,
                "error": stmt.excluded.error,
                "received_at": stmt.excluded.received_at,
            },
            where=DeliveryReceipt.received_at <= stmt.excluded.received_at,
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
