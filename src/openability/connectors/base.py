"""The connector interface: how the gateway reaches a network element (SMSC, MMSC, voice platform)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


class NetworkUnavailable(Exception):
    """The network element cannot be reached or refused the submission: the call is answered 503 and
    not charged."""


class NetworkThrottled(NetworkUnavailable):
    """The network element asks the platform to slow down (SMPP ESME_RTHROTTLED): the call is answered
    503 NETWORK_THROTTLED with Retry-After, not charged, and the connector holds further submissions
    back for `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NetworkInDoubt(NetworkUnavailable):
    """The submission left for the network element but no answer came back (it timed out, or the link
    closed while waiting): the element may have taken it and deliver it. The call is answered 503 and not
    charged like any unserved call, but it is not sent again: a retry with the same idempotency key gets
    409 REQUEST_IN_DOUBT (charging/service.py)."""


@dataclass(frozen=True)
class SmsSubmission:
    recipient: str  # E.164, e.g. +8613800138000
    text: str
    sender: str = ""


@dataclass(frozen=True)
class Submitted:
    """What the network element accepted for one recipient."""

    network_ids: list[str]  # one id per part/segment (SMPP message_id of each submit_sm)
    parts: int = 1
    # Voice: the seconds of call time the platform played (charged per started minute, R-CHARGE-05).
    duration_seconds: int = 0
    extra: dict[str, str] = field(default_factory=dict)


class SmsConnector(Protocol):
    @property
    def available(self) -> bool: ...

    async def submit(self, msg: SmsSubmission) -> Submitted: ...


class MmsConnector(Protocol):
    async def submit(self, recipient: str, subject: str, parts: list[dict[str, str]]) -> Submitted: ...


class VoiceConnector(Protocol):
    async def call(self, recipient: str, text: str, repeat: int) -> Submitted: ...


class ReceiptSink(Protocol):
    """Where connectors hand delivery receipts (the gateway stores them)."""

    async def __call__(self, network_id: str, status: str, error: str) -> None: ...


ReceiptSinkFn = Callable[[str, str, str], Awaitable[None]]


class Stoppable(Protocol):
    async def stop(self) -> None: ...


@dataclass(eq=False)
class Connectors:
    """The network elements of one process, wired by the composition root (tests put fakes in). The
    connectors read `receipt_sink` when a receipt arrives: the gateway sets it when it starts, possibly
    after them."""

    sms: SmsConnector | None = None
    mms: MmsConnector | None = None
    voice: VoiceConnector | None = None
    test_smsc: Stoppable | None = None
    receipt_sink: ReceiptSinkFn | None = None
    # What connectors.factory.start_connectors created (and stop_connectors stops).
    owned: list[str] = field(default_factory=list)
    # Network elements of capabilities beyond the three above (plug-ins), by capability name.
    extra: dict[str, object] = field(default_factory=dict)

    def get(self, capability: str) -> object | None:
        """The network element of a capability (None: not there, the call answers 503)."""
        if capability in ("sms", "mms", "voice"):
            return getattr(self, capability)  # type: ignore[no-any-return]
        return self.extra.get(capability)
