"""The `Capability` protocol: how a network capability plugs into the gateway and charging (DESIGN.md
"Capabilities plug in through one Capability protocol (validate → quantity → plan → send → CDR fields),
one module each").

A capability is one module (sms.py, mms.py, voice.py) with a class implementing `Capability` and its
registration in `default_capabilities()` (capabilities/__init__.py). The gateway runtime takes the list
of capabilities as a constructor argument; for each call it

1. reads at most `max_body` bytes of JSON and calls `validate(body, settings)` → a typed request
   (400 INVALID_ARGUMENT for bad input, nothing charged); the request carries the two fields every
   call accepts, `clientCorrelator` and `productId` (gateway/validation.COMMON_FIELDS);
2. calls `plan(request, connector)` with the capability's connector (the network element) → a
   `ChargePlan` (charging/types.py): the recipients, the units to reserve before the network (the
   estimate), `send(recipient)`, the charged quantity of one served result, the extra answer fields,
   the canonical form hashed for idempotency;
3. hands the plan to `ChargingEngine.charge`, which records the CDR with the plan's `capability` and
   `operation` and, per served recipient, the network element's parts and ids.

The capability's `name` is its OAuth scope and the path segment of its routes
(`/capabilities/<name>/v1/<collection>`); `id_field` names a served recipient's id in the answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from openability.charging.types import ChargePlan

if TYPE_CHECKING:
    from openability.config import Settings

KB = 1024


class CapabilityRequest(Protocol):
    """A validated request: what every capability's request carries besides its own fields."""

    @property
    def client_correlator(self) -> str | None:
        """The body's `clientCorrelator` (an idempotency key), if any."""
        ...

    @property
    def product_id(self) -> str | None:
        """The body's `productId` (id or code of the ordered product to rate), if any."""
        ...


Req = TypeVar("Req", bound=CapabilityRequest)
Conn = TypeVar("Conn", contravariant=True)


class Capability(Protocol[Req, Conn]):
    """One network capability (SMS, MMS, voice notification…). `Req` is its typed request, `Conn` the
    connector interface it sends through (connectors/base.py)."""

    @property
    def name(self) -> str:
        """Capability code == OAuth scope == path segment (and the product's capability)."""
        ...

    @property
    def operation(self) -> str:
        """API operation recorded on the CDR (sendMessage, sendNotification…)."""
        ...

    @property
    def collection(self) -> str:
        """Path collection and answer list key: "messages" | "notifications"."""
        ...

    @property
    def id_field(self) -> str:
        """A served recipient's id in the answer and the status query: "messageId" | "notificationId"."""
        ...

    @property
    def max_body(self) -> int:
        """Largest accepted request body in bytes (413 above)."""
        ...

    @property
    def request_schema(self) -> tuple[str, dict[str, Any]]:
        """The OpenAPI component name and JSON schema of the request body (capabilities/schemas.py
        has the fragments every capability shares)."""
        ...

    def validate(self, body: Any, settings: Settings) -> Req:
        """The decoded JSON body → a typed request. Raises InvalidArgument (400), nothing charged."""
        ...

    def plan(self, request: Req, connector: Conn) -> ChargePlan:
        """What the call will do on the network and how it is counted (see ChargePlan)."""
        ...


@runtime_checkable
class Decoding(Protocol):
    """Optional, next to `Capability`: a capability that decodes and validates the raw JSON body in
    one step (msgspec, typed: no intermediate dict) instead of `validate(orjson.loads(body))`. It must
    answer exactly as `validate` does: same request, same 400 for the same bad body (the usual way is
    to fall back to `validate` for any body the typed decoder refuses)."""

    def decode(self, raw: bytes, settings: Settings) -> CapabilityRequest:
        """The raw request body → a typed request. Raises InvalidArgument (400), nothing charged."""
        ...
