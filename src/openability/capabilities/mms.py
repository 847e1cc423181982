"""MMS (`POST /capabilities/mms/v1/messages`): charged per message per recipient (R-CHARGE-05), sent to
the (simulated) MMSC (connectors/mms_sim.py), whose limits are checked before anything is charged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from openability.capabilities import validation as v
from openability.capabilities.base import KB
from openability.capabilities.schemas import CORRELATOR, PRODUCT_ID, RECIPIENTS
from openability.connectors.base import MmsConnector, Submitted
from openability.connectors.mms_sim import validate_mms

if TYPE_CHECKING:
    from openability.config import Settings

FIELDS = frozenset({"to", "subject", "parts"}) | v.COMMON_FIELDS


@dataclass(frozen=True, slots=True)
class MmsRequest:
    to: tuple[str, ...]
    subject: str
    parts: tuple[dict[str, str], ...]
    client_correlator: str | None
    product_id: str | None = None


@dataclass(slots=True)
class MmsPlan:
    capability: ClassVar[str] = "mms"
    operation: ClassVar[str] = "sendMessage"
    collection: ClassVar[str] = "messages"
    id_field: ClassVar[str] = "messageId"

    request: MmsRequest
    connector: MmsConnector

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.request.to

    @property
    def estimate(self) -> int:
        return len(self.request.to)

    def canonical(self) -> list[Any]:
        r = self.request
        out: list[Any] = ["mms", list(r.to), r.subject, list(r.parts)]
        if r.product_id is not None:
            out.append(r.product_id)
        return out

    async def send(self, recipient: str) -> Submitted:
        r = self.request
        return await self.connector.submit(recipient, r.subject, [dict(p) for p in r.parts])

    def quantity_of(self, served: Submitted) -> int:
        return 1

    def response_fields(self) -> None:
        return None

    def item_fields(self, served: Submitted) -> None:
        return None


class MmsPart(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    content_type: str
    content: str


class MmsBody(v.CommonFields, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """The body's JSON types (capabilities/validation.py "typed decoding"); values checked by decode."""

    to: list[str]
    parts: list[MmsPart]
    subject: str = ""


_DECODER = msgspec.json.Decoder(MmsBody)


REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["to", "parts"],
    "properties": {
        "to": RECIPIENTS,
        "subject": {"type": "string", "maxLength": 40},
        "parts": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["contentType", "content"],
                "properties": {
                    "contentType": {"type": "string", "example": "image/png"},
                    "content": {"type": "string", "format": "byte"},
                },
            },
        },
        "clientCorrelator": CORRELATOR,
        "productId": PRODUCT_ID,
    },
}


class MmsCapability:
    name: ClassVar[str] = "mms"
    operation: ClassVar[str] = "sendMessage"
    collection: ClassVar[str] = "messages"
    id_field: ClassVar[str] = "messageId"
    # 300 KB of MMS content is ~400 KB as base64, plus the JSON around it.
    max_body: ClassVar[int] = 512 * KB
    request_schema: ClassVar[tuple[str, dict[str, Any]]] = ("MmsSendRequest", REQUEST_SCHEMA)

    def decode(self, raw: bytes, settings: Settings) -> MmsRequest:
        try:
            b = _DECODER.decode(raw)
        except v.DecodeFailed:
            return self.validate(v.parse_json(raw), settings)  # the same 400 as validate words it
        if not b.parts:
            return self.validate(v.parse_json(raw), settings)
        to = v.check_recipients(b.to, settings.max_recipients)
        clean = [{"contentType": p.content_type, "content": p.content} for p in b.parts]
        validate_mms(b.subject, clean)
        return MmsRequest(to, b.subject, tuple(clean), b.correlator(), b.product_ref())

    def validate(self, body: Any, settings: Settings) -> MmsRequest:
        b = v.check_object(body, FIELDS)
        to = v.check_recipients(b.get("to"), settings.max_recipients)
        subject = b.get("subject", "")
        if not isinstance(subject, str):
            raise v.bad("subject: must be a string")
        parts = b.get("parts")
        if not isinstance(parts, list) or not parts:
            raise v.bad('parts: a non-empty list of {"contentType": ..., "content": <base64>} is required')
        clean: list[dict[str, str]] = []
        for i, p in enumerate(parts):
            if not isinstance(p, dict) or set(p) - {"contentType", "content"}:
                raise v.bad(f'parts[{i}]: an object with "contentType" and "content" (base64) only')
            ctype, content = p.get("contentType"), p.get("content")
            if not isinstance(ctype, str) or not isinstance(content, str):
                raise v.bad(f'parts[{i}]: "contentType" and "content" must be strings')
            clean.append({"contentType": ctype, "content": content})
        # The MMSC's own limits (size, part count, content types, base64): refuse before charging.
        validate_mms(subject, clean)
        return MmsRequest(to, subject, tuple(clean), v.correlator(b), v.product_ref(b))

    def plan(self, request: MmsRequest, connector: MmsConnector) -> MmsPlan:
        return MmsPlan(request, connector)
