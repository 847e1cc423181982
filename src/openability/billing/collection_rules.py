"""Pure collection rules for postpaid statements (R-BILL-07..09): the payment window and when collection
happens, the state of a statement's collection, how much the deposit covers, when a suspension for
arrears ends, and the texts the partner is sent. No I/O.

Calendar (Asia/Shanghai, month M settled in M+1): a statement is due once confirmed (by the 15th); it is
paid by the end of the payment day (the 26th, a setting). A payment notice (a bank transfer's reference)
filed before that instant defers collection to 00:00 on the 1st of M+2; without one, collection starts at
00:00 on the 27th: the unpaid amount is taken from the deposit, and what the deposit cannot cover stays
receivable and suspends the partner until it pays and restores the deposit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from openability.billing.rules import MAX_PAYMENT
from openability.billing.types import DueState
from openability.kernel.clock import SHANGHAI, business_date, end_of_business_day, next_month
from openability.kernel.errors import Conflict, InvalidArgument, RuleViolation
from openability.kernel.money import FEN, fmt_fen

ZERO = Decimal("0.0000")


def _end_of(month: str, day: int) -> datetime:
    return end_of_business_day(date(int(month[:4]), int(month[5:7]), day))


def payment_deadline(month: str, due_at: datetime, day: int) -> datetime:
    """R-BILL-07: the end of `day` (the 26th) of the month after `month`. A statement that became due
    after that instant (a late bill run) is paid by the end of `day` of the first month in which that
    day ends after it became due."""
    first = _end_of(next_month(month), day)
    if due_at < first:
        return first
    d = business_date(due_at)
    this = f"{d.year:04d}-{d.month:02d}"
    own = _end_of(this, day)
    return own if due_at < own else _end_of(next_month(this), day)


def deferred_until(deadline: datetime) -> datetime:
    """00:00 on the 1st of the month after the deadline's (R-BILL-07: funds arrive before the 1st)."""
    d = business_date(deadline)
    nxt = next_month(f"{d.year:04d}-{d.month:02d}")
    return datetime(int(nxt[:4]), int(nxt[5:7]), 1, tzinfo=SHANGHAI).astimezone(UTC)


def notice_in_time(deadline: datetime, notice_at: datetime | None) -> bool:
    """A notice filed strictly before the end of the payment day defers collection."""
    return notice_at is not None and notice_at < deadline


def collection_at(deadline: datetime, notice_at: datetime | None) -> datetime:
    """When collection (R-BILL-08) takes what is still unpaid: at the deadline (00:00 on the 27th), or
    with a notice filed in time at 00:00 on the 1st of the next month."""
    return deferred_until(deadline) if notice_in_time(deadline, notice_at) else deadline


def unpaid(amount: Decimal, paid: Decimal, deducted: Decimal) -> Decimal:
    return amount - paid - deducted


def due_state(amount: Decimal, paid: Decimal, deducted: Decimal, collected: bool) -> DueState:
    if unpaid(amount, paid, deducted) <= 0:
        return DueState.PAID
    if collected:
        return DueState.OVERDUE
    return DueState.PARTIALLY_PAID if paid + deducted > 0 else DueState.DUE


def deduction(owed: Decimal, deposit: Decimal) -> tuple[Decimal, Decimal]:
    """R-BILL-08/09: (taken from the deposit, shortfall that stays receivable)."""
    take = min(max(owed, ZERO), max(deposit, ZERO))
    return take, max(owed, ZERO) - take


def check_statement_payment(amount: Decimal, owed: Decimal) -> None:
    """A statement payment pays at most what is unpaid: an over-payment is refused (a deposit restoration
    is a deposit payment of its own)."""
    if owed <= 0:
        raise Conflict("nothing is unpaid on this statement", code="NOTHING_DUE")
    if amount > owed:
        raise RuleViolation(
            f"amount {fmt_fen(amount)} is more than the {fmt_fen(owed)} unpaid on the statement; pay at "
            "most the unpaid amount (restore the deposit with a deposit payment)",
            code="OVERPAYMENT",
        )


def check_bank_reference(reference: str) -> str:
    ref = " ".join((reference or "").split())
    if not ref:
        raise InvalidArgument(
            "bankReference: a payment notice names its bank transfer", code="BANK_REFERENCE_REQUIRED"
        )
    if len(ref) > 80:
        raise InvalidArgument("bankReference: at most 80 characters")
    return ref


def check_required_deposit(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise InvalidArgument("amount must be 0 or more", code="INVALID_AMOUNT")
    if amount != amount.quantize(FEN):
        raise InvalidArgument("amount must be in whole fen (at most 2 decimals)", code="INVALID_AMOUNT")
    if amount > MAX_PAYMENT:
        raise InvalidArgument(f"amount above the limit of {MAX_PAYMENT}", code="INVALID_AMOUNT")
    return amount.quantize(FEN)


def required_deposit(explicit: Decimal | None, first_paid: Decimal | None) -> Decimal:
    """The deposit the partner must hold: the clerk's figure, else the first deposit it paid."""
    if explicit is not None:
        return explicit
    return first_paid if first_paid is not None else ZERO


def may_resume(arrears: Decimal, deposit: Decimal, required: Decimal) -> bool:
    """R-BILL-09: a partner suspended for arrears resumes once it has paid them and restored its deposit."""
    return arrears <= 0 and deposit >= required


# ---- what the partner is told ----------------------------------------------------------------------


def _local(at: datetime) -> str:
    return f"{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


def due_notice(month: str, statement_id: str, amount: Decimal, deadline: datetime) -> tuple[str, str]:
    by = _local(deadline)
    return (
        f"{month} 结算单应付 ¥{fmt_fen(amount)} / Amount due for {month}: CNY {fmt_fen(amount)}",
        f"您 {month} 的结算单已确认，应付 ¥{fmt_fen(amount)}。请于 {by}（北京时间）前银行转账付款，并在平台"
        "提交付款通知（银行流水号）；逾期未付且未提交通知的，将从保证金中扣收。\n"
        f"Your statement for {month} is confirmed: CNY {fmt_fen(amount)} is due. Please pay by bank transfer "
        f"before {by} (Asia/Shanghai) and file a payment notice with its bank reference; without one, the "
        f"unpaid amount is then taken from your deposit (R-BILL-07/08). Statement {statement_id}.",
    )


def deduction_notice(
    month: str,
    statement_id: str,
    taken: Decimal,
    shortfall: Decimal,
    deposit_left: Decimal,
    required: Decimal,
) -> tuple[str, str]:
    restore = max(required - deposit_left, ZERO)
    zh = (
        f"您 {month} 的结算单逾期未付：已从保证金扣收 ¥{fmt_fen(taken)}，保证金余额 ¥{fmt_fen(deposit_left)}。"
        f"请补足保证金 ¥{fmt_fen(restore)}（应缴 ¥{fmt_fen(required)}）。"
    )
    en = (
        f"Your statement for {month} was unpaid: CNY {fmt_fen(taken)} was taken from your deposit, which "
        f"now holds CNY {fmt_fen(deposit_left)}. Please restore it by CNY {fmt_fen(restore)} (required: CNY "
        f"{fmt_fen(required)}) (R-BILL-08)."
    )
    if shortfall > 0:
        zh += f"保证金不足以抵扣，尚欠 ¥{fmt_fen(shortfall)}，服务已暂停。"
        en += (
            f" The deposit did not cover it: CNY {fmt_fen(shortfall)} is still owed and your service is "
            "suspended (R-BILL-09)."
        )
    return (
        f"保证金扣收 ¥{fmt_fen(taken)} / Deposit deduction: CNY {fmt_fen(taken)} ({month})",
        f"{zh}\n{en} Statement {statement_id}.",
    )


def suspension_notice(month: str, shortfall: Decimal, required: Decimal) -> tuple[str, str]:
    return (
        "服务已暂停：欠费 / Service suspended: arrears",
        f"您 {month} 的结算单尚欠 ¥{fmt_fen(shortfall)}，保证金不足以抵扣，服务已暂停，API 调用将被拒绝。"
        f"付清欠款并补足保证金（¥{fmt_fen(required)}）后自动恢复。\n"
        f"CNY {fmt_fen(shortfall)} of your {month} statement is unpaid and your deposit could not cover it: "
        "your service is suspended and API calls are refused. It resumes automatically once the arrears "
        f"are paid and the deposit is restored to CNY {fmt_fen(required)} (R-BILL-09).",
    )


def resumption_notice(deposit: Decimal) -> tuple[str, str]:
    return (
        "服务已恢复 / Service resumed",
        f"欠款已付清，保证金已补足（¥{fmt_fen(deposit)}），您的服务已自动恢复。\n"
        f"Your arrears are paid and your deposit is restored (CNY {fmt_fen(deposit)}): your service has "
        "resumed (R-BILL-09).",
    )
