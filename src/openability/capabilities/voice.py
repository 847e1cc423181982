"""Voice notification (`POST /capabilities/voice/v1/notifications`): a text-to-speech call charged per
started minute of call time (R-CHARGE-05). A pessimistic length is reserved before the call; the call's
real length is charged and the rest returned to the grant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from openability.capabilities import validation as v
from openability.capabilities.base import KB
from openability.capabilities.schemas import CORRELATOR, PHONE, PRODUCT_ID, RECIPIENTS
from openability.charging import rules
from openability.charging.types import JsonObject
from openability.connectors.base import Submitted, VoiceConnector

if TYPE_CHECKING:
    from openability.config import Settings

VOICE_MAX_CHARS = 500
VOICE_MAX_REPEAT = 3
FIELDS = frozenset({"to", "text", "repeat"}) | v.COMMON_FIELDS


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    to: tuple[str, ...]
    text: str
    repeat: int
    client_correlator: str | None
    product_id: str | None = None


@dataclass(slots=True)
class VoicePlan:
    capability: ClassVar[str] = "voice"
    operation: ClassVar[str] = "sendNotification"
    collection: ClassVar[str] = "notifications"
    id_field: ClassVar[str] = "notificationId"

    request: VoiceRequest
    connector: VoiceConnector
    estimate: int  # started minutes of the estimated length x recipients

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.request.to

    def canonical(self) -> list[Any]:
        r = self.request
        out: list[Any] = ["voice", list(r.to), r.text, r.repeat]
        if r.product_id is not None:
            out.append(r.product_id)
        return out

    async def send(self, recipient: str) -> Submitted:
        r = self.request
        return await self.connector.call(recipient, r.text, r.repeat)

    def quantity_of(self, served: Submitted) -> int:
        return rules.started_minutes(served.duration_seconds)

    def response_fields(self) -> None:
        return None

    def item_fields(self, served: Submitted) -> JsonObject:
        return {"durationSeconds": served.duration_seconds}


class VoiceBody(v.CommonFields, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """The body's JSON types (capabilities/validation.py "typed decoding"); values checked by decode.
    `to` is one number or a list; `repeat` an integer (msgspec refuses true and 1.0, as validate does)."""

    to: str | list[str]
    text: str
    repeat: int = 1


_DECODER = msgspec.json.Decoder(VoiceBody)


REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["to", "text"],
    "properties": {
        "to": {"oneOf": [PHONE, RECIPIENTS]},
        "text": {"type": "string", "minLength": 1, "maxLength": 500},
        "repeat": {"type": "integer", "minimum": 1, "maximum": VOICE_MAX_REPEAT, "default": 1},
        "clientCorrelator": CORRELATOR,
        "productId": PRODUCT_ID,
    },
}


class VoiceCapability:
    name: ClassVar[str] = "voice"
    operation: ClassVar[str] = "sendNotification"
    collection: ClassVar[str] = "notifications"
    id_field: ClassVar[str] = "notificationId"
    max_body: ClassVar[int] = 64 * KB
    request_schema: ClassVar[tuple[str, dict[str, Any]]] = ("VoiceNotificationRequest", REQUEST_SCHEMA)

    def decode(self, raw: bytes, settings: Settings) -> VoiceRequest:
        try:
            b = _DECODER.decode(raw)
        except v.DecodeFailed:
            return self.validate(v.parse_json(raw), settings)  # the same 400 as validate words it
        to = v.check_recipients(b.to, settings.max_recipients, allow_single=True)
        text = v.check_text_value(b.text, VOICE_MAX_CHARS)
        if not 1 <= b.repeat <= VOICE_MAX_REPEAT:
            raise v.bad(f"repeat: a whole number from 1 to {VOICE_MAX_REPEAT}")
        return VoiceRequest(to, text, b.repeat, b.correlator(), b.product_ref())

    def validate(self, body: Any, settings: Settings) -> VoiceRequest:
        b = v.check_object(body, FIELDS)
        to = v.check_recipients(b.get("to"), settings.max_recipients, allow_single=True)
        text = v.check_text(b, VOICE_MAX_CHARS)
        repeat = b.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= VOICE_MAX_REPEAT:
            raise v.bad(f"repeat: a whole number from 1 to {VOICE_MAX_REPEAT}")
        return VoiceRequest(to, text, repeat, v.correlator(b), v.product_ref(b))

    def plan(self, request: VoiceRequest, connector: VoiceConnector) -> VoicePlan:
        per_call = rules.started_minutes(rules.voice_estimate_seconds(request.text, request.repeat))
        return VoicePlan(request, connector, per_call * len(request.to))
