"""Payments (prepaid top-ups, bank transfers) and invoices; bill runs, statements, their lines, disputes
and carried adjustments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openability.billing.types import (
    BillRunState,
    Confirmation,
    DisputeBasis,
    DisputeOutcome,
    DisputeState,
    DueState,
    InvoiceKind,
    InvoiceState,
    InvoiceType,
    LineKind,
    PaymentMethod,
    PaymentPurpose,
    PaymentState,
    StatementState,
)
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
    # Purpose `statement` only: the postpaid statement it pays (billing/collections.py).
    statement_id: Mapped[str | None] = mapped_column(ForeignKey("statements.id"), nullable=True, index=True)


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"), nullable=True, unique=True)
    amount: Mapped[Decimal] = mapped_column(Money())  # 价税合计: the gross, tax included, whole fen
    title: Mapped[str] = mapped_column(String(200))  # the buyer's name (购买方名称)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Issue 7 item 7 (billing/invoices.py): what it is for, the VAT split, the buyer as it was, the fapiao.
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM of its number (Asia/Shanghai)
    kind: Mapped[InvoiceKind] = mapped_column(enum_column(InvoiceKind))
    period: Mapped[str | None] = mapped_column(String(7), nullable=True)  # the billed month
    statement_id: Mapped[str | None] = mapped_column(ForeignKey("statements.id"), nullable=True, unique=True)
    net: Mapped[Decimal] = mapped_column(Money())  # before tax
    tax: Mapped[Decimal] = mapped_column(Money())
    vat_rate: Mapped[str] = mapped_column(String(12))  # "0.06"
    covered: Mapped[Decimal] = mapped_column(Money())  # consumption invoiced before, in advance
    invoice_type: Mapped[InvoiceType] = mapped_column(enum_column(InvoiceType))
    buyer_credit_code: Mapped[str] = mapped_column(String(18))
    buyer_bank_name: Mapped[str] = mapped_column(String(100))
    buyer_bank_account: Mapped[str] = mapped_column(String(40))
    buyer_address: Mapped[str] = mapped_column(String(200))
    buyer_phone: Mapped[str] = mapped_column(String(40))
    state: Mapped[InvoiceState] = mapped_column(enum_column(InvoiceState), index=True)
    fapiao_number: Mapped[str | None] = mapped_column(String(20), nullable=True, unique=True)
    fapiao_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    fapiao_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fapiao_recorded_by: Mapped[str | None] = mapped_column(String(80), nullable=True)


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


# ---- statements (billing/statements.py) -------------------------------------------------------------


class BillRun(Base):
    """One bill run per month (R-BILL-02): the run's record, and the key that makes it idempotent."""

    __tablename__ = "bill_runs"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, Asia/Shanghai
    state: Mapped[BillRunState] = mapped_column(enum_column(BillRunState))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_by: Mapped[str] = mapped_column(String(80))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    statements: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))


class Statement(Base):
    """A partner's statement of one month: one per partner per month (unique), made by the bill run
    from the daily rollups (never from the CDRs)."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("partner_id", "month"),
        Index("ix_statements_month_state", "month", "state"),
    )

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    # no index of its own: the unique (partner_id, month) serves a partner's statements
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    month: Mapped[str] = mapped_column(String(7))
    state: Mapped[StatementState] = mapped_column(enum_column(StatementState))
    billing_mode: Mapped[str] = mapped_column(String(10))  # prepaid | postpaid, at the bill run
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    provisional: Mapped[Decimal] = mapped_column(Money())  # what the calls were charged in real time
    exact: Mapped[Decimal] = mapped_column(Money())  # the month re-rated exactly (usage lines)
    adjustments: Mapped[Decimal] = mapped_column(Money())  # carried adjustment lines
    rounding: Mapped[Decimal] = mapped_column(Money())  # the rounding line
    total: Mapped[Decimal] = mapped_column(Money())  # the sum of the lines, whole fen
    true_up: Mapped[Decimal] = mapped_column(Money())  # credited back: provisional - exact, if > 0
    undercharge: Mapped[Decimal] = mapped_column(Money())  # exact - provisional, if > 0: not charged
    true_up_entry_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    adjustment_entry_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirm_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    confirmation: Mapped[Confirmation | None] = mapped_column(enum_column(Confirmation), nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StatementLine(Base):
    """A statement's line, keyed by its statement and its place in it (one index: the bill run writes
    ~4 lines per partner, and a line is only ever read with its statement's)."""

    __tablename__ = "statement_lines"

    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[LineKind] = mapped_column(enum_column(LineKind))
    product_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    product_code: Mapped[str] = mapped_column(String(40), default="")
    price_plan_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    plan_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    band: Mapped[str] = mapped_column(String(20), default="")
    scope: Mapped[str] = mapped_column(String(20), default="")
    tier_from: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tier_to: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # exclusive; None: open
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    unit_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    description: Mapped[str] = mapped_column(String(300), default="")


class Dispute(Base):
    """A partner's dispute of a statement (R-BILL-05/06): its figures, the platform's matching report
    and the outcome. One per statement."""

    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), unique=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    state: Mapped[DisputeState] = mapped_column(enum_column(DisputeState))
    basis: Mapped[DisputeBasis] = mapped_column(enum_column(DisputeBasis))
    reason: Mapped[str] = mapped_column(String(500), default="")
    statement_amount: Mapped[Decimal] = mapped_column(Money())
    partner_amount: Mapped[Decimal] = mapped_column(Money())
    discrepancy: Mapped[Decimal] = mapped_column(Money())  # partner_amount - statement_amount
    threshold_percent: Mapped[str] = mapped_column(String(12))
    outcome: Mapped[DisputeOutcome | None] = mapped_column(enum_column(DisputeOutcome), nullable=True)
    adjustment: Mapped[Decimal] = mapped_column(Money())  # carried into next month (0: stands)
    records_submitted: Mapped[int] = mapped_column(Integer, default=0)
    records_matched: Mapped[int] = mapped_column(Integer, default=0)
    platform_only: Mapped[int] = mapped_column(Integer, default=0)
    partner_only: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(80))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CarriedAdjustment(Base):
    """A dispute's difference carried into the partner's next statement (R-BILL-06): pending until a
    bill run puts it on a statement (applied_statement_id) and books it."""

    __tablename__ = "carried_adjustments"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    dispute_id: Mapped[str] = mapped_column(ForeignKey("disputes.id"), unique=True)
    from_month: Mapped[str] = mapped_column(String(7))
    amount: Mapped[Decimal] = mapped_column(Money())  # signed: < 0 is in the partner's favour
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_statement_id: Mapped[str | None] = mapped_column(
        ForeignKey("statements.id"), nullable=True, index=True
    )


class LowBalanceAlert(Base):
    """A prepaid partner's low-balance threshold (issue 7 item 9): one notice when the balance falls
    below it, then none until it has been back at or above it (`armed`)."""

    __tablename__ = "low_balance_alerts"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    threshold: Mapped[Decimal] = mapped_column(Money())
    armed: Mapped[bool] = mapped_column(Boolean, default=True)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---- collections (billing/collections.py, billing/dues.py) ------------------------------------------


class StatementDue(Base):
    """A postpaid statement's collection (R-BILL-07..09), one per statement: opened when the statement is
    confirmed (or deemed confirmed); `collected_at` is the record of the collection action (the deposit
    deduction, and the suspension when the deposit fell short), which happens once."""

    __tablename__ = "statement_dues"
    __table_args__ = (Index("ix_statement_dues_state", "state", "month"),)

    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    amount: Mapped[Decimal] = mapped_column(Money())  # the statement total
    paid: Mapped[Decimal] = mapped_column(Money())  # confirmed bank transfers
    deducted: Mapped[Decimal] = mapped_column(Money())  # taken from the deposit
    state: Mapped[DueState] = mapped_column(enum_column(DueState))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notice_by: Mapped[datetime] = mapped_column(UTCDateTime())  # end of the payment window (the 26th)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deferred: Mapped[bool] = mapped_column(Boolean, default=False)  # a notice in time: collected on the 1st
    deduction_entry_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ArrearsSuspension(Base):
    """A suspension for arrears (R-BILL-09): open (resumed_at null) until the arrears are paid and the
    deposit restored, then lifted automatically; closed without a resumption when an operator changed
    the partner's status in the meantime. One open per partner."""

    __tablename__ = "arrears_suspensions"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"))
    shortfall: Mapped[Decimal] = mapped_column(Money())  # what the deposit could not cover
    suspended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), default="")  # resumed | superseded
    # The partner's status changes (audit rows) counted right after this suspension: a different count
    # later means an operator changed the status since, and the suspension is no longer ours to lift.
    status_changes: Mapped[int] = mapped_column(Integer, default=0)


class RequiredDeposit(Base):
    """The deposit a postpaid partner must hold (its contract's), set by a billing clerk; without a row
    it is the partner's first confirmed deposit payment."""

    __tablename__ = "required_deposits"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(80))


# ---- invoices and the settlement hold (billing/invoices.py, billing/holds.py) -----------------------


class InvoiceProfile(Base):
    """What a partner's invoices are made out to (购买方信息) and the fapiao type it asks for."""

    __tablename__ = "invoice_profiles"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    buyer_name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18))  # 统一社会信用代码 ("" when not given)
    bank_name: Mapped[str] = mapped_column(String(100))
    bank_account: Mapped[str] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40))
    invoice_type: Mapped[InvoiceType] = mapped_column(enum_column(InvoiceType))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(80))


class ConsumptionInvoicing(Base):
    """invoice_prepaid_mode=monthly: one row per prepaid statement the monthly job has dealt with (its
    idempotency key), with the part already invoiced in advance (covered) and the invoice, if any was
    left to issue."""

    __tablename__ = "consumption_invoicings"

    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    consumed: Mapped[Decimal] = mapped_column(Money())
    covered: Mapped[Decimal] = mapped_column(Money())
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SettlementHold(Base):
    """R-TIER-03 "stop settlement": while a partner's hold is active (lifted_at is None) its statements
    are still produced, but its true-up credits and favourable adjustments wait in settlement:held
    (HeldCredit) and payouts and refunds to it wait, until the hold is lifted."""

    __tablename__ = "settlement_holds"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    set_by: Mapped[str] = mapped_column(String(80))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lifted_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lift_note: Mapped[str] = mapped_column(String(500), default="")


class HeldCredit(Base):
    """A held statement's credits (true-up + favourable carried adjustments), booked to the partner's
    settlement:held account by the bill run and released to its account when the hold lifts."""

    __tablename__ = "held_credits"

    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    hold_id: Mapped[str] = mapped_column(ForeignKey("settlement_holds.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    release_entry_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
