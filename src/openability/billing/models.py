"""Payments (prepaid top-ups, bank transfers) and invoices. Statements etc. come with the billing issue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openability.billing.types import PaymentMethod, PaymentPurpose, PaymentState
from openability.kernel.db import Base, IdStr, Money, UTCDateTime, enum_column


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("partner_id", "transaction_id"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    transaction_id: Mapped[str] = mapped_column(String(80))  # idempotency key given by the payer
    method: Mapped[PaymentMethod] = mapped_column(enum_column(PaymentMethod))
    purpose: Mapped[PaymentPurpose] = mapped_column(
        enum_column(PaymentPurpose), default=PaymentPurpose.TOP_UP
    )
    amount: Mapped[Decimal] = mapped_column(Money())
    state: Mapped[PaymentState] = mapped_column(enum_column(PaymentState), index=True)
    bank_reference: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(80))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    journal_entry_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    reject_reason: Mapped[str] = mapped_column(String(300), default="")


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"), nullable=True, unique=True)
    amount: Mapped[Decimal] = mapped_column(Money())  # rounded to the fen
    title: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InvoiceCounter(Base):
    """Per-month invoice number sequence ("INV-202611-000123"); the row is locked while numbering
    so concurrent confirmations never draw the same number."""

    __tablename__ = "invoice_counters"

    month: Mapped[str] = mapped_column(String(6), primary_key=True)  # YYYYMM, Asia/Shanghai
    last: Mapped[int] = mapped_column(Integer, default=0)


class ProviderOrder(Base):
    """An online payment's order at its provider (billing/providers/): where the payer pays, and once
    the provider's signed notification confirmed it, the provider's transaction id — unique per
    provider, so one provider transaction credits one payment once."""

    __tablename__ = "payment_provider_orders"
    __table_args__ = (UniqueConstraint("provider", "provider_transaction_id"),)

    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    pay_url: Mapped[str] = mapped_column(String(1000))  # a URL to open or a QR code's payload
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    provider_transaction_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
