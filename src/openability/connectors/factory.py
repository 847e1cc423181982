"""Start and stop the network connectors for a container.

Fills container.parts (only keys not already present, so tests can inject fakes):
  "test_smsc"        TestSmsc on settings.smsc_host:smsc_port when settings.run_test_smsc
                     (journal: settings.data_dir / "smsc-received.jsonl")
  "sms_connector"    SmppSmsConnector when settings.smsc_enabled, else an always-unavailable connector
                     (calls answer 503 and are not charged)
  "mms_connector"    MmsSimulator
  "voice_connector"  VoiceSimulator
Start-up waits at most BIND_WAIT_SECONDS for the SMPP bind; the connector keeps re-binding in the
background, and is simply unavailable (503) until it is bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import smpp34

from openability.connectors.base import NetworkUnavailable, SmsSubmission, Submitted
from openability.connectors.mms_sim import MmsSimulator
from openability.connectors.smpp import SmppSmsConnector
from openability.connectors.smsc import TestSmsc
from openability.connectors.voice_sim import VoiceSimulator

if TYPE_CHECKING:
    from openability.bootstrap import Container

log = logging.getLogger(__name__)

BIND_WAIT_SECONDS = 2.0
PORT_RETRY_SECONDS = 5.0
_OWNED = "connectors_started"  # parts key: the names start_connectors created (and stop_connectors stops)


class DisabledSmsConnector:
    """Stands in when no SMSC is configured: never available, every submission is refused."""

    @property
    def available(self) -> bool:
        return False

    async def submit(self, msg: SmsSubmission) -> Submitted:
        raise NetworkUnavailable("SMS is disabled on this platform (no SMSC configured)")

    async def stop(self) -> None:
        return None


async def _listening(host: str, port: int) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _start_test_smsc(smsc: TestSmsc, host: str, port: int) -> bool:
    """Start the local test SMSC. If the port is taken by a live SMSC (another worker of this platform,
    or a standalone one) use that one; if nothing answers there (a just-stopped platform's socket is
    still closing), retry the bind for a few seconds."""
    deadline = time.monotonic() + PORT_RETRY_SECONDS
    while True:
        try:
            await smsc.start()
            return True
        except smpp34.SmppError as exc:
            if await _listening(host, port) or time.monotonic() > deadline:
                log.warning(
                    "test SMSC not started on %s:%s (%s); using the SMSC listening there", host, port, exc
                )
                return False
            await asyncio.sleep(0.2)


async def start_connectors(container: Container) -> None:
    s = container.settings
    parts = container.parts
    owned: list[str] = parts.setdefault(_OWNED, [])

    if s.run_test_smsc and "test_smsc" not in parts:
        smsc = TestSmsc(s.smsc_host, s.smsc_port, journal=s.data_dir / "smsc-received.jsonl")
        if await _start_test_smsc(smsc, s.smsc_host, s.smsc_port):
            parts["test_smsc"] = smsc
            owned.append("test_smsc")

    if "sms_connector" not in parts:
        sms: Any
        if s.smsc_enabled:
            sms = SmppSmsConnector(s, parts)
            await sms.start()
            if not await sms.wait_bound(BIND_WAIT_SECONDS):
                log.warning(
                    "SMSC %s not bound yet (%s); SMS calls answer 503 until it is",
                    sms.target,
                    sms.last_error or "no answer",
                )
        else:
            sms = DisabledSmsConnector()
        parts["sms_connector"] = sms
        owned.append("sms_connector")

    if "mms_connector" not in parts:
        parts["mms_connector"] = MmsSimulator(parts)
        owned.append("mms_connector")
    if "voice_connector" not in parts:
        parts["voice_connector"] = VoiceSimulator(parts)
        owned.append("voice_connector")


async def stop_connectors(container: Container) -> None:
    """Stop what start_connectors created, connectors before the test SMSC (a clean unbind)."""
    parts = container.parts
    owned: list[str] = parts.pop(_OWNED, [])
    for name in ("sms_connector", "mms_connector", "voice_connector", "test_smsc"):
        if name not in owned:
            continue
        obj = parts.pop(name, None)
        stop = getattr(obj, "stop", None)
        if stop is None:
            continue
        try:
            await stop()
        except Exception:
            log.exception("stopping %s failed", name)
