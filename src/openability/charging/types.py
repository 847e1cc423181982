"""Charging's face (DESIGN.md "Layout"): what the gateway and the capabilities hand to charging, and
what charging hands back — no ORM, no table rows.

* `Subject`: who is charged for what (from the gateway's caches);
* `ChargePlan`: one capability call as charging sees it (built by a capability, capabilities/);
* `ChargeOutcome`: the answer of `ChargingEngine.charge`;
* `CdrRecord` / `CdrMessage`: the typed CDR (usage record) and its messages, handed to the CDR writer,
  which alone turns them into its insert rows (charging/cdr_writer.py).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from openability.charging import rules
from openability.connectors.base import Submitted


class GrantState(enum.StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class ClaimState(enum.StrEnum):
    """The cross-worker claim of an idempotency key (charging/claims.py, R-CHARGE-04).

    claimed: a worker owns the call (before the network is touched); answered: its CDR is stored (the
    same transaction set this); failed: it ended before the network was reached or with nothing
    served (not charged; a retry may take the key over); in_doubt: claimed for longer than a grant
    lives with no CDR (its worker died between the claim and the record of the send): never sent
    again, a later spool replay still answers it."""

    CLAIMED = "claimed"
    ANSWERED = "answered"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"


# A JSON object (the answer of a call, stored with its CDR and replayed as is on a retry).
JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is charged for what: everything rating needs, taken from the gateway's caches."""

    partner_id: str
    product_id: str
    client_id: str
    billing_mode: str  # prepaid | postpaid
    scope: str
    band: str
    plans: Sequence[rules.PlanVersion]
    unit: str  # the product's unit of measure (segment, message, minute…), recorded on the CDR


class ChargePlan(Protocol):
    """What one capability call will do on the network and how it is counted (R-CHARGE-05).

    Built by a capability from a validated request (capabilities/base.py); `ChargingEngine.charge`
    reserves `estimate` units before the network, calls `send` once per recipient, charges
    `quantity_of` each served result, and answers with the fields below."""

    @property
    def capability(self) -> str:
        """Capability code (== OAuth scope, path segment), recorded on the CDR."""
        ...

    @property
    def operation(self) -> str:
        """API operation (sendMessage, sendNotification…), recorded on the CDR."""
        ...

    @property
    def collection(self) -> str:
        """Key of the per-recipient list in the answer ("messages", "notifications")."""
        ...

    @property
    def id_field(self) -> str:
        """Key of a served recipient's id in the answer ("messageId", "notificationId")."""
        ...

    @property
    def recipients(self) -> tuple[str, ...]: ...

    @property
    def estimate(self) -> int:
        """Units reserved before the network is touched (R-CHARGE-01)."""
        ...

    def canonical(self) -> list[Any]:
        """What the client asked for, JSON-serializable: hashed to refuse a key reused for another
        request (R-CHARGE-04)."""
        ...

    async def send(self, recipient: str) -> Submitted:
        """Hand the call for one recipient to the network element (raises NetworkUnavailable)."""
        ...

    def quantity_of(self, served: Submitted) -> int:
        """Charged units of one served recipient (segments, 1 message, started minutes)."""
        ...

    def response_fields(self) -> JsonObject | None:
        """Extra fields of the answer (SMS: segments, encoding), or None."""
        ...

    def item_fields(self, served: Submitted) -> JsonObject | None:
        """Extra fields of one served recipient's item in the answer (voice: durationSeconds), or None."""
        ...


@dataclass(slots=True)
class ChargeOutcome:
    """The answer of one capability call. `replayed`: the stored answer of an earlier call with the same
    idempotency key (not charged or sent again). `amount`: what this call charged (None when it charged
    nothing: a replay, or another worker stored the same key first)."""

    status: int
    body: JsonObject
    replayed: bool = False
    amount: Decimal | None = None


@dataclass(slots=True)
class CdrMessage:
    """One message/notification of a CDR: a served recipient (delivery status is queried by its id)."""

    id: str
    recipient: str
    parts: int
    network_ids: list[str]  # the network element's ids of its parts (receipts are matched on them)


@dataclass(slots=True)
class CdrRecord:
    """One CDR (usage record, R-CHARGE-02): one per answered, charged call."""

    id: str
    partner_id: str
    product_id: str
    capability: str
    operation: str
    client_id: str
    request_key: str  # Idempotency-Key / clientCorrelator, or the generated request id
    request_hash: str  # SHA-256 of the plan's canonical form
    quantity: int
    unit: str
    amount: Decimal
    billing_mode: str
    price_plan_id: str  # R-PRICE-03: the version used
    band: str
    scope: str
    month: str  # Asia/Shanghai billing month
    grant_id: str | None  # the grant the price was taken from (prepaid)
    occurred_at: datetime
    day: date  # Asia/Shanghai business day of occurred_at (the daily rollup key)
    recipients: list[str]  # served recipients
    response: JsonObject  # the answer, replayed on a retry
    messages: list[CdrMessage]
    # The key was claimed in request_claims (a client's key): the CDR's transaction marks it answered.
    claimed: bool = False
    # The grant's reserved slot (charging/grants.py): the prepaid:reserved account the CDR debits.
    slot: int = 0
