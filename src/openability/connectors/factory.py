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

import logging
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


async def start_connectors(container: Container) -> None:
    s = container.settings
    parts = container.parts
    owned: list[str] = parts.setdefault(_OWNED, [])

    if s.run_test_smsc and "test_smsc" not in parts:
        smsc = TestSmsc(s.smsc_host, s.smsc_port, journal=s.data_dir / "smsc-received.jsonl")
        try:
            await smsc.start()
        except smpp34.SmppError as exc:
            # Most likely another SMSC (or an earlier test SMSC) already listens there: use it.
            log.warning("test SMSC not started on %s:%s: %s", s.smsc_host, s.smsc_port, exc)
        else:
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
