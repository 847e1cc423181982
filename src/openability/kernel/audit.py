"""Audit log: every state change by an operator, a partner or the platform writes a row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, IdStr, UTCDateTime
from openability.kernel.ids import new_id

SECRET_KEYS = ("password", "secret", "token", "hash")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # operator | partner_user | api_client | system
    actor_id: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(80))
    partner_id: Mapped[str | None] = mapped_column(IdStr(), index=True, nullable=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    correlator: Mapped[str | None] = mapped_column(String(80), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


def mask(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    out: dict[str, Any] = {}
    for k, v in data.items():
        if any(s in k.lower() for s in SECRET_KEYS):
            out[k] = "***"
        elif isinstance(v, dict):
            out[k] = mask(v)
        else:
            out[k] = jsonable(v)
    return out


def jsonable(v: Any) -> Any:
    from decimal import Decimal
    from enum import Enum

    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor: tuple[str, str],
    action: str,
    entity: tuple[str, str],
    partner_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    correlator: str | None = None,
    note: str | None = None,
) -> AuditEntry:
    """Add an audit row to the session; the caller's unit of work commits it with the change."""
    row = AuditEntry(
        id=new_id("aud"),
        at=at,
        actor_type=actor[0],
        actor_id=actor[1],
        action=action,
        entity_type=entity[0],
        entity_id=entity[1],
        partner_id=partner_id,
        before=mask(before),
        after=mask(after),
        correlator=correlator,
        note=note,
    )
    session.add(row)
    return row
