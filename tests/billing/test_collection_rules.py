"""The pure collection rules (billing/collection_rules.py): the payment window and the collection instant
(R-BILL-07), the deduction (R-BILL-08), resumption (R-BILL-09), the states and the over-payment refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openability.billing import collection_rules as rules
from openability.billing.types import DueState
from openability.kernel.clock import SHANGHAI
from openability.kernel.errors import Conflict, InvalidArgument, RuleViolation

D = Decimal


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def test_r_bill_07_the_window_closes_when_the_26th_of_the_next_month_ends() -> None:
    confirmed = sh(2026, 12, 15, 10)
    assert rules.payment_deadline("2026-11", confirmed, 26) == sh(2026, 12, 27)
    assert rules.payment_deadline("2026-12", sh(2027, 1, 16), 26) == sh(2027, 1, 27)  # across the year


def test_r_bill_07_a_statement_due_after_its_26th_is_paid_by_the_next_26th_that_ends_after_it() -> None:
    assert rules.payment_deadline("2026-09", sh(2026, 12, 20, 9), 26) == sh(2026, 12, 27)
    assert rules.payment_deadline("2026-09", sh(2026, 12, 27, 0), 26) == sh(2027, 1, 27)


def test_r_bill_07_a_notice_before_the_deadline_defers_collection_to_the_1st() -> None:
    deadline = sh(2026, 12, 27)
    assert rules.deferred_until(deadline) == sh(2027, 1, 1)
    assert rules.collection_at(deadline, None) == deadline
    assert rules.collection_at(deadline, sh(2026, 12, 26, 23, 59, 59)) == sh(2027, 1, 1)
    assert rules.collection_at(deadline, deadline) == deadline  # 00:00 on the 27th is too late
    assert rules.notice_in_time(deadline, sh(2026, 12, 1)) and not rules.notice_in_time(deadline, None)


@given(
    owed=st.decimals(min_value=0, max_value=10**6, places=2),
    deposit=st.decimals(min_value=-10, max_value=10**6, places=2),
)
def test_r_bill_08_the_deposit_gives_what_it_holds_and_the_rest_stays_owed(
    owed: Decimal, deposit: Decimal
) -> None:
    taken, short = rules.deduction(owed, deposit)
    assert taken + short == owed
    assert 0 <= taken <= max(deposit, D(0))
    assert short == 0 or taken == max(deposit, D(0))


def test_r_bill_09_resumption_needs_the_arrears_paid_and_the_deposit_restored() -> None:
    assert rules.may_resume(D(0), D("100"), D("100"))
    assert not rules.may_resume(D("0.01"), D("100"), D("100"))
    assert not rules.may_resume(D(0), D("99.99"), D("100"))
    assert rules.required_deposit(None, D("50")) == D("50")  # the first deposit paid
    assert rules.required_deposit(D("80"), D("50")) == D("80")  # the clerk's figure
    assert rules.required_deposit(None, None) == 0


def test_r_bill_07_states_and_over_payment() -> None:
    assert rules.due_state(D("10"), D(0), D(0), False) == DueState.DUE
    assert rules.due_state(D("10"), D("4"), D(0), False) == DueState.PARTIALLY_PAID
    assert rules.due_state(D("10"), D("4"), D("2"), True) == DueState.OVERDUE
    assert rules.due_state(D("10"), D("4"), D("6"), True) == DueState.PAID
    assert rules.due_state(D(0), D(0), D(0), False) == DueState.PAID  # nothing to pay: settled at once
    rules.check_statement_payment(D("6"), D("6"))
    with pytest.raises(RuleViolation) as over:
        rules.check_statement_payment(D("6.01"), D("6"))
    assert over.value.code == "OVERPAYMENT"
    with pytest.raises(Conflict) as done:
        rules.check_statement_payment(D("1"), D(0))
    assert done.value.code == "NOTHING_DUE"
    with pytest.raises(InvalidArgument):
        rules.check_bank_reference("  ")
    with pytest.raises(InvalidArgument):
        rules.check_required_deposit(D("1.001"))
