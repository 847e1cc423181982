"""The billing domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum


class PaymentMethod(enum.StrEnum):
    SANDBOX = "sandbox"  # demo/test provider simulator (settings.payments_sandbox): confirms at once
    BANK_TRANSFER = "bank_transfer"  # an operator confirms when the funds arrive
    ONLINE = "online"  # an online provider (billing/providers/) confirms by a signed notification


class PaymentState(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class PaymentPurpose(enum.StrEnum):
    TOP_UP = "top_up"  # prepaid balance
    DEPOSIT = "deposit"  # postpaid SI security deposit
    STATEMENT = "statement"  # a postpaid statement's payment (billing/collections.py, R-BILL-07)


# ---- statements (the monthly bill run, R-BILL-02..06) ----------------------------------------------


# Ledger references of the bill run's entries, one each per statement (openability.integrity checks them).
TRUE_UP_REF = "statement_true_up"
ADJUSTMENT_REF = "statement_adjustment"


class StatementState(enum.StrEnum):
    """draft (the bill run made it) -> issued (sent to the partner, R-BILL-03) -> confirmed (by the
    partner, or deemed at the end of the 15th, R-BILL-04) | disputed (R-BILL-05/06) -> settled (prepaid:
    once the confirmation window has closed, the money having moved in real time and by the true-up;
    postpaid: once collected). TM Forum's bill states new/validated/sent/settled, with confirmation and
    dispute made explicit."""

    DRAFT = "draft"
    ISSUED = "issued"
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"
    SETTLED = "settled"


class LineKind(enum.StrEnum):
    USAGE = "usage"  # one product, price version, band/scope and tier: units x unit price
    ADJUSTMENT = "adjustment"  # carried from an earlier month's dispute (R-BILL-06)
    ROUNDING = "rounding"  # the fen rounding of the total (ROUND_HALF_UP), its own visible line


class Confirmation(enum.StrEnum):
    PARTNER = "partner"  # the partner confirmed (R-BILL-04)
    DEEMED = "deemed"  # neither confirmed nor disputed by the end of the 15th (R-BILL-04)


class BillRunState(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"


class DisputeBasis(enum.StrEnum):
    TOTAL = "total"  # the partner states its own total
    RECORDS = "records"  # the partner sends its record list (request/message ids)


class DisputeState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DisputeOutcome(enum.StrEnum):
    STANDS = "stands"  # within the threshold: the statement stands as issued
    ADJUSTED = "adjusted"  # above it: the difference is carried into next month's statement


# ---- collections (postpaid statements, R-BILL-07..09; billing/collections.py) ----------------------


# Ledger reference of a statement's deposit deduction (one per statement; openability.integrity checks it).
DEDUCTION_REF = "statement_deduction"


class DueState(enum.StrEnum):
    """A postpaid statement's collection: due (confirmed, nothing received) -> partially_paid -> paid
    (transfers and any deposit deduction cover it: the statement is settled); overdue once collection
    ran (the 27th, or the 1st after a timely notice) and the deposit could not cover the rest."""

    DUE = "due"
    PARTIALLY_PAID = "partially_paid"
    OVERDUE = "overdue"
    PAID = "paid"


# ---- invoices and the settlement hold (billing/invoices.py, billing/holds.py) -----------------------


class InvoiceKind(enum.StrEnum):
    STATEMENT = "statement"  # a postpaid statement, once confirmed (or deemed confirmed)
    TOP_UP = "top_up"  # prepaid money at its confirmed top-up (invoice_prepaid_mode=top_up; R-BILL-01)
    CONSUMPTION = "monthly_consumption"  # a prepaid month's consumption (invoice_prepaid_mode=monthly)


class InvoiceType(enum.StrEnum):
    """The fapiao type the buyer asks for: 增值税普通发票 or 增值税专用发票 (the special one lets the buyer
    deduct the input VAT, so it needs the buyer's credit code, bank account, address and phone)."""

    GENERAL = "general"  # 普通发票
    SPECIAL = "special"  # 专用发票


class InvoiceState(enum.StrEnum):
    ISSUED = "issued"  # the platform issued it; the tax system's fapiao is still to come
    FAPIAO_RECORDED = "fapiao_recorded"  # the official fapiao number (and date) are recorded


# Ledger references of the settlement hold's entries (openability.integrity checks them): a held
# statement's true-up and favourable adjustments keep TRUE_UP_REF / ADJUSTMENT_REF but credit the
# partner's settlement:held account; the release moves them on, one entry per statement.
HOLD_RELEASE_REF = "statement_hold_release"
