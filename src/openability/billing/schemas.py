"""HTTP shapes of payments, invoices and balances: camelCase JSON, money as strings only."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field

from openability.billing.models import Invoice, Payment, ProviderOrder
from openability.billing.types import (
    InvoiceKind,
    InvoiceState,
    InvoiceType,
    PaymentMethod,
    PaymentPurpose,
    PaymentState,
)
from openability.catalog.schemas import ApiModel
from openability.kernel.money import MoneyError, parse_money
from openability.kernel.money import fmt_fen as fmt_fen  # re-exported: billing.cli formats with it


def _money_in(v: object) -> Decimal:
    # The one money path: a plain decimal string; a JSON number is refused outright (10.5 may already
    # be inexact by the time it is parsed), so are "1e3", "+3.00", "1_000.00" and full-width digits.
    # Four decimals are read here; the payment rule then asks for whole fen (INVALID_AMOUNT).
    try:
        return parse_money(v, example="100.00")
    except MoneyError as exc:
        raise ValueError(str(exc)) from None


MoneyIn = Annotated[Decimal, BeforeValidator(_money_in)]


class PaymentCreate(ApiModel):
    transaction_id: Annotated[str, Field(min_length=1, max_length=80)]
    amount: MoneyIn
    method: PaymentMethod
    purpose: PaymentPurpose = PaymentPurpose.TOP_UP
    partner_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None  # operators only
    bank_reference: Annotated[str, Field(max_length=80)] = ""
    # Method online only: the provider (GET /api/v1/payments/providers lists those offered here).
    provider: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z0-9_]+$")] | None = None
    # Purpose statement only: the postpaid statement paid (billing/collections.py).
    statement_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None


class PaymentReject(ApiModel):
    reason: Annotated[str, Field(min_length=1, max_length=300)]


class PaymentOut(ApiModel):
    id: str
    partner_id: str
    transaction_id: str
    method: PaymentMethod
    purpose: PaymentPurpose
    amount: str
    currency: str = "CNY"
    state: PaymentState
    bank_reference: str
    created_at: datetime
    created_by: str
    # Set for a confirmed payment only; a rejection has its own pair (from the payment's audit row).
    confirmed_at: datetime | None
    confirmed_by: str | None
    rejected_at: datetime | None = None
    rejected_by: str | None = None
    reject_reason: str
    journal_entry_id: str | None
    invoice_id: str | None = None
    invoice_number: str | None = None
    # Online payments: the provider, and where the payer pays (a URL to open or a QR code's payload).
    provider: str | None = None
    pay_url: str | None = None
    statement_id: str | None = None  # purpose statement: the statement it pays

    @classmethod
    def of(
        cls,
        p: Payment,
        invoice: Invoice | None = None,
        rejection: tuple[datetime, str] | None = None,
        order: ProviderOrder | None = None,
    ) -> PaymentOut:
        # Payments rejected before confirmed_* meant "confirmed" only may still carry them: not shown.
        confirmed = p.state == PaymentState.CONFIRMED
        return cls(
            id=p.id,
            partner_id=p.partner_id,
            transaction_id=p.transaction_id,
            method=p.method,
            purpose=p.purpose,
            amount=fmt_fen(p.amount),
            state=p.state,
            bank_reference=p.bank_reference,
            created_at=p.created_at,
            created_by=p.created_by,
            confirmed_at=p.confirmed_at if confirmed else None,
            confirmed_by=p.confirmed_by if confirmed else None,
            rejected_at=rejection[0] if rejection else None,
            rejected_by=rejection[1] if rejection else None,
            reject_reason=p.reject_reason,
            journal_entry_id=p.journal_entry_id,
            invoice_id=invoice.id if invoice else None,
            invoice_number=invoice.number if invoice else None,
            provider=order.provider if order else None,
            pay_url=order.pay_url if order and p.state == PaymentState.PENDING else None,
            statement_id=p.statement_id,
        )


class ProvidersOut(ApiModel):
    """The payment methods offered here: sandbox only on demo installations."""

    methods: list[PaymentMethod]
    providers: list[str]


class InvoiceOut(ApiModel):
    id: str
    number: str
    partner_id: str
    payment_id: str | None
    amount: str  # 价税合计: the gross, tax included
    currency: str = "CNY"
    title: str  # the buyer's name
    issued_at: datetime
    month: str = ""  # of its number
    kind: InvoiceKind = InvoiceKind.TOP_UP
    period: str | None = None  # the billed month (statement, monthly consumption)
    statement_id: str | None = None
    net: str = "0.00"  # before tax
    tax: str = "0.00"
    vat_rate: str = "0.06"
    covered: str = "0.00"  # consumption already invoiced in advance (monthly mode)
    invoice_type: InvoiceType = InvoiceType.GENERAL
    buyer_credit_code: str = ""
    buyer_bank_name: str = ""
    buyer_bank_account: str = ""
    buyer_address: str = ""
    buyer_phone: str = ""
    state: InvoiceState = InvoiceState.ISSUED
    fapiao_number: str | None = None
    fapiao_date: date | None = None
    pdf_url: str = ""

    @classmethod
    def of(cls, i: Invoice) -> InvoiceOut:
        return cls(
            id=i.id,
            number=i.number,
            partner_id=i.partner_id,
            payment_id=i.payment_id,
            amount=fmt_fen(i.amount),
            title=i.title,
            issued_at=i.issued_at,
            month=i.month,
            kind=i.kind,
            period=i.period,
            statement_id=i.statement_id,
            net=fmt_fen(i.net),
            tax=fmt_fen(i.tax),
            vat_rate=i.vat_rate,
            covered=fmt_fen(i.covered),
            invoice_type=i.invoice_type,
            buyer_credit_code=i.buyer_credit_code,
            buyer_bank_name=i.buyer_bank_name,
            buyer_bank_account=i.buyer_bank_account,
            buyer_address=i.buyer_address,
            buyer_phone=i.buyer_phone,
            state=i.state,
            fapiao_number=i.fapiao_number,
            fapiao_date=i.fapiao_date,
            pdf_url=f"/api/v1/invoices/{i.id}/pdf",
        )


class BalanceOut(ApiModel):
    partner_id: str
    currency: str = "CNY"
    available: str
    reserved: str
    balance: str  # available + reserved: reserved money sits in grants held by gateway workers
    deposit: str
    receivable: str
