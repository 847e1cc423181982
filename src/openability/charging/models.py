"""Grants (reservations), CDRs (usage records), daily and monthly rollups, messages and delivery receipts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from openability.charging.types import ClaimState, GrantState
from openability.kernel.db import Base, IdStr, Money, UTCDateTime, enum_column


class Grant(Base):
    """Money moved from prepaid:available to prepaid:reserved for one gateway worker (RFC 4006 style).
    open amount = granted - consumed - released."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_state_expires", "state", "expires_at"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    worker_id: Mapped[str] = mapped_column(String(80))
    # the partner's prepaid:reserved slot holding this grant's money (ledger/types.py RESERVED_SLOTS)
    slot: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    granted: Mapped[Decimal] = mapped_column(Money())
    consumed: Mapped[Decimal] = mapped_column(Money())
    released: Mapped[Decimal] = mapped_column(Money())
    state: Mapped[GrantState] = mapped_column(enum_column(GrantState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UsageRecord(Base):
    """CDR: one per answered, charged call (R-CHARGE-02).

    On PostgreSQL the table is LIST-partitioned by `month` (the Asia/Shanghai billing month), one
    partition a month plus a DEFAULT one (charging/partitions.py, docs/charging.md "CDR partitions").
    Every key carries `partner_id` (the distribution key on Citus) and `month` (the partition key):
    a key of a partitioned table must include the partition key. `id` alone is still unique (new_id)
    and is the ORM's identity. SQLite keeps one plain table with the same keys."""

    __tablename__ = "usage_records"
    __table_args__ = (
        PrimaryKeyConstraint("id", "partner_id", "month"),
        # The CDR writer's duplicate check (a DuplicateRequest answers with the stored CDR). A key is
        # unique within its month here; across months request_claims (charging/claims.py) guard it.
        UniqueConstraint("partner_id", "request_key", "month"),
        Index("ix_usage_partner_time", "partner_id", "occurred_at"),
        Index("ix_usage_records_journal_entry_id", "journal_entry_id", "partner_id"),
        Index("ix_usage_records_month", "month", "partner_id"),
        {"postgresql_partition_by": "LIST (month)"},
    )
    __mapper_args__ = {"primary_key": ["id"]}

    id: Mapped[str] = mapped_column(IdStr())
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    capability: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str] = mapped_column(String(40))
    client_id: Mapped[str] = mapped_column(String(40))
    request_key: Mapped[str] = mapped_column(String(120))  # Idempotency-Key or generated request id
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money())
    billing_mode: Mapped[str] = mapped_column(String(10))
    price_plan_id: Mapped[str] = mapped_column(IdStr())  # R-PRICE-03: the version used
    band: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20))
    month: Mapped[str] = mapped_column(String(7))  # Asia/Shanghai billing month: the partition key
    grant_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    journal_entry_id: Mapped[str] = mapped_column(ForeignKey("journal_entries.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recipients: Mapped[list[str]] = mapped_column(JSON)  # end-user numbers (R-SCOPE-01, R-SCORE-02)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)  # the answer, replayed on retry (R-CHARGE-04)
    # SHA-256 of the canonical request: a retry with the same key but another request is refused (409).
    request_hash: Mapped[str] = mapped_column(String(64), default="")


# A new PostgreSQL database gets the DEFAULT partition with the table (a CDR of a month that has no
# partition yet is never refused); the month partitions come from charging/partitions.py.
event.listen(
    UsageRecord.__table__,
    "after_create",
    DDL("CREATE TABLE usage_records_default PARTITION OF usage_records DEFAULT").execute_if(  # type: ignore[no-untyped-call]
        dialect="postgresql"
    ),
)


class UsageDaily(Base):
    """Daily rollup maintained on write: bill runs and usage pages read this, not CDRs.

    Keyed by the price version, band and scope in force for each use as well as the day
    (R-PRICE-03), so the bill run re-rates the month exactly from the rollups alone (R-CHARGE-06):
    a day on which the price changed has one row per version. Split per reserved slot too (`slot`: the
    CDRs' grant's slot, ledger/types.py RESERVED_SLOTS; 0 without a grant or postpaid), so two gateway
    workers' CDR batches never upsert one row (docs/charging.md "Reserved money per worker slot"):
    every reader sums over the slots."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        UniqueConstraint(
            "partner_id",
            "product_id",
            "day",
            "price_plan_id",
            "band",
            "scope",
            "slot",
            name="uq_usage_daily_rollup_key",
        ),
        # the bill run's read: one partner's month
        Index("ix_usage_daily_partner_month", "partner_id", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    day: Mapped[date] = mapped_column(Date)  # Asia/Shanghai
    price_plan_id: Mapped[str] = mapped_column(IdStr())  # the version used (R-PRICE-03)
    band: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20))
    slot: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the grant's reserved slot
    month: Mapped[str] = mapped_column(String(7), index=True)
    calls: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Money())


class UsageMonthly(Base):
    """Monthly rollup maintained on write next to the daily one, in the same statement (R-CHARGE-06):
    usage_daily's key minus the day, so a row is a month's usage of one product at one price version,
    band, scope and reserved slot, summed over its days. The bill run reads these (charging/settlement.py
    `month_totals_of`: ~3 rows per partner instead of ~90); usage_daily stays the record of the days
    (usage pages, and the re-rate of a product whose version, band or scope changed in the month).
    Invariant (integrity.py): each row equals its key's usage_daily rows summed over the days, and
    `first_day` is their first day."""

    __tablename__ = "usage_monthly"
    __table_args__ = (
        UniqueConstraint(
            "partner_id",
            "product_id",
            "month",
            "price_plan_id",
            "band",
            "scope",
            "slot",
            name="uq_usage_monthly_rollup_key",
        ),
        Index("ix_usage_monthly_month", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    month: Mapped[str] = mapped_column(String(7))  # Asia/Shanghai billing month
    price_plan_id: Mapped[str] = mapped_column(IdStr())  # the version used (R-PRICE-03)
    band: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20))
    slot: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the grant's reserved slot
    first_day: Mapped[date] = mapped_column(Date)  # the key's first day with usage (Asia/Shanghai)
    calls: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Money())


class Message(Base):
    """One message/notification per recipient, for delivery status queries."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    # No foreign key: usage_records is partitioned (a key referring to it would need its month) and old
    # months are detached; the CDR writer writes a CDR and its messages in one transaction.
    usage_record_id: Mapped[str] = mapped_column(IdStr(), index=True)
    partner_id: Mapped[str] = mapped_column(IdStr(), index=True)
    capability: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(20))
    parts: Mapped[int] = mapped_column(Integer)
    network_ids: Mapped[list[str]] = mapped_column(JSON)  # SMSC message ids of the parts
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryReceipt(Base):
    """Status reported by the network element for one network message id (SMPP DLR)."""

    __tablename__ = "delivery_receipts"

    network_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # DELIVRD, UNDELIV, EXPIRED, REJECTD …
    error: Mapped[str] = mapped_column(String(10), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VolumeCounter(Base):
    """Month-to-date volume reserved in blocks by the gateway workers (charging/volume.py, R-CHARGE-06).

    `reserved` is the end of the last block handed out: a worker takes positions
    [reserved, reserved + n) of the month's volume with one atomic UPDATE … RETURNING, so blocks of
    different workers (and nodes) never overlap. It is ahead of the volume really used by what workers
    hold and have not used yet (never behind it): the real-time price is provisional; the bill run
    re-rates the month exactly from usage_daily."""

    __tablename__ = "volume_counters"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # Asia/Shanghai billing month
    reserved: Mapped[int] = mapped_column(BigInteger)
    blocks: Mapped[int] = mapped_column(BigInteger)  # blocks handed out (diagnostics)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RequestClaim(Base):
    """The cross-worker claim of a client's idempotency key, taken before the network is touched
    (charging/claims.py, R-CHARGE-04): one row per (partner, key) however many workers and nodes see
    the call. Answered claims point at their CDR, which holds the answer replayed on a retry."""

    __tablename__ = "request_claims"
    __table_args__ = (Index("ix_request_claims_state_claimed", "state", "claimed_at"),)

    partner_id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    request_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[ClaimState] = mapped_column(enum_column(ClaimState))
    owner: Mapped[str] = mapped_column(String(80))  # the worker that claimed it
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # failed: the answer the owner gave (replayed to the copies that waited for it)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    usage_record_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)  # answered: its CDR
