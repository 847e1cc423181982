"""The ledger audit's statement invariant with a settlement hold (R-TIER-03, R-BILL-10): a held
statement's credits must sit in settlement:held, and its release move exactly them on."""

from __future__ import annotations

from decimal import Decimal

from openability.billing.facts import StatementMoney
from openability.billing.types import HOLD_RELEASE_REF, TRUE_UP_REF
from openability.integrity import statement_violations
from openability.ledger.checks import AccountState, RefLine
from openability.ledger.types import PLATFORM, AccountType, EntryKind

D = Decimal
ACCOUNTS = {
    "rev": AccountState("rev", PLATFORM, AccountType.REVENUE, D(0)),
    "avail": AccountState("avail", "ptn_a", AccountType.PREPAID_AVAILABLE, D(0)),
    "held": AccountState("held", "ptn_a", AccountType.SETTLEMENT_HELD, D(0)),
}


def statement(held: Decimal | None, release: str | None = None) -> StatementMoney:
    return StatementMoney(
        "stm_1", "ptn_a", "prepaid", D("90.04"), D("10"), D(0), "je_t", None, D("90.04"), D(0), held, release
    )


def line(entry: str, ref: str, account: str, amount: str) -> RefLine:
    return RefLine(entry, EntryKind.ADJUSTMENT, ref, "stm_1", account, D(amount))


TRUE_UP_HELD = [line("je_t", TRUE_UP_REF, "rev", "10"), line("je_t", TRUE_UP_REF, "held", "-10")]
RELEASE = [line("je_r", HOLD_RELEASE_REF, "held", "10"), line("je_r", HOLD_RELEASE_REF, "avail", "-10")]


def test_r_tier_03_a_held_true_up_is_checked_against_settlement_held() -> None:
    assert statement_violations([statement(D("10"))], TRUE_UP_HELD, ACCOUNTS) == []
    # credited to the balance although the statement's credits were held
    paid = [line("je_t", TRUE_UP_REF, "rev", "10"), line("je_t", TRUE_UP_REF, "avail", "-10")]
    assert len(statement_violations([statement(D("10"))], paid, ACCOUNTS)) == 2
    # held, but not recorded as held
    assert len(statement_violations([statement(None)], TRUE_UP_HELD, ACCOUNTS)) == 2
    # the held amount must be the statement's credits
    assert "9 held" in " ".join(statement_violations([statement(D("9"))], TRUE_UP_HELD, ACCOUNTS))


def test_r_tier_03_the_release_moves_exactly_the_held_credits() -> None:
    assert statement_violations([statement(D("10"), "je_r")], TRUE_UP_HELD + RELEASE, ACCOUNTS) == []
    # a release entry the statement does not record, or one that moves another amount
    assert statement_violations([statement(D("10"))], TRUE_UP_HELD + RELEASE, ACCOUNTS) != []
    short = [line("je_r", HOLD_RELEASE_REF, "held", "7"), line("je_r", HOLD_RELEASE_REF, "avail", "-7")]
    assert len(statement_violations([statement(D("10"), "je_r")], TRUE_UP_HELD + short, ACCOUNTS)) == 2
