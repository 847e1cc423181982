"""A local test SMSC (SMPP 3.4 server on connectors/smpp_session.py): what `make run` and the tests send
SMS to.

It accepts binds, answers every submit_sm with a fresh message id, records each received part in
memory and as one JSON line (``"type": "submit_sm"``) in a journal file, reassembles concatenated
parts into logical messages (one more line, ``"type": "message"``, with the full text), and when the
ESME asked for it (registered_delivery) pushes a standard delivery receipt back a little later.
Destinations ending in one of ``fail_suffixes`` get ``stat:UNDELIV``; destinations ending in one of
``reject_suffixes`` are refused at submit time (ESME_RINVDSTADR); ``paused`` holds answers back, so
clients see time-outs; ``throttling`` answers every submit_sm ESME_RTHROTTLED; ``submit_delay`` makes a
slow SMSC: each submit_sm is taken (journaled) and answered that many seconds after it arrived, also
when the ESME has stopped waiting for the answer by then (the message is sent all the same).

Like a real SMSC it keeps a receipt until the ESME acknowledges it: a receipt answered with an error
status (ESME_RX_T_APPN, …) or not answered is sent again after ``receipt_retry_delay`` seconds (at most
``receipt_attempts`` times), to any receiving bind of the same system_id, and a receipt with no such
bind waits for the next one. ``receipt_answers`` records every deliver_sm_resp status.

``unbind()`` sends unbind to the bound ESMEs, as an SMSC does before maintenance, and records in
``unbinds`` whether each answered unbind_resp before its socket closed (SMPP 3.4 §4.2).

"Auth" is by system_id only (``allowed_system_ids``; empty = anyone); passwords are not checked.

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

from openability.connectors.smpp_pdu import (
    BIND_RECEIVER,
    BIND_TRANSCEIVER,
    BIND_TRANSMITTER,
    DELIVER_SM,
    ESME_RALYBND,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVDSTADR,
    ESME_RINVSYSID,
    ESME_ROK,
    ESME_RSYSERR,
    ESME_RTHROTTLED,
    SUBMIT_SM,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    Bind,
    Pdu,
    PduError,
    ShortMessage,
    bind_resp_body,
    message_id_body,
)
from openability.connectors.smpp_session import SessionClosed, SmppSession
from openability.connectors.sms_codec import decode_part
from openability.kernel.clock import Clock, SystemClock

log = logging.getLogger(__name__)

_BINDS = (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER)


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


@dataclass(frozen=True)
class UnbindResult:
    system_id: str
    session: str
    answered: bool  # unbind_resp arrived before the ESME's socket closed


@dataclass
class _Pending:
    total: int
    parts: dict[int, ReceivedPart] = field(default_factory=dict)


@dataclass
class _Esme:
    session_id: str
    session: SmppSession
    system_id: str = ""
    bind: int = 0  # the bind command, 0 while not bound

    @property
    def can_receive(self) -> bool:
        return self.bind in (BIND_RECEIVER, BIND_TRANSCEIVER) and not self.session.closed.is_set()


@dataclass
class _Receipt:
    part: ReceivedPart
    body: bytes  # the deliver_sm body
    stat: str
    attempts: int = 0


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
        receipt_retry_delay: float = 0.2,
        receipt_attempts: int = 50,
        fail_suffixes: Iterable[str] = ("0000",),
        reject_suffixes: Iterable[str] = (),
        allowed_system_ids: Iterable[str] = (),
        submit_delay: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.system_id = system_id
        self.journal = journal
        self.receipt_delay = receipt_delay
        self.receipt_retry_delay = receipt_retry_delay
        self.receipt_attempts = receipt_attempts
        self.fail_suffixes = tuple(fail_suffixes)
        self.reject_suffixes = tuple(reject_suffixes)
        self.allowed_system_ids = frozenset(allowed_system_ids)
        self.clock: Clock = clock or SystemClock()
        self.submit_delay = submit_delay  # seconds before a submit_sm is taken and answered (slow SMSC)
        self.paused = False  # hold submit_sm answers (clients time out)
        self.throttling = False  # answer every submit_sm ESME_RTHROTTLED
        self.received: list[ReceivedPart] = []
        self.receipts_sent: list[tuple[str, str]] = []  # (message_id, stat), acknowledged with ESME_ROK
        self.receipt_answers: list[tuple[str, int | None]] = []  # (message_id, status; None: no answer)
        self.unbinds: list[UnbindResult] = []
        self.throttled = 0  # submit_sm answered ESME_RTHROTTLED
        self._messages: list[SmscMessage] = []
        self._pending: dict[tuple[str, str, int, int], _Pending] = {}
        self._held: list[tuple[SmppSession, Pdu, ShortMessage]] = []
        self._esmes: dict[str, _Esme] = {}  # every connection, by session id
        self._waiting: dict[str, list[_Receipt]] = {}  # receipts for a system_id with no bind now
        self._server: asyncio.Server | None = None
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
        """Bound ESMEs."""
        return sum(1 for e in self._esmes.values() if e.bind and not e.session.closed.is_set())

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._on_connection, self.host, self.port)
        if self.journal is not None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            self._journal_fh = self.journal.open("ab")
        log.info("test SMSC listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Unbind every ESME and stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session, pdu, _sm in self._held:
            await session.respond(pdu, ESME_RSYSERR)
        self._held.clear()
        for t in list(self._tasks):
            t.cancel()
        await self.unbind(wait_seconds=2.0)
        for esme in list(self._esmes.values()):
            await esme.session.close("SMSC stopped")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2.0)
        if self._journal_fh is not None:
            self._journal_fh.close()
            self._journal_fh = None

    async def unbind(self, wait_seconds: float = 2.0) -> list[UnbindResult]:
        """Send unbind to every bound ESME (as before maintenance) and record, per ESME, whether its
        unbind_resp arrived before the connection closed."""
        esmes = [e for e in self._esmes.values() if e.bind and not e.session.closed.is_set()]
        answers = await asyncio.gather(*(e.session.unbind(wait_seconds) for e in esmes))
        results = [UnbindResult(e.system_id, e.session_id, a) for e, a in zip(esmes, answers, strict=True)]
        self.unbinds.extend(results)
        await self._notify()
        return results

    async def resume(self) -> None:
        """Stop holding answers; accept everything held so far."""
        self.paused = False
        held, self._held = self._held, []
        for session, pdu, sm in held:
            await self._accept(session, pdu, sm)
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
        """Wait until at least `count` receipts were acknowledged (ESME_ROK)."""
        async with asyncio.timeout(wait_seconds), self._changed:
            await self._changed.wait_for(lambda: len(self.receipts_sent) >= count)
        return list(self.receipts_sent)

    async def wait_for_receipt_answers(
        self, count: int, wait_seconds: float = 5.0
    ) -> list[tuple[str, int | None]]:
        """Wait until at least `count` deliver_sm were answered (any status) or went unanswered."""
        async with asyncio.timeout(wait_seconds), self._changed:
            await self._changed.wait_for(lambda: len(self.receipt_answers) >= count)
        return list(self.receipt_answers)

    async def wait_for_sessions(self, count: int, wait_seconds: float = 5.0) -> None:
        """Wait until exactly `count` ESMEs are bound."""
        async with asyncio.timeout(wait_seconds), self._changed:
            await self._changed.wait_for(lambda: self.sessions == count)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- connections -------------------------------------------------------------------------------
    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session_id = uuid.uuid4().hex[:16]
        session = SmppSession(
            reader,
            writer,
            self._on_request,
            name=f"test SMSC session {session_id}",
            enquire_link_seconds=0,  # the ESME keeps the link alive
            window=50,
        )
        self._esmes[session_id] = _Esme(session_id, session)
        try:
            await session.run()
        finally:
            self._esmes.pop(session_id, None)
            await self._notify()

    def _esme_of(self, session: SmppSession) -> _Esme | None:
        for e in self._esmes.values():
            if e.session is session:
                return e
        return None

    async def _on_request(self, session: SmppSession, pdu: Pdu) -> None:
        esme = self._esme_of(session)
        if esme is None:
            return
        try:
            if pdu.command_id in _BINDS:
                await self._on_bind(esme, pdu)
            elif pdu.command_id == SUBMIT_SM:
                await self._on_submit(esme, pdu)
            else:
                await session.nack(pdu.sequence_number, ESME_RINVCMDID)
        except PduError as exc:
            log.warning("test SMSC: bad PDU 0x%08X: %s", pdu.command_id, exc)
            await session.nack(pdu.sequence_number, ESME_RSYSERR)

    async def _on_bind(self, esme: _Esme, pdu: Pdu) -> None:
        if esme.bind:
            await esme.session.respond(pdu, ESME_RALYBND)
            return
        bind = Bind.decode(pdu.body)
        if self.allowed_system_ids and bind.system_id not in self.allowed_system_ids:
            log.warning("test SMSC: refusing system_id %r", bind.system_id)
            await esme.session.respond(pdu, ESME_RINVSYSID)
            await esme.session.close("bind refused")
            return
        esme.system_id, esme.bind = bind.system_id, pdu.command_id
        await esme.session.respond(pdu, ESME_ROK, bind_resp_body(self.system_id))
        await self._notify()
        if esme.can_receive:  # receipts that waited for a bind of this system_id
            for receipt in self._waiting.pop(esme.system_id, []):
                self._spawn(self._deliver(receipt))

    async def _on_submit(self, esme: _Esme, pdu: Pdu) -> None:
        if esme.bind not in (BIND_TRANSMITTER, BIND_TRANSCEIVER):
            await esme.session.respond(pdu, ESME_RINVBNDSTS)
            return
        sm = ShortMessage.decode(pdu.body)
        if self.submit_delay > 0:
            await asyncio.sleep(self.submit_delay)  # a slow SMSC: the ESME may time out meanwhile
        if self.reject_suffixes and sm.destination_addr.endswith(self.reject_suffixes):
            await esme.session.respond(pdu, ESME_RINVDSTADR)
            return
        if self.throttling:
            self.throttled += 1
            await esme.session.respond(pdu, ESME_RTHROTTLED)
            return
        if self.paused:
            self._held.append((esme.session, pdu, sm))
            return
        await self._accept(esme.session, pdu, sm)
        await self._notify()

    def _next_message_id(self) -> str:
        self._seq += 1
        return f"{uuid.uuid4().hex[:12]}{self._seq:06x}"

    async def _accept(self, session: SmppSession, pdu: Pdu, sm: ShortMessage) -> None:
        message_id = self._next_message_id()
        await session.respond(pdu, ESME_ROK, message_id_body(message_id))
        decoded = decode_part(sm.short_message, sm.data_coding, sm.esm_class)
        esme = self._esme_of(session)
        part = ReceivedPart(
            session=esme.session_id if esme is not None else "",
            system_id=esme.system_id if esme is not None else "",
            message_id=message_id,
            source=sm.source_addr,
            destination=sm.destination_addr,
            data_coding=sm.data_coding,
            esm_class=sm.esm_class,
            registered_delivery=sm.registered_delivery,
            short_message=sm.short_message,
            text=decoded.text,
            received_at=self.clock.now(),
            reference=decoded.reference,
            total=decoded.total,
            seq=decoded.seq,
        )
        self.received.append(part)
        if self._journal_fh is not None:
            self._write({"type": "submit_sm", **_part_json(part)})
        self._reassemble(part)
        failed = sm.destination_addr.endswith(self.fail_suffixes) if self.fail_suffixes else False
        wanted = sm.registered_delivery & 0x03
        if wanted == 1 or (wanted == 2 and failed):
            self._spawn(self._first_receipt(part, failed))

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
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

    # -- delivery receipts ---------------------------------------------------------------------------
    async def _first_receipt(self, part: ReceivedPart, failed: bool) -> None:
        if self.receipt_delay > 0:
            await asyncio.sleep(self.receipt_delay)  # a network's delivery delay, not business timing
        stat, err, state, dlvrd = ("UNDELIV", "001", 5, "000") if failed else ("DELIVRD", "000", 2, "001")
        now = _receipt_time(self.clock.now())
        sample = part.text[:20] if part.text.isascii() else ""
        text = (
            f"id:{part.message_id} sub:001 dlvrd:{dlvrd} submit date:{_receipt_time(part.received_at)} "
            f"done date:{now} stat:{stat} err:{err} text:{sample}"
        )
        body = ShortMessage(
            source_addr=part.destination,
            destination_addr=part.source,
            short_message=text.encode("ascii", errors="replace"),
            source_addr_ton=1,
            source_addr_npi=1,
            dest_addr_ton=1,
            dest_addr_npi=1,
            esm_class=0x04,
            tlvs={
                TLV_RECEIPTED_MESSAGE_ID: part.message_id.encode() + b"\x00",
                TLV_MESSAGE_STATE: bytes([state]),
            },
        ).encode()
        await self._deliver(_Receipt(part, body, stat))

    def _receiver(self, part: ReceivedPart) -> _Esme | None:
        """The bind a receipt goes to: the one the message came on, else any of its system_id."""
        first = self._esmes.get(part.session)
        if first is not None and first.can_receive:
            return first
        for e in self._esmes.values():
            if e.system_id == part.system_id and e.can_receive:
                return e
        return None

    async def _deliver(self, receipt: _Receipt) -> None:
        """Send a receipt until an ESME acknowledges it with ESME_ROK (bounded attempts)."""
        part = receipt.part
        while receipt.attempts < self.receipt_attempts:
            esme = self._receiver(part)
            if esme is None:
                log.info("test SMSC: no bind for %s; receipt %s waits", part.system_id, part.message_id)
                self._waiting.setdefault(part.system_id, []).append(receipt)
                return
            receipt.attempts += 1
            status: int | None
            try:
                resp = await esme.session.request(DELIVER_SM, receipt.body)
                status = resp.command_status
            except (TimeoutError, SessionClosed):
                status = None
            self.receipt_answers.append((part.message_id, status))
            if status == ESME_ROK:
                self.receipts_sent.append((part.message_id, receipt.stat))
                await self._notify()
                return
            await self._notify()
            log.info("test SMSC: receipt %s answered %s; resending later", part.message_id, status)
            await asyncio.sleep(self.receipt_retry_delay)
        log.warning("test SMSC: receipt %s dropped after %d attempts", part.message_id, receipt.attempts)

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
        submit_delay=args.submit_delay,
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
    p.add_argument(
        "--submit-delay", type=float, default=0.0, help="answer each submit_sm this many seconds late"
    )
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main()
