"""The catalog domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class Audience(enum.StrEnum):
    ALL = "all"
    AP = "AP"
    SI = "SI"


class OrderState(enum.StrEnum):
    """TM Forum product order states."""

    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class OrderRef:
    id: str
    partner_id: str
    product_id: str
    state: OrderState
    active: bool


TierList = tuple[tuple[int, Decimal], ...]  # ((from_volume, unit_price), ...)


@dataclass(frozen=True, slots=True)
class PlanVersion:
    """One price plan version as rating reads it (the gateway caches it) (R-PRICE-03)."""

    plan_id: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    tiers: Mapping[tuple[str, str], TierList]  # (scope, band) -> ((from_volume, unit_price), ...)


@dataclass(frozen=True, slots=True)
class ProductRating:
    """What the gateway needs of a product to admit and rate a call."""

    id: str
    code: str
    capability: str
    unit: str
    rate_limit: int
    status: ProductStatus
    plans: tuple[PlanVersion, ...]  # by version


@dataclass(frozen=True, slots=True)
class CurrentPrice:
    """A product's price version valid now and its national list price's first tier (None if the
    version has no such tier)."""

    version: int
    valid_from: datetime
    list_price: Decimal | None


@dataclass(frozen=True, slots=True)
class ProductLabel:
    """How a product is named in another domain's report (e.g. the operator dashboard)."""

    id: str
    code: str
    name_zh: str
    name_en: str
    capability: str
    unit: str
