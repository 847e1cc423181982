"""Pure payment and invoice rules (R-BILL-01, R-PARTNER-01), and how a verified online payment
notification is judged against the platform's order. No I/O."""

from __future__ import annotations

import re
from decimal import Decimal

from openability.billing.invoice_rules import invoice_number as invoice_number
from openability.kernel.errors import Conflict, InvalidArgument, PermissionDenied, RuleViolation
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
    if purpose == "statement":
        # A postpaid statement's bank transfer (R-BILL-07): owed whatever the partner's status or billing
        # mode today (exited, or prepaid since); the statement itself must be a due postpaid one.
        return
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


def check_statement_method(method: str) -> None:
    """A statement is paid by bank transfer, confirmed by a billing clerk when the funds arrive."""
    if method != "bank_transfer":
        raise RuleViolation(
            "a statement is paid by bank transfer (a payment notice with its bank reference)",
            code="METHOD_NOT_ALLOWED",
        )


def check_provider_choice(method: str, provider: str | None) -> None:
    """An online payment names its provider; no other payment does."""
    if method == "online" and not provider:
        raise InvalidArgument("provider: required for an online payment", code="PROVIDER_REQUIRED")
    if method != "online" and provider is not None:
        raise InvalidArgument("provider: only an online payment has one")


def order_subject(purpose: str, transaction_id: str) -> str:
    """What the payer sees at the provider."""
    return f"{'预付充值 top-up' if purpose == 'top_up' else '保证金 deposit'} {transaction_id}"


# What a verified notification does to its order.
CONFIRM = "confirm"  # paid: confirm the payment (ledger entry, invoice, R-BILL-01)
DUPLICATE = "duplicate"  # the same provider transaction again: answer success, change nothing
CLOSE = "close"  # closed unpaid at the provider: the pending payment is rejected
IGNORE = "ignore"  # nothing to do (still waiting; closed after it was settled)


def check_merchant(expected_app_id: str, app_id: str, expected_merchant: str, merchant: str) -> None:
    """A notification addressed to another application or merchant is not ours."""
    if app_id != expected_app_id:
        raise PermissionDenied(
            f"the notification is for app {app_id!r}, not this platform's", code="APP_ID_MISMATCH"
        )
    if expected_merchant and merchant != expected_merchant:
        raise PermissionDenied(
            f"the notification is for merchant {merchant!r}, not this platform's", code="MERCHANT_MISMATCH"
        )


def judge_notification(
    *,
    provider: str,
    order_provider: str,
    payment_state: str,
    order_amount: Decimal,
    notified_amount: Decimal,
    recorded_transaction: str | None,
    transaction: str,
    status: str,
) -> str:
    """CONFIRM, DUPLICATE, CLOSE or IGNORE; a notification that does not fit its order is refused
    (the provider's order, the exact amount, an order not settled by another transaction)."""
    if order_provider != provider:
        raise Conflict(f"the order is not a {provider} order", code="ORDER_PROVIDER_MISMATCH")
    if notified_amount != order_amount:
        raise RuleViolation(
            f"the notified amount {notified_amount.quantize(FEN)} is not the order's {order_amount.quantize(FEN)}",
            code="AMOUNT_MISMATCH",
        )
    if status == "paid":
        if payment_state == "confirmed":
            if recorded_transaction == transaction:
                return DUPLICATE
            raise Conflict(
                "the order was already settled by another transaction", code="ORDER_ALREADY_SETTLED"
            )
        if payment_state == "rejected":
            raise Conflict("the order was closed before this payment", code="ORDER_CLOSED")
        return CONFIRM
    if status == "closed" and payment_state == "pending":
        return CLOSE
    return IGNORE
