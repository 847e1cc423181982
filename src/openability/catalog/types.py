"""The catalog domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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
