"""The partners domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class PartnerKind(enum.StrEnum):
    SI = "SI"
    AP = "AP"


class BillingMode(enum.StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


class PartnerStatus(enum.StrEnum):
    APPLICANT = "applicant"  # an SI applicant: admitted and activated by the admission flow only
    PENDING = "pending"  # SI not yet activated (contract/payment; created by an operator directly)
    ACTIVE = "active"
    SUSPENDED = "suspended"  # calls refused (R-BILL-09)
    EXITED = "exited"  # R-EXIT-01


class Scope(enum.StrEnum):
    NATIONAL = "national"
    LOCAL = "local"


class Tier(enum.StrEnum):
    CERTIFIED = "certified"
    CLOSE = "close"
    STRATEGIC = "strategic"


class ProductKind(enum.StrEnum):
    STANDARD = "standard"
    INDUSTRY = "industry"


@dataclass(frozen=True, slots=True)
class PartnerRef:
    """What other domains know of a partner (a read model: no ORM object crosses the boundary)."""

    id: str
    kind: PartnerKind
    name: str
    billing_mode: BillingMode
    status: PartnerStatus
    scope: Scope
    tier: Tier | None
    credit_code: str | None
    service_owner_id: str | None


@dataclass(frozen=True, slots=True)
class OperatorRef:
    id: str
    username: str
    display_name: str
    roles: tuple[str, ...]
    lead_id: str | None
    active: bool
    created_at: datetime

    @property
    def label(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class ClientToken:
    """A live OAuth access token of an API client, as the gateway checks it."""

    client_id: str
    partner_id: str
    scopes: frozenset[str]
    expires_at: datetime | None
