"""Admission tables (private to the domain): applications, their documents and the reviewer's checklist,
contracts, exit bans, and the SI obligations (interface contacts, change notices, requested reports,
publicity filings). Uploaded files live on disk under settings.data_dir/admission; a document row holds
their metadata (the client's file name is metadata only, the stored name is generated)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openability.admission.types import ApplicationState, ChecklistItem, ContractState, DocumentKind
from openability.kernel.db import Base, IdStr, Money, UTCDateTime, enum_column


class Application(Base):
    __tablename__ = "admission_applications"
    __table_args__ = (Index("ix_admission_applications_queue", "state", "submitted_at"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    state: Mapped[ApplicationState] = mapped_column(enum_column(ApplicationState))
    # company identity
    company_name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    registered_capital: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    legal_representative: Mapped[str] = mapped_column(String(100), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    # classification (R-PARTNER-03) and the business
    product_kind: Mapped[str] = mapped_column(String(20))
    industry: Mapped[str | None] = mapped_column(String(60), nullable=True)
    scope: Mapped[str] = mapped_column(String(20))
    intended_products: Mapped[list[str]] = mapped_column(JSON, default=list)
    billing_mode: Mapped[str] = mapped_column(String(20))  # the applicant's preference
    needs_resource_authorization: Mapped[bool] = mapped_column(Boolean, default=False)
    local_customer_resources: Mapped[str] = mapped_column(Text, default="")
    local_promotion_resources: Mapped[str] = mapped_column(Text, default="")
    # the review
    reviewer_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Document(Base):
    """An uploaded file of a partner: of an application (owner_type 'application'), a requested report
    ('report') or a publicity filing ('publicity')."""

    __tablename__ = "admission_documents"
    __table_args__ = (Index("ix_admission_documents_owner", "owner_type", "owner_id"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    owner_type: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[str] = mapped_column(IdStr())
    kind: Mapped[DocumentKind | None] = mapped_column(enum_column(DocumentKind), nullable=True)
    number: Mapped[str] = mapped_column(String(80), default="")
    issuer: Mapped[str] = mapped_column(String(120), default="")
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    filename: Mapped[str] = mapped_column(String(200))  # the client's name, sanitized: metadata only
    content_type: Mapped[str] = mapped_column(String(40))  # sniffed from the bytes
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))  # generated: <partner id>/<document id>
    uploaded_by_type: Mapped[str] = mapped_column(String(20))
    uploaded_by_id: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChecklistEntry(Base):
    """R-ADMIT-04: one judgement of the reviewer's checklist (the latest per item counts)."""

    __tablename__ = "admission_checklist"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("admission_applications.id"), index=True)
    item: Mapped[ChecklistItem] = mapped_column(enum_column(ChecklistItem))
    passed: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewer_id: Mapped[str] = mapped_column(String(80))
    reviewer_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Contract(Base):
    __tablename__ = "admission_contracts"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("admission_applications.id"), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    state: Mapped[ContractState] = mapped_column(enum_column(ContractState))
    scope: Mapped[str] = mapped_column(String(20))
    product_kind: Mapped[str] = mapped_column(String(20))
    industry: Mapped[str | None] = mapped_column(String(60), nullable=True)
    billing_mode: Mapped[str] = mapped_column(String(20))  # exactly one (R-PARTNER-02)
    price_band: Mapped[str] = mapped_column(String(20))  # the initial tier (R-PRICE-02)
    deposit: Mapped[Decimal] = mapped_column(Money())  # postpaid: to be received before activation
    agreed_payment: Mapped[Decimal] = mapped_column(Money())  # prepaid: the first payment (0: any)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    renewed_from_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_reason: Mapped[str] = mapped_column(String(300), default="")


class ExitBan(Base):
    """R-EXIT-03: a company (by credit code or name), or one business category of it, may not apply
    again until `until`."""

    __tablename__ = "exit_bans"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    credit_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    company_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    business_category: Mapped[str | None] = mapped_column(String(80), nullable=True)
    partner_id: Mapped[str | None] = mapped_column(IdStr(), nullable=True)
    since: Mapped[date] = mapped_column(Date)
    until: Mapped[date] = mapped_column(Date, index=True)
    reason: Mapped[str] = mapped_column(String(300))
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InterfaceContact(Base):
    """R-OBLIG-01: the SI's interface contact. A change is filed in advance (state 'requested', with the
    date it takes effect) and takes effect when the handover is recorded ('current'; the one before
    becomes 'former')."""

    __tablename__ = "si_interface_contacts"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    state: Mapped[str] = mapped_column(String(20))  # requested | current | former | cancelled
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(String(300), default="")
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filed_by: Mapped[str] = mapped_column(String(80))
    handover_note: Mapped[str] = mapped_column(Text, default="")
    handover_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    handover_by: Mapped[str | None] = mapped_column(String(80), nullable=True)


class ChangeNotice(Base):
    """R-OBLIG-02: a product upgrade or bank-account change, notified ahead of taking effect."""

    __tablename__ = "si_change_notices"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # product_upgrade | bank_account
    summary: Mapped[str] = mapped_column(Text)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filed_by: Mapped[str] = mapped_column(String(80))


class ReportRequest(Base):
    """R-OBLIG-03: a report the operator requested, due by `due_at`; a standing one (recurrence in
    months) is requested again for the next period once this one is due."""

    __tablename__ = "si_report_requests"
    __table_args__ = (Index("ix_si_report_requests_due", "state", "due_at"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recurrence_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(20))  # open | submitted
    requested_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    overdue_noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_requested: Mapped[bool] = mapped_column(Boolean, default=False)


class PublicityFiling(Base):
    """R-OBLIG-04: publicity material using the operator's brand, filed and approved before publication."""

    __tablename__ = "si_publicity_filings"

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(20))  # filed | approved | rejected
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filed_by: Mapped[str] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
