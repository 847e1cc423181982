"""Pure payment rules: amounts, purposes, activation (R-BILL-01, R-ADMIT-05), invoice numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openability.billing import rules
from openability.kernel.errors import InvalidArgument, RuleViolation

D = Decimal


@pytest.mark.parametrize("amount", ["0.01", "1", "100.50", "1000000.00"])
def test_payment_amount_accepted(amount: str) -> None:
    assert rules.check_payment_amount(D(amount)) == D(amount).quantize(D("0.01"))


@pytest.mark.parametrize(
    ("amount", "fragment"),
    [
        ("0", "greater than 0"),
        ("-5", "greater than 0"),
        ("0.001", "whole fen"),
        ("10.505", "whole fen"),
        ("1000000.01", "limit"),
        ("NaN", "decimal"),
        ("Infinity", "decimal"),
    ],
)
def test_payment_amount_refused(amount: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        rules.check_payment_amount(D(amount))
    assert fragment in exc.value.message
    assert exc.value.code == "INVALID_AMOUNT"


def test_transaction_id_format() -> None:
    assert rules.check_transaction_id("TXN-2026.11:0001_a") == "TXN-2026.11:0001_a"
    for bad in ["", " x", "a b", "x" * 81, "-lead", "中文"]:
        with pytest.raises(InvalidArgument):
            rules.check_transaction_id(bad)


def test_payment_purpose_follows_billing_mode() -> None:
    assert rules.allowed_purpose("AP", "prepaid") == "top_up"
    assert rules.allowed_purpose("SI", "prepaid") == "top_up"
    assert rules.allowed_purpose("SI", "postpaid") == "deposit"
    rules.check_payment_allowed("AP", "prepaid", "active", "top_up")
    with pytest.raises(RuleViolation) as exc:
        rules.check_payment_allowed("AP", "prepaid", "active", "deposit")
    assert exc.value.code == "PURPOSE_NOT_ALLOWED"
    with pytest.raises(RuleViolation):
        rules.check_payment_allowed("SI", "postpaid", "active", "top_up")
    with pytest.raises(RuleViolation) as exc:
        rules.check_payment_allowed("SI", "prepaid", "exited", "top_up")
    assert exc.value.code == "PARTNER_EXITED"
    # suspended partners may pay: paying is how they come back
    rules.check_payment_allowed("SI", "postpaid", "suspended", "deposit")


def test_r_bill_01_activation() -> None:
    assert rules.activates_partner("SI", "prepaid", "pending", "top_up")
    assert not rules.activates_partner("SI", "prepaid", "active", "top_up")
    assert not rules.activates_partner("SI", "prepaid", "suspended", "top_up")
    assert not rules.activates_partner("AP", "prepaid", "pending", "top_up")


def test_r_admit_05_postpaid_si_activated_by_its_deposit() -> None:
    assert rules.activates_partner("SI", "postpaid", "pending", "deposit")
    assert not rules.activates_partner("SI", "postpaid", "pending", "top_up")


def test_same_payment() -> None:
    assert rules.same_payment((D("10.00"), "sandbox", "top_up"), (D("10"), "sandbox", "top_up"))
    assert not rules.same_payment((D("10.00"), "sandbox", "top_up"), (D("10.01"), "sandbox", "top_up"))
    assert not rules.same_payment((D("10.00"), "sandbox", "top_up"), (D("10.00"), "bank_transfer", "top_up"))


def test_invoice_number() -> None:
    assert rules.invoice_number("2026-11", 123) == "INV-202611-000123"
    assert rules.invoice_number("202612", 1) == "INV-202612-000001"
    with pytest.raises(ValueError):
        rules.invoice_number("2026-1", 1)
    with pytest.raises(ValueError):
        rules.invoice_number("2026-11", 0)
