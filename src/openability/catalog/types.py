"""The catalog domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum
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
class CurrentPrice:
    """A product's price version valid now and its national list price's first tier (None if the
    version has no such tier)."""

    version: int
    valid_from: datetime
    list_price: Decimal | None
