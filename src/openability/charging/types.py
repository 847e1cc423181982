"""The charging domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum


class GrantState(enum.StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
