"""Start and stop the network connectors for a container.

Fills a `Connectors` holder (only what is not set yet, so tests can inject fakes):
  test_smsc          TestSmsc on settings.smsc_host:smsc_port when settings.run_test_smsc
                     (journal: settings.data_dir / "smsc-received.jsonl")
  sms                SmppSmsConnector when settings.smsc_enabled, else an always-unavailable connector
                     (calls answer 503 and are not charged)
  mms                MmsSimulator
  voice              VoiceSimulator
Start-up waits at most BIND_WAIT_SECONDS for the SMPP bind; the connector keeps re-binding in the
background, and is simply unavailable (503) until it is bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from openability.connectors.base import Connectors, NetworkUnavailable, SmsSubmission, Submitted
from openability.connectors.mms_sim import MmsSimulator
from openability.connectors.smpp import SmppSmsConnector
from openability.connectors.smsc import TestSmsc
from openability.connectors.voice_sim import VoiceSimulator

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

BIND_WAIT_SECONDS = 2.0
PORT_RETRY_SECONDS = 5.0


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
        except OSError as exc:
            if await _listening(host, port) or time.monotonic() > deadline:
                log.warning(
                    "test SMSC not started on %s:%s (%s); using the SMSC listening there", host, port, exc
                )
                return False
            await asyncio.sleep(0.2)


async def start_connectors(platform: Platform, connectors: Connectors) -> None:
    """Fill the connectors that are not set yet (tests set fakes first)."""
    s = platform.settings
    owned = connectors.owned

    if s.run_test_smsc and connectors.test_smsc is None:
        smsc = TestSmsc(s.smsc_host, s.smsc_port, journal=s.data_dir / "smsc-received.jsonl")
        if await _start_test_smsc(smsc, s.smsc_host, s.smsc_port):
            connectors.test_smsc = smsc
            owned.append("test_smsc")

    if connectors.sms is None:
        sms: SmppSmsConnector | DisabledSmsConnector
        if s.smsc_enabled:
            sms = SmppSmsConnector(s, connectors)
            await sms.start()
            if not await sms.wait_bound(BIND_WAIT_SECONDS):
                log.warning(
                    "SMSC %s not bound yet (%s); SMS calls answer 503 until it is",
                    sms.target,
                    sms.last_error or "no answer",
                )
        else:
            sms = DisabledSmsConnector()
        connectors.sms = sms
        owned.append("sms")

    if connectors.mms is None:
        connectors.mms = MmsSimulator(connectors)
        owned.append("mms")
    if connectors.voice is None:
        connectors.voice = VoiceSimulator(connectors)
        owned.append("voice")


async def stop_connectors(connectors: Connectors) -> None:
    """Stop what start_connectors created, connectors before the test SMSC (a clean unbind)."""
    owned = list(connectors.owned)
    connectors.owned.clear()
    for name in ("sms", "mms", "voice", "test_smsc"):
        if name not in owned:
            continue
        obj = getattr(connectors, name)
        setattr(connectors, name, None)
        stop = getattr(obj, "stop", None)
        if stop is None:
            continue
        try:
            await stop()
        except Exception:
            log.exception("stopping %s failed", name)
