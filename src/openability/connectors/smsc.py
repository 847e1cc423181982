"""A local test SMSC (SMPP 3.4 server on smpp34): what `make run` and the tests send SMS to.

It accepts binds, answers every submit_sm with a fresh message id, records each received part in
memory and as one JSON line (``"type": "submit_sm"``) in a journal file, reassembles concatenated
parts into logical messages (one more line, ``"type": "message"``, with the full text), and when the
ESME asked for it (registered_delivery) pushes a standard delivery receipt back on the same bind a
little later. Destinations ending in one of ``fail_suffixes`` get ``stat:UNDELIV``; destinations
ending in one of ``reject_suffixes`` are refused at submit time (ESME_RINVDSTADR); ``paused``
holds answers back, so clients see time-outs.

smpp34's server does not expose the bind password, so "auth" here is by system_id only
(``allowed_system_ids``; empty = anyone).

Standalone: ``python -m openability.connectors.smsc --port 2775 --journal var/smsc-received.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
import smpp34
from smpp34._smpp34 import ESME_RINVDSTADR, ESME_RSYSERR, TLV_MESSAGE_STATE, TLV_RECEIPTED_MESSAGE_ID

from openability.connectors.sms_codec import decode_part
from openability.kernel.clock import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedPart:
    session: str
    system_id: str
    message_id: str
    source: str
    destination: str
    data_coding: int
    esm_class: int
    registered_delivery: int
    short_message: bytes
    text: str  # this part's decoded text (UDH stripped)
    received_at: datetime
    reference: int | None = None
    total: int = 1
    seq: int = 1


@dataclass(frozen=True)
class SmscMessage:
    """A logical (reassembled) message."""

    source: str
    destination: str
    text: str
    message_ids: list[str]
    data_coding: int
    received_at: datetime  # when its last part arrived

    @property
    def parts(self) -> int:
        return len(self.message_ids)


@dataclass
class _Pending:
    total: int
    parts: dict[int, ReceivedPart] = field(default_factory=dict)


def _receipt_time(dt: datetime) -> str:
    return dt.strftime("%y%m%d%H%M")


class TestSmsc:
    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 2775,
        *,
        system_id: str = "TESTSMSC",
        journal: Path | None = None,
        receipt_delay: float = 0.05,
        fail_suffixes: Iterable[str] = ("0000",),
        reject_suffixes: Iterable[str] = (),
        allowed_system_ids: Iterable[str] = (),
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.system_id = system_id
        self.journal = journal
        self.receipt_delay = receipt_delay
        self.fail_suffixes = tuple(fail_suffixes)
        self.reject_suffixes = tuple(reject_suffixes)
        self.allowed_system_ids = frozenset(allowed_system_ids)
        self.clock: Clock = clock or SystemClock()
        self.paused = False  # hold submit_sm answers (clients time out)
        self.received: list[ReceivedPart] = []
        self.receipts_sent: list[tuple[str, str]] = []  # (message_id, stat)
        self._messages: list[SmscMessage] = []
        self._pending: dict[tuple[str, str, int, int], _Pending] = {}
        self._held: list[smpp34.SubmitSmEvent] = []
        self._sessions: dict[str, smpp34.Esme] = {}
        self._server: smpp34.Server | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._journal_fh: IO[bytes] | None = None
        self._seq = 0

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        if self._server is not None:
            return
        server = smpp34.Server(self.host, self.port, system_id=self.system_id)
        await server.start()  # raises smpp34.SmppError when the port is taken
        self._server = server
        if self.journal is not None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            self._journal_fh = self.journal.open("ab")
        self._loop_task = asyncio.create_task(self._serve(server), name="test-smsc")
        log.info("test SMSC listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Close every bind and stop listening (smpp34's Server.stop alone keeps open sessions)."""
        server, self._server = self._server, None
        if server is None:
            return
        for ev in self._held:
            with contextlib.suppress(Exception):
                ev.reject(ESME_RSYSERR)
        self._held.clear()
        for t in list(self._tasks):
            t.cancel()
        for esme in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(esme.unbind(), 2.0)
        self._sessions.clear()
        with contextlib.suppress(Exception):
            await server.stop()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._journal_fh is not None:
            self._journal_fh.close()
            self._journal_fh = None

    async def resume(self) -> None:
        """Stop holding answers; accept everything held so far."""
        self.paused = False
        held, self._held = self._held, []
        for ev in held:
            self._accept(ev)
        await self._notify()

    # -- reading what arrived --------------------------------------------------------------------
    def messages(self) -> list[SmscMessage]:
        return list(self._messages)

    async def wait_for_messages(self, count: int, wait_seconds: float = 5.0) -> list[SmscMessage]:
        """Wait until at least `count` logical messages arrived; TimeoutError otherwise."""
        async with asyncio.timeout(wait_seconds), self._changed:
            await self._changed.wait_for(lambda: len(self._messages) >= count)
        return self.messages()

    async def wait_for_receipts(self, count: int, wait_seconds: float = 5.0) -> list[tuple[str, str]]:
        async with asyncio.timeout(wait_seconds), self._changed:
            await self._changed.wait_for(lambda: len(self.receipts_sent) >= count)
        return list(self.receipts_sent)

    async def wait_for_sessions(self, count: int, wait_seconds: float = 5.0) -> None:
        """Wait until exactly `count` ESMEs are bound."""
        async with asyncio.timeout(wait_seconds), self._changed:
            await self._changed.wait_for(lambda: len(self._sessions) == count)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- the server loop -------------------------------------------------------------------------
    async def _serve(self, server: smpp34.Server) -> None:
        while True:
            ev = await server.next()
            try:
                if isinstance(ev, smpp34.SubmitSmEvent):
                    await self._on_submit(ev)
                elif isinstance(ev, smpp34.Esme):
                    await self._on_bind(ev)
                elif isinstance(ev, smpp34.Unbound):
                    self._sessions.pop(ev.session_id, None)
                    await self._notify()
            except Exception:  # one bad PDU must not stop the SMSC
                log.exception("test SMSC: error handling %r", ev)

    async def _on_bind(self, esme: smpp34.Esme) -> None:
        if self.allowed_system_ids and esme.system_id not in self.allowed_system_ids:
            log.warning("test SMSC: refusing system_id %r", esme.system_id)
            await esme.unbind()
            return
        self._sessions[esme.session_id] = esme
        await self._notify()

    def _next_message_id(self) -> str:
        self._seq += 1
        return f"{uuid.uuid4().hex[:12]}{self._seq:06x}"

    async def _on_submit(self, ev: smpp34.SubmitSmEvent) -> None:
        if self.reject_suffixes and ev.destination_addr.endswith(self.reject_suffixes):
            ev.reject(ESME_RINVDSTADR)
            return
        if self.paused:
            self._held.append(ev)
            return
        self._accept(ev)
        await self._notify()

    def _accept(self, ev: smpp34.SubmitSmEvent) -> None:
        message_id = self._next_message_id()
        ev.accept(message_id)
        decoded = decode_part(ev.short_message, ev.data_coding, ev.esm_class)
        esme = self._sessions.get(ev.session_id)
        part = ReceivedPart(
            session=ev.session_id,
            system_id=esme.system_id if esme is not None else "",
            message_id=message_id,
            source=ev.source_addr,
            destination=ev.destination_addr,
            data_coding=ev.data_coding,
            esm_class=ev.esm_class,
            registered_delivery=ev.registered_delivery,
            short_message=ev.short_message,
            text=decoded.text,
            received_at=self.clock.now(),
            reference=decoded.reference,
            total=decoded.total,
            seq=decoded.seq,
        )
        self.received.append(part)
        self._write({"type": "submit_sm", **_part_json(part)})
        self._reassemble(part)
        failed = ev.destination_addr.endswith(self.fail_suffixes) if self.fail_suffixes else False
        wanted = ev.registered_delivery & 0x03
        if wanted == 1 or (wanted == 2 and failed):
            t = asyncio.create_task(self._send_receipt(part, failed))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    def _reassemble(self, part: ReceivedPart) -> None:
        if part.reference is None or part.total <= 1:
            done = [part]
        else:
            key = (part.source, part.destination, part.reference, part.total)
            pending = self._pending.setdefault(key, _Pending(part.total))
            pending.parts[part.seq] = part
            if len(pending.parts) < pending.total:
                return
            del self._pending[key]
            done = [pending.parts[i] for i in sorted(pending.parts)]
        msg = SmscMessage(
            source=part.source,
            destination=part.destination,
            text="".join(p.text for p in done),
            message_ids=[p.message_id for p in done],
            data_coding=part.data_coding,
            received_at=part.received_at,
        )
        self._messages.append(msg)
        self._write(
            {
                "type": "message",
                "source": msg.source,
                "destination": msg.destination,
                "text": msg.text,
                "message_ids": msg.message_ids,
                "parts": msg.parts,
                "data_coding": msg.data_coding,
                "received_at": msg.received_at.isoformat(),
            }
        )

    async def _send_receipt(self, part: ReceivedPart, failed: bool) -> None:
        if self.receipt_delay > 0:
            await asyncio.sleep(self.receipt_delay)  # a network's delivery delay, not business timing
        esme = self._sessions.get(part.session)
        if esme is None or not esme.can_receive:
            log.info("test SMSC: session of %s gone; receipt dropped", part.message_id)
            return
        stat, err, state, dlvrd = ("UNDELIV", "001", 5, "000") if failed else ("DELIVRD", "000", 2, "001")
        now = _receipt_time(self.clock.now())
        sample = part.text[:20] if part.text.isascii() else ""
        body = (
            f"id:{part.message_id} sub:001 dlvrd:{dlvrd} submit date:{_receipt_time(part.received_at)} "
            f"done date:{now} stat:{stat} err:{err} text:{sample}"
        )
        try:
            await esme.deliver_sm(
                part.source,
                body.encode("ascii", errors="replace"),
                source_addr=part.destination,
                source_addr_ton=1,
                source_addr_npi=1,
                esm_class=0x04,
                tlvs=[
                    smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, part.message_id.encode() + b"\x00"),
                    smpp34.Tlv(TLV_MESSAGE_STATE, bytes([state])),
                ],
            )
        except (smpp34.SmppError, RuntimeError) as exc:
            log.info("test SMSC: receipt for %s not delivered: %s", part.message_id, exc)
            return
        self.receipts_sent.append((part.message_id, stat))
        await self._notify()

    def _write(self, record: dict[str, Any]) -> None:
        if self._journal_fh is None:
            return
        # One short append per part; the file is a demo/diagnostic journal, not a store.
        self._journal_fh.write(orjson.dumps(record) + b"\n")
        self._journal_fh.flush()


def _part_json(p: ReceivedPart) -> dict[str, Any]:
    d = asdict(p)
    d["short_message"] = p.short_message.hex()
    d["received_at"] = p.received_at.isoformat()
    return d


async def _main(args: argparse.Namespace) -> None:
    smsc = TestSmsc(
        args.host,
        args.port,
        journal=Path(args.journal) if args.journal else None,
        receipt_delay=args.receipt_delay,
    )
    await smsc.start()
    print(
        f"test SMSC listening on {args.host}:{args.port}"
        + (f", journal {args.journal}" if args.journal else "")
    )
    try:
        await asyncio.Event().wait()
    finally:
        await smsc.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m openability.connectors.smsc", description="Run a local test SMSC."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2775)
    p.add_argument("--journal", default="var/smsc-received.jsonl", help="JSON-lines file ('' for none)")
    p.add_argument("--receipt-delay", type=float, default=0.05)
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main()
