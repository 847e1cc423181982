"""A postpaid statement's collection, its money and the partner's suspension for arrears (R-BILL-07..10):
the parts the statements (confirmation), the payments (confirmation of a transfer or a deposit) and the
collection jobs share. The use cases that call them are in billing/collections.py.

  * open_due: a confirmed (or deemed-confirmed, or disputed and closed) postpaid statement becomes due
    for its total; a total of zero or less settles at once. The partner is told the amount and the
    payment deadline (the end of the 26th).
  * apply_payment: a confirmed bank transfer for the statement (Dr cash / Cr receivable, posted by
    billing/service.py) raises its paid amount; an over-payment is refused; fully paid, it settles.
  * collect: once its collection instant has passed (00:00 on the 27th, or on the 1st after a timely
    notice) what is unpaid is taken from the deposit, one DEPOSIT_DEDUCTION entry (Dr deposit / Cr
    receivable) referring to the statement; what the deposit cannot cover stays receivable and the
    partner is suspended. Done once per statement (`collected_at`, under the statement's row lock).
  * maybe_resume: a partner suspended for arrears resumes automatically once no collected statement is
    unpaid and its deposit is back at the required level; an operator's own suspension never does.

Locks are taken in one order everywhere: the partner row, then the due row, then the statement, then
(by the ledger) the accounts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from openability.billing import collection_rules as rules
from openability.billing.models import (
    ArrearsSuspension,
    Payment,
    RequiredDeposit,
    Statement,
    StatementDue,
)
from openability.billing.types import (
    DEDUCTION_REF,
    DueState,
    PaymentPurpose,
    PaymentState,
    StatementState,
)
from openability.kernel.audit import AuditEntry
from openability.kernel.errors import RuleViolation
from openability.kernel.events import BALANCE_CHANGED
from openability.kernel.ids import new_id
from openability.kernel.notify import notify
from openability.kernel.uow import UnitOfWork
from openability.ledger import service as ledger
from openability.ledger.types import AccountType, EntryKind
from openability.partners import service as partners
from openability.partners.types import PartnerRef, PartnerStatus

ZERO = Decimal("0.0000")
DUE_STATES = (StatementState.CONFIRMED, StatementState.DISPUTED)
# The partners domain's audit actions of a status change (partners/lifecycle.py).
STATUS_ACTIONS = ("partner.suspended", "partner.activated", "partner.exited", "partner.pending")
ARREARS_REASON = "欠费暂停 / suspended for arrears (R-BILL-09)"
RESUMED_REASON = "欠款已付清、保证金已补足，自动恢复 / arrears paid, deposit restored: resumed (R-BILL-09)"


def snapshot(d: StatementDue) -> dict[str, Any]:
    return {
        "state": d.state,
        "amount": d.amount,
        "paid": d.paid,
        "deducted": d.deducted,
        "deferred": d.deferred,
        "collected_at": d.collected_at,
    }


def owed(d: StatementDue) -> Decimal:
    return rules.unpaid(d.amount, d.paid, d.deducted)


def _settle(uow: UnitOfWork, stmt: Statement, note: str) -> None:
    if stmt.state == StatementState.SETTLED:
        return
    before = stmt.state
    stmt.state = StatementState.SETTLED
    stmt.settled_at = uow.now
    uow.audit(
        "statement.settled",
        ("statement", stmt.id),
        partner_id=stmt.partner_id,
        before={"state": before},
        after={"state": stmt.state, "total": stmt.total},
        note=note,
    )


def _refresh_state(uow: UnitOfWork, due: StatementDue) -> None:
    due.state = rules.due_state(due.amount, due.paid, due.deducted, due.collected_at is not None)
    if due.state == DueState.PAID and due.paid_at is None:
        due.paid_at = uow.now


# ---- becoming due -----------------------------------------------------------------------------------


async def open_due(uow: UnitOfWork, stmt: Statement) -> StatementDue | None:
    """The due of a confirmed or disputed postpaid statement (made once; None for any other statement).
    The caller holds the statement's row."""
    if stmt.billing_mode != "postpaid" or stmt.state not in DUE_STATES:
        return None
    existing = await uow.session.get(StatementDue, stmt.id)
    if existing is not None:
        return existing
    deadline = rules.payment_deadline(stmt.month, uow.now, uow.settings.statement_payment_day)
    due = StatementDue(
        statement_id=stmt.id,
        partner_id=stmt.partner_id,
        month=stmt.month,
        amount=stmt.total,
        paid=ZERO,
        deducted=ZERO,
        state=DueState.DUE,
        due_at=uow.now,
        notice_by=deadline,
        deferred=False,
    )
    _refresh_state(uow, due)
    try:
        async with uow.session.begin_nested():
            uow.session.add(due)
            await uow.session.flush()
    except IntegrityError:
        return await uow.session.get(StatementDue, stmt.id)  # opened by a concurrent unit of work
    uow.audit(
        "statement.due",
        ("statement", stmt.id),
        partner_id=stmt.partner_id,
        after=snapshot(due) | {"notice_by": deadline},
    )
    if due.state == DueState.PAID:
        _settle(uow, stmt, "postpaid: nothing to pay (total <= 0)")
    else:
        subject, body = rules.due_notice(stmt.month, stmt.id, due.amount, deadline)
        await notify(
            uow,
            recipient=("partner", stmt.partner_id),
            kind="statement-due",
            subject=subject,
            body=body,
            dedup_key=f"statement-due:{stmt.id}",
        )
    return due


async def ensure_dues(uow: UnitOfWork, through_month: str) -> int:
    """Open the due of every confirmed or disputed postpaid statement of `through_month` or earlier that
    has none yet (a catch-up: statements confirmed before collections existed). Returns how many."""
    rows = (
        await uow.session.scalars(
            select(Statement)
            .outerjoin(StatementDue, StatementDue.statement_id == Statement.id)
            .where(
                StatementDue.statement_id.is_(None),
                Statement.billing_mode == "postpaid",
                Statement.state.in_(DUE_STATES),
                Statement.month <= through_month,
            )
            .order_by(Statement.month, Statement.partner_id)
        )
    ).all()
    n = 0
    for stmt in rows:
        n += (await open_due(uow, stmt)) is not None
    return n


async def due_for_update(uow: UnitOfWork, statement_id: str) -> StatementDue | None:
    """The statement's due, locked; opened first when the statement is due and has none."""
    due = await uow.session.scalar(
        select(StatementDue).where(StatementDue.statement_id == statement_id).with_for_update()
    )
    if due is not None:
        return due
    stmt = await uow.session.scalar(select(Statement).where(Statement.id == statement_id).with_for_update())
    if stmt is None or await open_due(uow, stmt) is None:
        return None
    return await uow.session.scalar(
        select(StatementDue).where(StatementDue.statement_id == statement_id).with_for_update()
    )


# ---- payments -----------------------------------------------------------------------------------------


async def check_payment(uow: UnitOfWork, statement_id: str, amount: Decimal) -> StatementDue:
    """A payment (a notice now, or its confirmation) may pay the statement: it is due, and the amount is
    at most what is unpaid."""
    due = await due_for_update(uow, statement_id)
    if due is None:
        raise RuleViolation(
            "the statement is not due: a postpaid statement is paid once confirmed (R-BILL-04/07)",
            code="STATEMENT_NOT_DUE",
        )
    rules.check_statement_payment(amount, owed(due))
    return due


async def apply_payment(uow: UnitOfWork, payment: Payment) -> StatementDue:
    """A confirmed bank transfer of the statement: its paid amount rises; fully paid, the statement is
    settled. Over-paying is refused (nothing is posted: the caller's unit of work rolls back)."""
    assert payment.statement_id is not None
    due = await check_payment(uow, payment.statement_id, payment.amount)
    before = snapshot(due)
    due.paid += payment.amount
    _refresh_state(uow, due)
    await uow.session.flush()
    uow.audit(
        "statement_due.payment",
        ("statement", due.statement_id),
        partner_id=due.partner_id,
        before=before,
        after=snapshot(due) | {"payment_id": payment.id},
    )
    if due.state == DueState.PAID:
        stmt = await uow.session.scalar(
            select(Statement).where(Statement.id == due.statement_id).with_for_update()
        )
        assert stmt is not None
        _settle(uow, stmt, f"postpaid: paid (payment {payment.id})")
    return due


async def first_notice_at(uow: UnitOfWork, statement_id: str) -> Any:
    """When the first payment notice of the statement (not rejected) was filed, or None."""
    return await uow.session.scalar(
        select(func.min(Payment.created_at)).where(
            Payment.statement_id == statement_id,
            Payment.purpose == PaymentPurpose.STATEMENT,
            Payment.state != PaymentState.REJECTED,
        )
    )


# ---- the deposit ------------------------------------------------------------------------------------


async def required_deposit(uow: UnitOfWork, partner_id: str) -> Decimal:
    row = await uow.session.get(RequiredDeposit, partner_id)
    first = await uow.session.scalar(
        select(Payment.amount)
        .where(
            Payment.partner_id == partner_id,
            Payment.purpose == PaymentPurpose.DEPOSIT,
            Payment.state == PaymentState.CONFIRMED,
        )
        .order_by(Payment.confirmed_at, Payment.id)
        .limit(1)
    )
    return rules.required_deposit(row.amount if row is not None else None, first)


async def deposit_balance(uow: UnitOfWork, partner_id: str) -> Decimal:
    return (await ledger.balances(uow.session, partner_id)).get(AccountType.DEPOSIT, ZERO)


async def arrears(uow: UnitOfWork, partner_id: str) -> Decimal:
    """What the partner still owes on statements whose collection has run."""
    rows = (
        await uow.session.execute(
            select(StatementDue.amount, StatementDue.paid, StatementDue.deducted).where(
                StatementDue.partner_id == partner_id,
                StatementDue.collected_at.is_not(None),
                StatementDue.state != DueState.PAID,
            )
        )
    ).all()
    return sum((rules.unpaid(a, p, d) for a, p, d in rows), ZERO)


# ---- collection -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collected:
    statement_id: str
    partner_id: str
    taken: Decimal  # from the deposit
    shortfall: Decimal  # still receivable
    suspended: bool


async def collect(uow: UnitOfWork, statement_id: str) -> Collected | None:
    """R-BILL-07..09 for one statement, if its collection instant has passed and it has not been
    collected: take the unpaid amount from the deposit, suspend the partner for what the deposit does
    not cover. A statement deferred by a timely notice is marked so and left until the 1st. None when
    nothing was done (not yet, deferred, already collected or paid)."""
    partner_id = await uow.session.scalar(
        select(StatementDue.partner_id).where(StatementDue.statement_id == statement_id)
    )
    if partner_id is None:
        return None
    partner = await partners.partner_ref(uow, partner_id, lock=True)
    due = await uow.session.scalar(
        select(StatementDue).where(StatementDue.statement_id == statement_id).with_for_update()
    )
    if due is None or due.collected_at is not None or due.state == DueState.PAID:
        return None
    notice_at = await first_notice_at(uow, statement_id)
    if uow.now < rules.collection_at(due.notice_by, notice_at):
        if rules.notice_in_time(due.notice_by, notice_at) and uow.now >= due.notice_by and not due.deferred:
            due.deferred = True
            uow.audit(
                "statement_due.deferred",
                ("statement", statement_id),
                partner_id=partner_id,
                after={"until": rules.deferred_until(due.notice_by), "notice_at": notice_at},
                note="a payment notice was filed by the end of the payment day (R-BILL-07)",
            )
        return None
    before = snapshot(due)
    session = uow.session
    await ledger.ensure_platform_accounts(session, uow.now)
    await ledger.ensure_partner_accounts(session, partner_id, uow.now)
    deposit = await ledger.get_account(session, partner_id, AccountType.DEPOSIT, lock=True)
    taken, shortfall = rules.deduction(owed(due), deposit.balance)
    if taken > 0:
        receivable = await ledger.get_account(session, partner_id, AccountType.RECEIVABLE)
        entry = await ledger.post(
            session,
            kind=EntryKind.DEPOSIT_DEDUCTION,
            legs=sorted(
                [ledger.debit(deposit, taken), ledger.credit(receivable, taken)],
                key=lambda leg: leg.account.id,
            ),
            now=uow.now,
            ref=(DEDUCTION_REF, statement_id),
            memo=f"unpaid {due.month} statement taken from the deposit (R-BILL-08)",
        )
        due.deducted += taken
        due.deduction_entry_id = entry.id
        uow.publish(BALANCE_CHANGED, partner_id)
    due.collected_at = uow.now
    _refresh_state(uow, due)
    await session.flush()
    uow.audit(
        "statement_due.collected",
        ("statement", statement_id),
        partner_id=partner_id,
        before=before,
        after=snapshot(due) | {"taken": taken, "shortfall": shortfall, "entry": due.deduction_entry_id},
    )
    if owed(due) <= 0:  # the deposit covered it
        stmt = await session.scalar(select(Statement).where(Statement.id == statement_id).with_for_update())
        assert stmt is not None
        _settle(uow, stmt, "postpaid: collected from the deposit (R-BILL-08)")
    required = await required_deposit(uow, partner_id)
    if taken > 0:  # an empty deposit gives nothing: the suspension notice says what is owed
        subject, body = rules.deduction_notice(
            due.month, statement_id, taken, shortfall, deposit.balance, required
        )
        await notify(
            uow,
            recipient=("partner", partner_id),
            kind="deposit-deducted",
            subject=subject,
            body=body,
            dedup_key=f"deposit-deducted:{statement_id}",
        )
    suspended = False
    if shortfall > 0:
        suspended = await _suspend(uow, partner, due, shortfall, required)
    return Collected(statement_id, partner_id, taken, shortfall, suspended)


async def _status_changes(uow: UnitOfWork, partner_id: str) -> int:
    n = await uow.session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.partner_id == partner_id,
            AuditEntry.entity_type == "partner",
            AuditEntry.action.in_(STATUS_ACTIONS),
        )
    )
    return int(n or 0)


async def open_suspension(uow: UnitOfWork, partner_id: str) -> ArrearsSuspension | None:
    return await uow.session.scalar(
        select(ArrearsSuspension)
        .where(ArrearsSuspension.partner_id == partner_id, ArrearsSuspension.closed_at.is_(None))
        .with_for_update()
    )


def _close(uow: UnitOfWork, s: ArrearsSuspension, outcome: str, note: str) -> None:
    s.closed_at = uow.now
    s.outcome = outcome
    uow.audit(
        f"arrears_suspension.{outcome}",
        ("partner", s.partner_id),
        partner_id=s.partner_id,
        after={"suspension": s.id, "statement_id": s.statement_id, "shortfall": s.shortfall},
        note=note,
    )


async def _superseded(uow: UnitOfWork, s: ArrearsSuspension, partner: PartnerRef) -> bool:
    """Someone else changed the partner's status since this suspension (an operator lifted it, or
    suspended or exited the partner on its own account): it is no longer ours to lift."""
    if partner.status != PartnerStatus.SUSPENDED:
        return True
    return await _status_changes(uow, partner.id) != s.status_changes


async def _suspend(
    uow: UnitOfWork, partner: PartnerRef, due: StatementDue, shortfall: Decimal, required: Decimal
) -> bool:
    """R-BILL-09: suspend an active partner for arrears (audited, notified). A partner that is not
    active (already suspended by an operator, pending, exited) is left as it is: its arrears stay owed."""
    current = await open_suspension(uow, partner.id)
    if current is not None:
        if not await _superseded(uow, current, partner):
            return False  # suspended for arrears already
        _close(uow, current, "superseded", "the partner's status was changed by an operator")
    if partner.status != PartnerStatus.ACTIVE:
        uow.audit(
            "statement_due.not_suspended",
            ("statement", due.statement_id),
            partner_id=partner.id,
            after={"status": partner.status, "shortfall": shortfall},
            note=f"arrears of {shortfall}, partner already {partner.status.value}",
        )
        return False
    await partners.set_partner_status(
        uow, partner.id, PartnerStatus.SUSPENDED, f"{ARREARS_REASON}: {due.month} {due.statement_id}"
    )
    s = ArrearsSuspension(
        id=new_id("arr"),
        partner_id=partner.id,
        statement_id=due.statement_id,
        shortfall=shortfall,
        suspended_at=uow.now,
        outcome="",
        status_changes=await _status_changes(uow, partner.id),
    )
    uow.session.add(s)
    await uow.session.flush()
    subject, body = rules.suspension_notice(due.month, shortfall, required)
    await notify(
        uow,
        recipient=("partner", partner.id),
        kind="partner-suspended",
        subject=subject,
        body=body,
        dedup_key=f"arrears-suspended:{s.id}",
    )
    return True


async def maybe_resume(uow: UnitOfWork, partner_id: str) -> bool:
    """R-BILL-09: lift the partner's suspension for arrears once it has paid them and its deposit is
    back at the required level (audited, notified). Returns whether it resumed now."""
    if (
        await uow.session.scalar(
            select(ArrearsSuspension.id).where(
                ArrearsSuspension.partner_id == partner_id, ArrearsSuspension.closed_at.is_(None)
            )
        )
        is None
    ):
        return False
    partner = await partners.partner_ref(uow, partner_id, lock=True)  # the partner first, as collect does
    s = await open_suspension(uow, partner_id)
    if s is None:
        return False
    if await _superseded(uow, s, partner):
        _close(uow, s, "superseded", "the partner's status was changed by an operator")
        return False
    deposit = await deposit_balance(uow, partner_id)
    required = await required_deposit(uow, partner_id)
    owing = await arrears(uow, partner_id)
    if not rules.may_resume(owing, deposit, required):
        return False
    await partners.set_partner_status(uow, partner_id, PartnerStatus.ACTIVE, RESUMED_REASON)
    _close(uow, s, "resumed", f"arrears paid, deposit {deposit} >= required {required}")
    subject, body = rules.resumption_notice(deposit)
    await notify(
        uow,
        recipient=("partner", partner_id),
        kind="partner-resumed",
        subject=subject,
        body=body,
        dedup_key=f"arrears-resumed:{s.id}",
    )
    return True
