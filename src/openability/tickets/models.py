"""Tickets (R-CS-01..05): tickets, conversation, attachments, recorded breaches and versioned SLA policies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.calendar_admin import CalendarYear
from openability.kernel.db import Base, IdStr, UTCDateTime, enum_column
from openability.tickets.rules import (
    Channel,
    Deadline,
    DeadlineMode,
    Importance,
    SlaUnit,
    Subtype,
    TicketState,
    TicketType,
)

__all__ = ["CalendarYear", "SlaPolicy", "Ticket", "TicketAttachment", "TicketBreach", "TicketComment"]


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_state_due", "state", "next_due_at"),
        Index("ix_tickets_partner_created", "partner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    type: Mapped[TicketType] = mapped_column(enum_column(TicketType))
    subtype: Mapped[Subtype] = mapped_column(enum_column(Subtype))
    importance: Mapped[Importance] = mapped_column(enum_column(Importance), default=Importance.GENERAL)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[TicketState] = mapped_column(enum_column(TicketState))
    owner_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True, index=True)  # R-CS-02
    created_by_type: Mapped[str] = mapped_column(String(20))
    created_by_id: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Receipt time: the SLA clock starts here (reset on reopen for the final reply).
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # SLA (R-CS-03/04): the policy version and the terms it gave (time allowed, and whether each deadline
    # is a limit, whose miss is a breach, or a target, a goal), then the computed deadlines.
    policy_version: Mapped[int] = mapped_column(Integer, default=0)
    first_response_limit: Mapped[str] = mapped_column(String(30))  # time allowed, e.g. "1 working_days"
    final_limit: Mapped[str] = mapped_column(String(30))
    first_response_mode: Mapped[DeadlineMode] = mapped_column(
        enum_column(DeadlineMode), default=DeadlineMode.LIMIT, server_default=DeadlineMode.LIMIT.value
    )
    final_mode: Mapped[DeadlineMode] = mapped_column(
        enum_column(DeadlineMode), default=DeadlineMode.LIMIT, server_default=DeadlineMode.LIMIT.value
    )
    first_response_due: Mapped[datetime] = mapped_column(UTCDateTime())
    final_due: Mapped[datetime] = mapped_column(UTCDateTime())
    # Earliest deadline still running (queue order); null once answered, closed or while paused.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # R-CS-05: set by the breach job when a limit passed unanswered (current deadlines; never a target).
    first_response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    final_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    breached: Mapped[bool] = mapped_column(Boolean, default=False, index=True)  # ever breached
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    resolution: Mapped[str] = mapped_column(Text, default="")
    # Related objects: statement (billing), product order, CDR ids (billing errors), month, product.
    related_statement_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    related_order_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    related_call_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    related_month: Mapped[str | None] = mapped_column(String(7), nullable=True)
    related_product_ref: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Business requests: what the resolve action did through the owning service.
    action_result: Mapped[str] = mapped_column(Text, default="")
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)

    def deadlines(self) -> tuple[Deadline, Deadline]:
        """The first-response and final-reply deadlines as they stand."""
        return (
            Deadline(
                "first_response", self.first_response_mode, self.first_response_due, self.first_responded_at
            ),
            Deadline("final", self.final_mode, self.final_due, self.resolved_at),
        )

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "owner_id": self.owner_id,
            "importance": self.importance.value,
            "first_response_due": self.first_response_due,
            "final_due": self.final_due,
            "first_responded_at": self.first_responded_at,
            "resolved_at": self.resolved_at,
            "paused_since": self.paused_since,
            "resolution": self.resolution,
            "related_order_id": self.related_order_id,
            "related_product_ref": self.related_product_ref,
        }


class TicketComment(Base):
    __tablename__ = "ticket_comments"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    partner_id: Mapped[str] = mapped_column(IdStr())
    author_type: Mapped[str] = mapped_column(String(20))  # operator | partner_user | system
    author_id: Mapped[str] = mapped_column(String(80))
    author_name: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)  # agents' notes, hidden from partners
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TicketAttachment(Base):
    """File metadata; the bytes live under settings.data_dir/attachments/<ticket>/<id>."""

    __tablename__ = "ticket_attachments"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    partner_id: Mapped[str] = mapped_column(IdStr())
    comment_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))  # relative to the attachments dir
    uploaded_by_type: Mapped[str] = mapped_column(String(20))
    uploaded_by_id: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TicketBreach(Base):
    """R-CS-05: one row per missed deadline (a reopened ticket's new deadline can breach again)."""

    __tablename__ = "ticket_breaches"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", "due_at"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    partner_id: Mapped[str] = mapped_column(IdStr(), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # first_response | final
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    owner_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    escalated_to: Mapped[str | None] = mapped_column(IdStr(), nullable=True)


class SlaPolicy(Base):
    """SLA policies as data (R-CS-03). Each PUT writes a whole new version; the highest version is in
    force. An empty table means the built-in R-CS-03 defaults (version 0). "" matches any."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("version", "type", "subtype", "importance"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, index=True)
    type: Mapped[TicketType] = mapped_column(enum_column(TicketType))
    subtype: Mapped[str] = mapped_column(String(24), default="")
    importance: Mapped[str] = mapped_column(String(24), default="")
    first_response_amount: Mapped[int] = mapped_column(Integer)
    first_response_unit: Mapped[SlaUnit] = mapped_column(enum_column(SlaUnit))
    first_response_mode: Mapped[DeadlineMode] = mapped_column(
        enum_column(DeadlineMode), default=DeadlineMode.LIMIT, server_default=DeadlineMode.LIMIT.value
    )
    final_amount: Mapped[int] = mapped_column(Integer)
    final_unit: Mapped[SlaUnit] = mapped_column(enum_column(SlaUnit))
    final_mode: Mapped[DeadlineMode] = mapped_column(
        enum_column(DeadlineMode), default=DeadlineMode.LIMIT, server_default=DeadlineMode.LIMIT.value
    )
    note: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
