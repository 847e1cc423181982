"""One SMPP 3.4 connection on asyncio streams, either end (the platform's ESME and the local test SMSC).

The session frames PDUs (connectors/smpp_pdu.py), numbers requests and matches their responses
(a window bounds outstanding submit_sm/deliver_sm), answers enquire_link by itself and sends its own
every `enquire_link_seconds` (a link whose enquire_link goes unanswered is closed), and hands every
other request to the owner's handler, which answers it when it chooses to — so a deliver_sm is
answered only once its receipt is durable (SMPP 3.4 §4.6.2 lets the answer be an error status, which
makes the SMSC retry).

An unbind from the peer is answered with unbind_resp *before* the connection is closed (SMPP 3.4 §4.2:
the receiver of an unbind must respond): requests already being handled get up to
`unbind_drain_seconds` to send their own answers first, then unbind_resp is written and flushed, then
the socket is closed. `unbound_by_peer` / `unbind_answered` record what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from openability.connectors.smpp_pdu import (
    DELIVER_SM,
    ENQUIRE_LINK,
    ESME_RINVCMDLEN,
    ESME_ROK,
    ESME_RSYSERR,
    GENERIC_NACK,
    HEADER_SIZE,
    RESPONSE_BIT,
    SUBMIT_SM,
    UNBIND,
    Pdu,
    PduError,
    read_header,
)

log = logging.getLogger(__name__)

_WINDOWED = frozenset({SUBMIT_SM, DELIVER_SM})
_MAX_SEQUENCE = 0x7FFFFFFF


class SessionClosed(ConnectionError):
    """The connection is gone (or going): the request was not answered. The peer may have received it
    (it was written before the connection ended) unless the exception is NotSent."""


class NotSent(SessionClosed):
    """The connection was gone (or going) before the request was written: the peer never saw it."""


RequestHandler = Callable[["SmppSession", Pdu], Awaitable[None]]


class SmppSession:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: RequestHandler,
        *,
        name: str,
        response_timeout: float = 5.0,
        enquire_link_seconds: float = 30.0,
        window: int = 10,
        unbind_drain_seconds: float = 1.0,
    ) -> None:
        self.name = name
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self.response_timeout = response_timeout
        self.enquire_link_seconds = enquire_link_seconds
        self.unbind_drain_seconds = unbind_drain_seconds
        self._window = asyncio.Semaphore(max(1, window))
        self._seq = 0
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._write_lock = asyncio.Lock()
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.unbinding = False  # an unbind was sent or received: no new requests
        self.unbound_by_peer = False  # the peer sent unbind
        self.unbind_answered = False  # … and this side answered it with unbind_resp before closing

    # -- sending -----------------------------------------------------------------------------------
    def _next_sequence(self) -> int:
        self._seq = self._seq % _MAX_SEQUENCE + 1
        return self._seq

    async def _write(self, data: bytes) -> None:
        if self.closed.is_set() or self._writer.is_closing():
            raise NotSent(self.close_reason or "connection closed")
        async with self._write_lock:
            try:
                self._writer.write(data)
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                raise SessionClosed(str(exc) or "connection lost") from exc

    async def request(self, command_id: int, body: bytes = b"", *, wait_seconds: float | None = None) -> Pdu:
        """Send a request and wait for its response (a generic_nack with its sequence number counts).
        Raises TimeoutError (no answer in time: the peer may have it), NotSent (never written) or
        SessionClosed (written, then the connection ended without its answer: the peer may have it)."""
        if self.closed.is_set() or (self.unbinding and command_id != UNBIND):
            raise NotSent(self.close_reason or "unbinding")
        windowed = command_id in _WINDOWED
        if windowed:
            await self._window.acquire()
        seq = self._next_sequence()
        fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[seq] = fut
        try:
            await self._write(Pdu(command_id, ESME_ROK, seq, body).encode())
            limit = self.response_timeout if wait_seconds is None else wait_seconds
            return await asyncio.wait_for(fut, limit)
        finally:
            self._pending.pop(seq, None)
            if windowed:
                self._window.release()

    async def respond(self, req: Pdu, status: int = ESME_ROK, body: bytes = b"") -> bool:
        """Answer a request; False when the connection is gone (the peer will see no answer)."""
        return await self._answer(Pdu(req.command_id | RESPONSE_BIT, status, req.sequence_number, body))

    async def nack(self, sequence_number: int, status: int) -> bool:
        return await self._answer(Pdu(GENERIC_NACK, status, sequence_number))

    async def _answer(self, pdu: Pdu) -> bool:
        try:
            await self._write(pdu.encode())
        except SessionClosed:
            return False
        return True

    # -- reading -----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Read until the connection ends (the peer's unbind answered, closed, or broken)."""
        keepalive = (
            asyncio.create_task(self._keepalive(), name=f"{self.name}-enquire-link")
            if self.enquire_link_seconds > 0
            else None
        )
        reason = "connection closed"
        try:
            while True:
                header = await self._reader.readexactly(HEADER_SIZE)
                length, command_id, status, seq = read_header(header)
                body = await self._reader.readexactly(length - HEADER_SIZE) if length > HEADER_SIZE else b""
                pdu = Pdu(command_id, status, seq, body)
                if pdu.is_response:
                    fut = self._pending.get(seq)
                    if fut is not None and not fut.done():
                        fut.set_result(pdu)
                    continue
                if command_id == ENQUIRE_LINK:
                    await self.respond(pdu)
                elif command_id == UNBIND:
                    await self._answer_unbind(pdu)
                    reason = "unbound by the peer"
                    return
                else:
                    task = asyncio.create_task(self._handle(pdu))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
        except asyncio.IncompleteReadError:
            reason = "connection closed by the peer"
        except PduError as exc:
            reason = f"framing error: {exc}"
            await self.nack(0, ESME_RINVCMDLEN)
        except (ConnectionError, OSError) as exc:
            reason = f"connection lost: {exc}"
        finally:
            if keepalive is not None:
                keepalive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keepalive
            await self.close(reason)

    async def _handle(self, pdu: Pdu) -> None:
        try:
            await self._handler(self, pdu)
        except Exception:  # the handler must answer; a bug answers a system error instead of nothing
            log.exception("%s: handling command 0x%08X failed", self.name, pdu.command_id)
            await self.respond(pdu, ESME_RSYSERR)

    async def _answer_unbind(self, pdu: Pdu) -> None:
        self.unbinding = True
        self.unbound_by_peer = True
        if self._inflight:  # let the answers being prepared (receipt acks) go out first, briefly
            await asyncio.wait(set(self._inflight), timeout=self.unbind_drain_seconds)
        self.unbind_answered = await self.respond(pdu)  # written and flushed before the close below
        log.info("%s: unbind from the peer answered (%s)", self.name, self.unbind_answered)

    async def _keepalive(self) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(self.enquire_link_seconds)
            try:
                await self.request(ENQUIRE_LINK)
            except TimeoutError:
                log.warning("%s: enquire_link unanswered; closing the link", self.name)
                await self.close("enquire_link unanswered")
                return
            except SessionClosed:
                return

    # -- ending ------------------------------------------------------------------------------------
    async def unbind(self, wait_seconds: float = 2.0) -> bool:
        """Send unbind, wait for unbind_resp, close. True when the peer answered."""
        if self.closed.is_set():
            return False
        self.unbinding = True
        try:
            resp = await self.request(UNBIND, wait_seconds=wait_seconds)
            answered = resp.command_id == UNBIND | RESPONSE_BIT
        except (TimeoutError, SessionClosed):
            answered = False
        await self.close("unbound")
        return answered

    async def close(self, reason: str = "closed") -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(SessionClosed(reason))
        self._pending.clear()
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)

    async def wait_inflight(self, wait_seconds: float) -> None:
        """Wait (bounded) for the requests being handled to finish."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=wait_seconds)
