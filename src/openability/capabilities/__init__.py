"""Network capabilities as plug-ins (DESIGN.md "Capabilities plug in through one Capability protocol").

One module per capability (sms.py, mms.py, voice.py), each implementing `base.Capability`; this
registry lists them. Adding a capability: write its module, add it to `default_capabilities()` (or pass
it in the gateway runtime's capability list), give it a connector and a catalog capability/product
(docs/charging.md "Adding a capability")."""

from __future__ import annotations

from typing import Any

from openability.capabilities.base import Capability, CapabilityRequest
from openability.capabilities.mms import MmsCapability
from openability.capabilities.sms import SmsCapability
from openability.capabilities.voice import VoiceCapability

__all__ = ["Capability", "CapabilityRequest", "default_capabilities"]


def default_capabilities() -> tuple[Capability[Any, Any], ...]:
    """The platform's capabilities, in the order their routes are registered."""
    return (SmsCapability(), MmsCapability(), VoiceCapability())
