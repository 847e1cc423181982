"""SMS (`POST /capabilities/sms/v1/messages`): charged per segment per recipient (R-CHARGE-05: GSM-7
160/153 characters, UCS-2 70/67), sent over SMPP (connectors/smpp.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from openability.capabilities import validation as v
from openability.capabilities.base import KB
from openability.capabilities.schemas import CORRELATOR, PRODUCT_ID, RECIPIENTS
from openability.charging import rules
from openability.charging.types import JsonObject
from openability.connectors.base import SmsConnector, SmsSubmission, Submitted

if TYPE_CHECKING:
    from openability.config import Settings

FIELDS = frozenset({"to", "text"}) | v.COMMON_FIELDS


@dataclass(frozen=True, slots=True)
class SmsRequest:
    to: tuple[str, ...]
    text: str
    client_correlator: str | None
    product_id: str | None = None


@dataclass(slots=True)
class SmsPlan:
    capability: ClassVar[str] = "sms"
    operation: ClassVar[str] = "sendMessage"
    collection: ClassVar[str] = "messages"
    id_field: ClassVar[str] = "messageId"

    request: SmsRequest
    connector: SmsConnector
    encoding: str
    segments: int  # per message
    estimate: int  # segments x recipients

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.request.to

    def canonical(self) -> list[Any]:
        r = self.request
        out: list[Any] = ["sms", list(r.to), r.text]
        if r.product_id is not None:
            out.append(r.product_id)
        return out

    async def send(self, recipient: str) -> Submitted:
        return await self.connector.submit(SmsSubmission(recipient=recipient, text=self.request.text))

    def quantity_of(self, served: Submitted) -> int:
        return self.segments

    def response_fields(self) -> JsonObject:
        return {"segments": self.segments, "encoding": self.encoding}

    def item_fields(self, served: Submitted) -> None:
        return None


class SmsBody(v.CommonFields, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """The body's JSON types (capabilities/validation.py "typed decoding"); values checked by decode."""

    to: list[str]
    text: str


_DECODER = msgspec.json.Decoder(SmsBody)


REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["to", "text"],
    "properties": {
        "to": RECIPIENTS,
        "text": {
            "type": "string",
            "minLength": 1,
            "description": "GSM-7: 160/153 chars a segment; UCS-2: 70/67",
        },
        "clientCorrelator": CORRELATOR,
        "productId": PRODUCT_ID,
    },
}


class SmsCapability:
    name: ClassVar[str] = "sms"
    operation: ClassVar[str] = "sendMessage"
    collection: ClassVar[str] = "messages"
    id_field: ClassVar[str] = "messageId"
    max_body: ClassVar[int] = 64 * KB
    request_schema: ClassVar[tuple[str, dict[str, Any]]] = ("SmsSendRequest", REQUEST_SCHEMA)

    def decode(self, raw: bytes, settings: Settings) -> SmsRequest:
        try:
            b = _DECODER.decode(raw)
        except v.DecodeFailed:
            return self.validate(v.parse_json(raw), settings)  # the same 400 as validate words it
        to = v.check_recipients(b.to, settings.max_recipients)
        return SmsRequest(
            to, v.check_text_value(b.text, settings.max_sms_chars), b.correlator(), b.product_ref()
        )

    def validate(self, body: Any, settings: Settings) -> SmsRequest:
        b = v.check_object(body, FIELDS)
        to = v.check_recipients(b.get("to"), settings.max_recipients)
        return SmsRequest(to, v.check_text(b, settings.max_sms_chars), v.correlator(b), v.product_ref(b))

    def plan(self, request: SmsRequest, connector: SmsConnector) -> SmsPlan:
        encoding, segments, quantity = rules.sms_quantity(request.text, len(request.to))
        return SmsPlan(request, connector, encoding, segments, quantity)
