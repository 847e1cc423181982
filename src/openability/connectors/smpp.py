"""SMS over SMPP 3.4: the platform binds to an SMSC as an ESME (transceiver by default).

One long-lived bind carries every submission (a window of concurrent submit_sm over one session,
connectors/smpp_session.py). A supervisor task binds, reads inbound PDUs until the link ends, then
binds again with capped exponential back-off, for as long as the connector runs. While not bound,
``available`` is False and ``submit`` raises NetworkUnavailable at once, so the gateway answers 503
and charges nothing.

The SMPP session is the platform's own (connectors/smpp_session.py, smpp_pdu.py) rather than a
library's, for three answers the platform must control (issue 8):

- **deliver_sm_resp after the receipt is durable.** A delivery receipt is handed to the receipt sink
  (charging/receipts.ReceiptWriter), which returns only once the receipt is committed to the database
  or appended and fsynced to the local spool; only then is deliver_sm_resp ESME_ROK sent. When the
  receipt cannot be made durable (sink missing, failing or slower than
  `smsc_receipt_store_timeout_seconds`), the answer is ESME_RX_T_APPN, a temporary error, and the SMSC
  delivers the receipt again later. (The smpp34 library used before acknowledged every deliver_sm in its
  native core before the application saw it.)
- **unbind_resp before closing.** An unbind from the SMSC is answered with unbind_resp, flushed, and
  only then is the socket closed (SMPP 3.4 §4.2); the connector re-binds per its back-off policy.
- **ESME_RTHROTTLED.** A submit_sm answered with ESME_RTHROTTLED raises NetworkThrottled: the call is
  503 NETWORK_THROTTLED with Retry-After, not charged, and the connector holds further submissions
  back (`smsc_throttle_retry_after_seconds`, doubling while the SMSC keeps throttling, up to
  `smsc_throttle_max_seconds`). Every other refusal keeps its mapping (NetworkUnavailable, 503).

Addressing (documented choice): the destination is the E.164 number without '+', TON 1
(international) / NPI 1 (ISDN E.164). The source is the platform's service code (a digit string such as
10690000, TON 0 unknown / NPI 1 ISDN, which is how Chinese SMSCs expect 106xx service codes) or,
when the sender is alphanumeric, TON 5 / NPI 0. Every part asks for a delivery receipt
(registered_delivery 1).

A submit_sm that got no answer — it timed out (`smsc_timeout_seconds`), or the link closed after it was
written — may have been taken by the SMSC, which then delivers it: it raises NetworkInDoubt, so the
call is answered 503 and not charged, and a retry with the same idempotency key is not sent again (409
REQUEST_IN_DOUBT) instead of reaching the handset twice (found by tests/faults: a slow SMSC got every
timed-out call twice). A submit_sm that was never written (not bound, link already closed, held back
by throttling) is plain NetworkUnavailable: a retry sends it.

A concatenated message is sent part by part; if a later part fails, the earlier parts were already
accepted by the SMSC but the call still fails (503, not charged): the SMSC offers no way to withdraw
them, and under-charging one call beats charging a message the caller was told failed. Such a call is
in doubt too (NetworkInDoubt): the handset may show the parts it got, and a retry would send them
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from openability.config import Settings
from openability.connectors.base import (
    Connectors,
    NetworkInDoubt,
    NetworkThrottled,
    NetworkUnavailable,
    SmsSubmission,
    Submitted,
)
from openability.connectors.smpp_pdu import (
    BIND_COMMANDS,
    DELIVER_SM,
    ESME_RINVCMDID,
    ESME_ROK,
    ESME_RTHROTTLED,
    ESME_RX_P_APPN,
    ESME_RX_T_APPN,
    RESPONSE_BIT,
    SUBMIT_SM,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    Bind,
    Pdu,
    PduError,
    ShortMessage,
    decode_message_id,
    message_id_body,
    status_name,
)
from openability.connectors.smpp_session import NotSent, SessionClosed, SmppSession
from openability.connectors.sms_codec import SmsEncoding, encode_sms
from openability.kernel.errors import InvalidArgument

log = logging.getLogger(__name__)

ESM_CLASS_RECEIPT = 0x04  # esm_class "SMSC delivery receipt" message type bit
TON_UNKNOWN, TON_INTERNATIONAL, TON_ALPHANUMERIC = 0, 1, 5
NPI_UNKNOWN, NPI_ISDN = 0, 1

# SMPP 3.4 §5.2.28 message_state values -> the receipt "stat:" words.
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}

_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.IGNORECASE)
_DIGITS = re.compile(r"\d{1,20}")


@dataclass(frozen=True)
class DeliveryReceipt:
    network_id: str
    status: str  # DELIVRD, UNDELIV, EXPIRED, …
    error: str  # the receipt's err field ("000" when none)


def parse_receipt(text: str, tlvs: Mapping[int, bytes] | None = None) -> DeliveryReceipt | None:
    """Read an SMPP 3.4 Appendix B delivery receipt. The receipted_message_id / message_state TLVs win
    over the text when present (some SMSCs truncate or re-format the id in the text)."""
    fields = {m.group(1).lower(): m.group(2) for m in _RECEIPT_FIELD.finditer(text)}
    tlvs = tlvs or {}
    network_id = fields.get("id", "")
    raw_id = tlvs.get(TLV_RECEIPTED_MESSAGE_ID)
    if raw_id:
        network_id = raw_id.rstrip(b"\x00").decode("ascii", errors="replace")
    status = fields.get("stat", "").upper()
    raw_state = tlvs.get(TLV_MESSAGE_STATE)
    if raw_state:
        status = MESSAGE_STATES.get(raw_state[0], status or "UNKNOWN")
    if not network_id or not status:
        return None
    return DeliveryReceipt(network_id, status, fields.get("err", "000") or "000")


def smpp_destination(recipient: str) -> str:
    """E.164 ('+8613800138000' or 'tel:+86…') -> SMPP destination_addr digits."""
    r = recipient.strip()
    if r.lower().startswith("tel:"):
        r = r[4:]
    r = r.removeprefix("+")
    if not _DIGITS.fullmatch(r):
        raise InvalidArgument(f"recipient {recipient!r} is not an E.164 number", code="INVALID_RECIPIENT")
    return r


class BindRefused(Exception):
    """The SMSC answered the bind with an error status."""


def _connect_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return f"{os.strerror(exc.errno)} ({exc})"
    return str(exc) or type(exc).__name__


class SmppSmsConnector:
    """connectors.base.SmsConnector over one SMPP bind that re-binds itself."""

    def __init__(
        self,
        settings: Settings,
        receipts: Connectors | None = None,
        *,
        bind_type: str = "TRX",
        backoff_min: float = 0.2,
        backoff_max: float = 5.0,
        connect_timeout: float = 2.0,
        window: int = 10,
    ) -> None:
        self.settings = settings
        # Read when a receipt arrives: the gateway sets its sink whenever it starts.
        self._receipts = receipts if receipts is not None else Connectors()
        if bind_type not in BIND_COMMANDS:
            raise ValueError(f"bind_type must be one of {sorted(BIND_COMMANDS)}")
        self.bind_type = bind_type
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.window = window
        self._session: SmppSession | None = None
        self._bound = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._throttled_until = 0.0  # loop time until which submissions are held back
        self._throttle_backoff = 0.0
        # Counters (tests and metrics watch them).
        self.binds = 0  # successful binds so far
        self.receipts = 0  # receipts made durable and acknowledged (deliver_sm_resp ESME_ROK)
        self.receipts_refused = 0  # receipts answered ESME_RX_T_APPN (the SMSC will resend them)
        self.unbinds_by_smsc = 0  # unbinds from the SMSC
        self.unbinds_answered = 0  # … answered with unbind_resp before the socket was closed
        self.throttled = 0  # submit_sm answered ESME_RTHROTTLED
        self.last_error = ""

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self._session is not None

    @property
    def target(self) -> str:
        return f"{self.settings.smsc_host}:{self.settings.smsc_port}"

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self._supervise(), name="smpp-supervisor")

    async def wait_bound(self, wait_seconds: float) -> bool:
        """Wait up to `wait_seconds` seconds for the bind; True when bound."""
        if self._session is not None:
            return True
        try:
            await asyncio.wait_for(self._bound.wait(), wait_seconds)
        except TimeoutError:
            return False
        return self._session is not None

    async def wait_unbound(self, wait_seconds: float) -> bool:
        """Wait up to `wait_seconds` seconds for the link to be down; True when it is."""
        try:
            await asyncio.wait_for(self._down.wait(), wait_seconds)
        except TimeoutError:
            return False
        return self._session is None

    async def stop(self) -> None:
        """Unbind (waiting briefly for unbind_resp) and stop re-binding."""
        self._stopping.set()
        session = self._session
        self._mark_down()
        if session is not None:
            # Receipts being stored get a moment to send their answers before the unbind.
            await session.wait_inflight(2.0)
            await session.unbind(2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _mark_down(self) -> None:
        self._session = None
        self._bound.clear()
        self._down.set()

    async def _pause(self, seconds: float) -> bool:
        """Wait before the next bind attempt; True when the connector is stopping meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _bind(self) -> tuple[SmppSession, asyncio.Task[None]]:
        s = self.settings
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(s.smsc_host, s.smsc_port), self.connect_timeout
        )
        session = SmppSession(
            reader,
            writer,
            self._on_request,
            name=f"SMSC {self.target}",
            response_timeout=s.smsc_timeout_seconds,
            enquire_link_seconds=s.smsc_enquire_link_seconds,
            window=self.window,
        )
        reading = asyncio.create_task(session.run(), name="smpp-reader")
        command = BIND_COMMANDS[self.bind_type]
        try:
            resp = await session.request(
                command, Bind(s.smsc_system_id, s.smsc_password).encode(), wait_seconds=self.connect_timeout
            )
            if resp.command_id != command | RESPONSE_BIT or resp.command_status != ESME_ROK:
                raise BindRefused(f"bind refused: {status_name(resp.command_status)}")
        except BaseException:
            await session.close("bind failed")
            with contextlib.suppress(Exception):
                await reading
            raise
        return session, reading

    async def _supervise(self) -> None:
        s = self.settings
        backoff = self.backoff_min
        while not self._stopping.is_set():
            try:
                session, reading = await self._bind()
            except (OSError, TimeoutError, SessionClosed, BindRefused) as exc:
                error = "bind timed out" if isinstance(exc, TimeoutError) else _connect_error(exc)
                if self.last_error != error:
                    log.warning("SMSC %s: bind failed: %s (retrying)", self.target, error)
                self.last_error = error
                if await self._pause(backoff):
                    return
                backoff = min(backoff * 2, self.backoff_max)
                continue
            self._session = session
            self.binds += 1
            self.last_error = ""
            backoff = self.backoff_min
            self._down.clear()
            self._bound.set()
            log.info("SMSC %s: bound as %s (%s)", self.target, s.smsc_system_id, self.bind_type)
            try:
                await reading
            finally:
                if self._session is session:
                    self._mark_down()
                await session.close("link ended")
            if session.unbound_by_peer:
                self.unbinds_by_smsc += 1
                self.unbinds_answered += int(session.unbind_answered)
                log.warning("SMSC %s: the SMSC unbound (unbind_resp sent); re-binding", self.target)
            elif not self._stopping.is_set():
                log.warning("SMSC %s: link lost (%s), re-binding", self.target, session.close_reason)
            if self._stopping.is_set() or await self._pause(self.backoff_min):
                return

    # -- inbound: delivery receipts ----------------------------------------------------------------
    async def _on_request(self, session: SmppSession, pdu: Pdu) -> None:
        if pdu.command_id != DELIVER_SM:
            await session.nack(pdu.sequence_number, ESME_RINVCMDID)
            return
        status = await self._on_deliver_sm(pdu)
        await session.respond(pdu, status, message_id_body(""))

    async def _on_deliver_sm(self, pdu: Pdu) -> int:
        """The deliver_sm_resp status: ESME_ROK only once the receipt is durable."""
        try:
            sm = ShortMessage.decode(pdu.body)
        except PduError as exc:
            log.warning("SMSC %s: undecodable deliver_sm (%s)", self.target, exc)
            return ESME_RX_P_APPN  # permanent: resending the same bytes cannot help
        if not sm.esm_class & ESM_CLASS_RECEIPT:
            log.info("SMSC %s: ignoring mobile-originated message from %s", self.target, sm.source_addr)
            return ESME_ROK
        receipt = parse_receipt(sm.short_message.decode("latin-1"), sm.tlvs)
        if receipt is None:
            log.warning("SMSC %s: unreadable delivery receipt %r", self.target, sm.short_message)
            return ESME_ROK  # nothing to store, now or later
        sink = self._receipts.receipt_sink
        if sink is None:
            log.warning(
                "SMSC %s: no receipt store yet; the SMSC will resend %s", self.target, receipt.network_id
            )
            self.receipts_refused += 1
            return ESME_RX_T_APPN
        try:
            await asyncio.wait_for(
                sink(receipt.network_id, receipt.status, receipt.error),
                self.settings.smsc_receipt_store_timeout_seconds,
            )
        except Exception as exc:  # the store failed: a temporary error makes the SMSC resend it
            log.warning(
                "SMSC %s: receipt for %s not stored (%s: %s); answered ESME_RX_T_APPN",
                self.target,
                receipt.network_id,
                type(exc).__name__,
                exc,
            )
            self.receipts_refused += 1
            return ESME_RX_T_APPN
        self.receipts += 1
        return ESME_ROK

    # -- submission ------------------------------------------------------------------------------
    def _throttle_remaining(self) -> float:
        return self._throttled_until - asyncio.get_running_loop().time()

    def _on_throttled(self) -> float:
        """An ESME_RTHROTTLED answer: hold submissions back; returns the seconds until they resume."""
        s = self.settings
        self.throttled += 1
        now = asyncio.get_running_loop().time()
        if now >= self._throttled_until:  # a new throttle, not one of a burst already held back
            base = s.smsc_throttle_retry_after_seconds
            self._throttle_backoff = (
                base
                if self._throttle_backoff == 0
                else min(self._throttle_backoff * 2, s.smsc_throttle_max_seconds)
            )
            self._throttled_until = now + self._throttle_backoff
            log.warning(
                "SMSC %s: ESME_RTHROTTLED; holding submissions back %.1fs",
                self.target,
                self._throttle_backoff,
            )
        return self._throttled_until - now

    async def submit(self, msg: SmsSubmission) -> Submitted:
        s = self.settings
        dest = smpp_destination(msg.recipient)
        source = msg.sender or s.smsc_source_addr
        if source.isdigit():
            src_ton, src_npi = TON_UNKNOWN, NPI_ISDN
        else:
            src_ton, src_npi = TON_ALPHANUMERIC, NPI_UNKNOWN
        enc = encode_sms(msg.text)
        ids: list[str] = []
        for i, payload in enumerate(enc.parts, start=1):
            try:
                ids.append(await self._submit_part(source, src_ton, src_npi, dest, enc, i, payload))
            except NetworkInDoubt:
                raise
            except NetworkUnavailable as exc:
                if not ids:
                    raise
                # Earlier parts were taken: the handset may show them, a retry would send them again.
                raise NetworkInDoubt(f"{exc}; {len(ids)} earlier part(s) were accepted") from exc
        return Submitted(network_ids=ids, parts=enc.segments, extra={"encoding": enc.encoding})

    async def _submit_part(
        self, source: str, src_ton: int, src_npi: int, dest: str, enc: SmsEncoding, i: int, payload: bytes
    ) -> str:
        """Submit one part; its SMSC message id. NetworkUnavailable when it was not sent (not bound,
        throttled, refused), NetworkInDoubt when it was written and got no answer."""
        s = self.settings
        session = self._session
        if session is None:
            raise NetworkUnavailable(
                f"SMSC {self.target} is not bound" + (f" ({self.last_error})" if self.last_error else "")
            )
        wait = self._throttle_remaining()
        if wait > 0:
            raise NetworkThrottled(f"SMSC {self.target} is throttling submissions", retry_after=wait)
        body = ShortMessage(
            source_addr=source,
            destination_addr=dest,
            short_message=payload,
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            dest_addr_ton=TON_INTERNATIONAL,
            dest_addr_npi=NPI_ISDN,
            esm_class=enc.esm_class,
            data_coding=enc.data_coding,
            registered_delivery=1,
        ).encode()
        try:
            resp = await session.request(SUBMIT_SM, body)
        except TimeoutError:
            raise NetworkInDoubt(
                f"SMSC {self.target} did not answer submit_sm (part {i}/{enc.segments}) "
                f"within {s.smsc_timeout_seconds:g}s; it may have taken it"
            ) from None
        except NotSent as exc:
            raise NetworkUnavailable(
                f"SMSC {self.target} submit_sm not sent (part {i}/{enc.segments}): {exc}"
            ) from exc
        except SessionClosed as exc:
            raise NetworkInDoubt(
                f"SMSC {self.target} link closed before it answered submit_sm (part {i}/{enc.segments}): "
                f"{exc}; it may have taken it"
            ) from exc
        if resp.command_status == ESME_RTHROTTLED:
            raise NetworkThrottled(
                f"SMSC {self.target} throttled part {i}/{enc.segments} (ESME_RTHROTTLED)",
                retry_after=self._on_throttled(),
            )
        message_id = decode_message_id(resp.body) if resp.command_id == SUBMIT_SM | RESPONSE_BIT else ""
        if resp.command_status != ESME_ROK or not message_id:
            raise NetworkUnavailable(
                f"SMSC {self.target} rejected part {i}/{enc.segments}: "
                f"command_status 0x{resp.command_status:08X}"
            )
        self._throttle_backoff = 0.0
        return message_id
