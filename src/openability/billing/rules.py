"""Pure payment and invoice rules (R-BILL-01, R-PARTNER-01). No I/O."""

from __future__ import annotations

import re
from decimal import Decimal

from openability.kernel.errors import InvalidArgument, RuleViolation
from openability.kernel.money import FEN

MAX_PAYMENT = Decimal("1000000.00")
TRANSACTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,79}$")


def check_payment_amount(amount: Decimal) -> Decimal:
    """A payment is real money: > 0, whole fen (2 decimals), at most 1,000,000.00 CNY."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidArgument("amount must be a decimal string", code="INVALID_AMOUNT")
    if amount <= 0:
        raise InvalidArgument("amount must be greater than 0", code="INVALID_AMOUNT")
    if amount != amount.quantize(FEN):
        raise InvalidArgument("amount must be in whole fen (at most 2 decimals)", code="INVALID_AMOUNT")
    if amount > MAX_PAYMENT:
        raise InvalidArgument(f"amount above the limit of {MAX_PAYMENT} per payment", code="INVALID_AMOUNT")
    return amount.quantize(FEN)


def check_transaction_id(transaction_id: str) -> str:
    if not TRANSACTION_ID.match(transaction_id):
        raise InvalidArgument(
            "transactionId: 1-80 characters of letters, digits and . _ : -", code="INVALID_TRANSACTION_ID"
        )
    return transaction_id


def allowed_purpose(partner_kind: str, billing_mode: str) -> str:
    """Prepaid partners (every AP, R-PARTNER-01; prepaid SIs) top up their balance; postpaid SIs
    pay a security deposit (statement payments come with the bill run)."""
    if partner_kind == "AP" or billing_mode == "prepaid":
        return "top_up"
    return "deposit"


def check_payment_allowed(partner_kind: str, billing_mode: str, partner_status: str, purpose: str) -> None:
    if partner_status == "exited":
        raise RuleViolation("the partner has exited (R-EXIT-01): payments are closed", code="PARTNER_EXITED")
    expected = allowed_purpose(partner_kind, billing_mode)
    if purpose != expected:
        who = "an AP" if partner_kind == "AP" else f"a {billing_mode} SI"
        raise RuleViolation(f"{who} pays with purpose {expected}, not {purpose}", code="PURPOSE_NOT_ALLOWED")


def activates_partner(partner_kind: str, billing_mode: str, partner_status: str, purpose: str) -> bool:
    """R-BILL-01 / R-ADMIT-05: a pending prepaid SI opens on its first confirmed top-up; a pending
    postpaid SI once its deposit is confirmed."""
    if partner_kind != "SI" or partner_status != "pending":
        return False
    return (billing_mode == "prepaid" and purpose == "top_up") or (
        billing_mode == "postpaid" and purpose == "deposit"
    )


def same_payment(a: tuple[Decimal, str, str], b: tuple[Decimal, str, str]) -> bool:
    """A retried payment (same transaction id) must repeat amount, method and purpose exactly."""
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2]


def invoice_number(month: str, seq: int) -> str:
    """month 'YYYY-MM' or 'YYYYMM' -> 'INV-YYYYMM-000123'."""
    m = month.replace("-", "")
    if len(m) != 6 or not m.isdigit() or seq < 1:
        raise ValueError("invoice number needs a YYYYMM month and a positive sequence")
    return f"INV-{m}-{seq:06d}"
