"""SMS over SMPP 3.4: the platform binds to an SMSC as an ESME (transceiver by default).

One long-lived bind carries every submission (smpp34 windows concurrent submit_sm over it). A
supervisor task binds, reads inbound deliver_sm (delivery receipts) until the link drops, then binds
again with capped exponential back-off, for as long as the connector runs. While not bound,
``available`` is False and ``submit`` raises NetworkUnavailable at once, so the gateway answers 503
and charges nothing.

Addressing (documented choice): the destination is the E.164 number without '+', TON 1
(international) / NPI 1 (ISDN E.164). The source is the platform's service code (a digit string such as
10690000, TON 0 unknown / NPI 1 ISDN, which is how Chinese SMSCs expect 106xx service codes) or,
when the sender is alphanumeric, TON 5 / NPI 0. Every part asks for a delivery receipt
(registered_delivery 1).

A concatenated message is sent part by part; if a later part fails, the earlier parts were already
accepted by the SMSC but the call still fails (503, not charged): the SMSC offers no way to withdraw
them, and under-charging one call beats charging a message the caller was told failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import smpp34
from smpp34._smpp34 import TLV_MESSAGE_STATE, TLV_RECEIPTED_MESSAGE_ID

from openability.config import Settings
from openability.connectors.base import Connectors, NetworkUnavailable, SmsSubmission, Submitted
from openability.connectors.sms_codec import encode_sms
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
    ) -> None:
        self.settings = settings
        # Read when a receipt arrives: the gateway sets its sink whenever it starts.
        self._receipts = receipts if receipts is not None else Connectors()
        self.bind_type = bind_type
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self._smsc: smpp34.Smsc | None = None
        self._client: smpp34.Client | None = None
        self._bound = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.binds = 0  # successful binds so far (tests and metrics watch re-binding)
        self.receipts = 0
        self.last_error = ""

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self._smsc is not None

    @property
    def target(self) -> str:
        return f"{self.settings.smsc_host}:{self.settings.smsc_port}"

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self._supervise(), name="smpp-supervisor")

    async def wait_bound(self, wait_seconds: float) -> bool:
        """Wait up to `wait_seconds` seconds for the bind; True when bound."""
        if self._smsc is not None:
            return True
        try:
            await asyncio.wait_for(self._bound.wait(), wait_seconds)
        except TimeoutError:
            return False
        return self._smsc is not None

    async def wait_unbound(self, wait_seconds: float) -> bool:
        """Wait up to `wait_seconds` seconds for the link to be down; True when it is."""
        try:
            await asyncio.wait_for(self._down.wait(), wait_seconds)
        except TimeoutError:
            return False
        return self._smsc is None

    async def stop(self) -> None:
        self._stopping.set()
        smsc, client = self._smsc, self._client
        self._mark_down()
        if smsc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smsc.unbind(), 2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.stop()

    def _mark_down(self) -> None:
        self._smsc = None
        self._bound.clear()
        self._down.set()

    async def _pause(self, seconds: float) -> bool:
        """Wait before the next bind attempt; True when the connector is stopping meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _supervise(self) -> None:
        s = self.settings
        backoff = self.backoff_min
        while not self._stopping.is_set():
            client = smpp34.Client(
                s.smsc_host,
                s.smsc_port,
                s.smsc_system_id,
                s.smsc_password,
                bind_type=self.bind_type,
                connect_timeout_ms=int(self.connect_timeout * 1000),
            )
            try:
                smsc = await client.connect()
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await client.stop()
                raise
            except (smpp34.SmppError, OSError, RuntimeError) as exc:
                # A failed Client must still be stopped: the native core crashes at interpreter exit
                # otherwise (seen with bind time-outs).
                with contextlib.suppress(Exception):
                    await client.stop()
                if self.last_error != str(exc):
                    log.warning("SMSC %s: bind failed: %s (retrying)", self.target, exc)
                self.last_error = str(exc)
                if await self._pause(backoff):
                    return
                backoff = min(backoff * 2, self.backoff_max)
                continue
            self._client, self._smsc = client, smsc
            self.binds += 1
            self.last_error = ""
            backoff = self.backoff_min
            self._down.clear()
            self._bound.set()
            log.info("SMSC %s: bound as %s (%s)", self.target, s.smsc_system_id, self.bind_type)
            try:
                await self._read(smsc)
            finally:
                if self._smsc is smsc:
                    self._mark_down()
                with contextlib.suppress(Exception):
                    await client.stop()
                if self._client is client:
                    self._client = None
            if not self._stopping.is_set():
                log.warning("SMSC %s: link lost, re-binding", self.target)
                if await self._pause(self.backoff_min):
                    return

    async def _read(self, smsc: smpp34.Smsc) -> None:
        while True:
            ev = await smsc.next()
            if isinstance(ev, smpp34.Disconnected):
                self._mark_down()
                return
            if ev.esm_class & ESM_CLASS_RECEIPT:
                await self._on_receipt(ev)
            else:
                log.info("SMSC %s: ignoring mobile-originated message from %s", self.target, ev.source_addr)

    async def _on_receipt(self, ev: smpp34.DeliverSmEvent) -> None:
        tlvs = {t.tag: t.value for t in ev.tlvs}
        receipt = parse_receipt(ev.short_message.decode("latin-1"), tlvs)
        if receipt is None:
            log.warning("SMSC %s: unreadable delivery receipt %r", self.target, ev.short_message)
            return
        self.receipts += 1
        sink = self._receipts.receipt_sink
        if sink is None:
            log.debug("no receipt_sink registered; dropping receipt for %s", receipt.network_id)
            return
        try:
            await sink(receipt.network_id, receipt.status, receipt.error)
        except Exception:  # a failing sink must not kill the bind
            log.exception("receipt_sink failed for %s", receipt.network_id)

    # -- submission ------------------------------------------------------------------------------
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
            smsc = self._smsc
            if smsc is None:
                raise NetworkUnavailable(
                    f"SMSC {self.target} is not bound" + (f" ({self.last_error})" if self.last_error else "")
                )
            try:
                resp = await asyncio.wait_for(
                    smsc.submit_sm(
                        dest,
                        payload,
                        source_addr=source,
                        source_addr_ton=src_ton,
                        source_addr_npi=src_npi,
                        dest_addr_ton=TON_INTERNATIONAL,
                        dest_addr_npi=NPI_ISDN,
                        esm_class=enc.esm_class,
                        data_coding=enc.data_coding,
                        registered_delivery=1,
                    ),
                    s.smsc_timeout_seconds,
                )
            except TimeoutError:
                raise NetworkUnavailable(
                    f"SMSC {self.target} did not answer submit_sm (part {i}/{enc.segments}) "
                    f"within {s.smsc_timeout_seconds:g}s"
                ) from None
            except (smpp34.SmppError, RuntimeError, OSError) as exc:
                raise NetworkUnavailable(
                    f"SMSC {self.target} submit_sm failed (part {i}/{enc.segments}): {exc}"
                ) from exc
            if not resp.is_success or not resp.message_id:
                raise NetworkUnavailable(
                    f"SMSC {self.target} rejected part {i}/{enc.segments}: "
                    f"command_status 0x{resp.command_status:08X}"
                )
            ids.append(resp.message_id)
        return Submitted(network_ids=ids, parts=enc.segments, extra={"encoding": enc.encoding})
