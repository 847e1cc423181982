"""Postpaid collections (R-BILL-07..10), the billing office's use cases: payment notices of statements,
a clerk recording funds that arrived, the collection run of the month (deposit deduction, suspension,
automatic resumption), the required deposit, and the clerk's board.

  * A postpaid statement is due once confirmed (billing/dues.py opens it): the partner (its admin or
    finance user) files a payment notice — a bank transfer's reference and amount — through
    `file_notice`; it is a payment of purpose `statement` (billing/service.py), pending until a billing
    clerk confirms the funds arrived: Dr platform cash / Cr the partner's receivable. Partial payments
    are allowed, over-payments refused (422 OVERPAYMENT); fully paid, the statement is settled.
  * `run_collections` (the `collections` job at 00:00 on the 27th, `collections-deferred` at 00:00 on
    the 1st): every due statement whose collection instant has passed is collected once (dues.collect).
  * A partner suspended for arrears is resumed as soon as its arrears are paid and its deposit is back
    at the required level (on the payment's confirmation, the required deposit's change, or the next
    collection run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from openability.billing import collection_rules as rules
from openability.billing import dues, service, statements
from openability.billing.models import ArrearsSuspension, Payment, RequiredDeposit, StatementDue
from openability.billing.types import DueState, PaymentMethod, PaymentPurpose, PaymentState
from openability.kernel import access
from openability.kernel.errors import RuleViolation
from openability.kernel.platform import Platform
from openability.kernel.uow import SYSTEM, Actor, UnitOfWork
from openability.partners import service as partners
from openability.partners.types import BillingMode, PartnerKind

COLLECTION_ROLES = ("admin", "billing_clerk")
ZERO = Decimal("0.0000")


# ---- payments of statements -------------------------------------------------------------------------


async def file_notice(
    uow: UnitOfWork, statement_id: str, *, transaction_id: str, amount: Decimal, bank_reference: str
) -> tuple[Payment, bool]:
    """R-BILL-07: a payment notice for the statement (its bank transfer's reference and amount), pending
    until a billing clerk confirms the funds. Filed before the end of the 26th, it defers collection to
    the 1st. Returns (payment, created); a retry with the same transaction id returns the first."""
    stmt = await statements.get_statement(uow, statement_id)
    return await service.create_payment(
        uow,
        stmt.partner_id,
        transaction_id,
        amount,
        PaymentMethod.BANK_TRANSFER,
        PaymentPurpose.STATEMENT,
        bank_reference,
        statement_id=stmt.id,
    )


async def record_payment(
    uow: UnitOfWork, statement_id: str, *, transaction_id: str, amount: Decimal, bank_reference: str
) -> Payment:
    """A billing clerk records a transfer of the statement that arrived (with or without the partner's
    notice) and confirms it at once."""
    access.require_staff(uow.actor, *COLLECTION_ROLES)
    payment, _ = await file_notice(
        uow, statement_id, transaction_id=transaction_id, amount=amount, bank_reference=bank_reference
    )
    return await service.confirm_payment(uow, payment.id)


# ---- the collection run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionRun:
    through: str
    opened: int  # statements found due without their due record (a catch-up)
    collected: list[dues.Collected]
    deferred: int  # due statements waiting for the 1st (a notice filed in time)
    resumed: int

    def summary(self) -> str:
        taken = sum((c.taken for c in self.collected), ZERO)
        short = [c for c in self.collected if c.shortfall > 0]
        return (
            f"{self.through} or earlier: {len(self.collected)} statement(s) collected, "
            f"¥{taken:.2f} taken from deposits, {len(short)} short "
            f"({sum(c.suspended for c in self.collected)} partner(s) suspended), "
            f"{self.deferred} deferred to the 1st, {self.resumed} resumed"
        )


async def run_collections(platform: Platform, through_month: str, *, actor: Actor = SYSTEM) -> CollectionRun:
    """Collect every due postpaid statement of `through_month` or earlier whose collection instant has
    passed (R-BILL-07..09), each in its own transaction and at most once; then resume the partners whose
    suspension for arrears has ended. Safe twice and from two schedulers at once: a statement is
    collected under its row lock, once (`collected_at`)."""
    through_month = statements.parse_month(through_month)
    async with platform.uow(actor) as uow:
        access.require_staff(uow.actor, *COLLECTION_ROLES)
        opened = await dues.ensure_dues(uow, through_month)
    async with platform.uow(actor) as uow:
        ids = (
            await uow.session.scalars(
                select(StatementDue.statement_id)
                .where(
                    StatementDue.collected_at.is_(None),
                    StatementDue.state != DueState.PAID,
                    StatementDue.month <= through_month,
                )
                .order_by(StatementDue.month, StatementDue.partner_id, StatementDue.statement_id)
            )
        ).all()
    collected: list[dues.Collected] = []
    for sid in ids:
        async with platform.uow(actor) as uow:
            res = await dues.collect(uow, sid)
        if res is not None:
            collected.append(res)
    resumed = 0
    async with platform.uow(actor) as uow:
        suspended = (
            await uow.session.scalars(
                select(ArrearsSuspension.partner_id).where(ArrearsSuspension.closed_at.is_(None))
            )
        ).all()
        deferred = await uow.session.scalar(
            select(func.count())
            .select_from(StatementDue)
            .where(
                StatementDue.deferred.is_(True),
                StatementDue.collected_at.is_(None),
                StatementDue.state != DueState.PAID,
                StatementDue.month <= through_month,
            )
        )
    for pid in sorted(set(suspended)):
        async with platform.uow(actor) as uow:
            resumed += await dues.maybe_resume(uow, pid)
    return CollectionRun(through_month, opened, collected, int(deferred or 0), resumed)


# ---- the required deposit ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DepositLevel:
    partner_id: str
    deposit: Decimal  # held now
    required: Decimal  # the contract's (the clerk's figure, else the first deposit paid)
    required_set: bool  # set by a clerk (else the default)
    arrears: Decimal  # unpaid on statements whose collection has run
    suspended_for_arrears: bool

    @property
    def shortfall(self) -> Decimal:
        return max(self.required - self.deposit, ZERO)


async def deposit_level(uow: UnitOfWork, partner_id: str) -> DepositLevel:
    access.check_partner_visible(uow.actor, partner_id)
    await partners.partner_ref(uow, partner_id)
    row = await uow.session.get(RequiredDeposit, partner_id)
    open_ = await uow.session.scalar(
        select(ArrearsSuspension.id).where(
            ArrearsSuspension.partner_id == partner_id, ArrearsSuspension.closed_at.is_(None)
        )
    )
    return DepositLevel(
        partner_id=partner_id,
        deposit=await dues.deposit_balance(uow, partner_id),
        required=await dues.required_deposit(uow, partner_id),
        required_set=row is not None,
        arrears=await dues.arrears(uow, partner_id),
        suspended_for_arrears=open_ is not None,
    )


async def set_required_deposit(uow: UnitOfWork, partner_id: str, amount: Decimal) -> DepositLevel:
    """The deposit a postpaid SI must hold (its contract's), set by a billing clerk; audited. Lowering it
    may resume a partner suspended for arrears."""
    access.require_staff(uow.actor, *COLLECTION_ROLES)
    amount = rules.check_required_deposit(amount)
    partner = await partners.partner_ref(uow, partner_id, lock=True)
    if partner.kind != PartnerKind.SI or partner.billing_mode != BillingMode.POSTPAID:
        raise RuleViolation("a required deposit is for postpaid SIs", code="NOT_POSTPAID")
    row = await uow.session.get(RequiredDeposit, partner_id)
    before = (
        {"amount": row.amount}
        if row is not None
        else {"amount": await dues.required_deposit(uow, partner_id)}
    )
    if row is None:
        uow.session.add(
            RequiredDeposit(partner_id=partner_id, amount=amount, set_at=uow.now, set_by=uow.actor.id)
        )
    else:
        row.amount, row.set_at, row.set_by = amount, uow.now, uow.actor.id
    await uow.session.flush()
    uow.audit(
        "required_deposit.set",
        ("partner", partner_id),
        partner_id=partner_id,
        before=before,
        after={"amount": amount},
    )
    await dues.maybe_resume(uow, partner_id)
    return await deposit_level(uow, partner_id)


# ---- the board --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueRow:
    statement_id: str
    partner_id: str
    month: str
    amount: Decimal
    paid: Decimal
    deducted: Decimal
    state: DueState
    due_at: datetime
    notice_by: datetime  # the end of the payment day (the 26th)
    collect_at: datetime  # when collection takes what is unpaid (the 27th, or the 1st after a notice)
    deferred: bool
    collected_at: datetime | None
    paid_at: datetime | None
    notices_pending: int  # payment notices waiting for a clerk

    @property
    def unpaid(self) -> Decimal:
        return rules.unpaid(self.amount, self.paid, self.deducted)


async def board(
    uow: UnitOfWork,
    *,
    state: DueState | None = None,
    month: str | None = None,
    partner_id: str | None = None,
    suspended: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[DueRow], int]:
    """Postpaid statements' collection, newest month first: a partner sees its own; billing staff every
    partner's, filtered by state, month, partner and whether the partner is suspended for arrears."""
    offset, limit = access.page(offset, limit)
    partner_id = access.scope_partner(uow.actor, partner_id)
    stmt = select(StatementDue)
    if state is not None:
        stmt = stmt.where(StatementDue.state == state)
    if month is not None:
        stmt = stmt.where(StatementDue.month == statements.parse_month(month))
    if partner_id is not None:
        stmt = stmt.where(StatementDue.partner_id == partner_id)
    if suspended is not None:
        held = select(ArrearsSuspension.partner_id).where(ArrearsSuspension.closed_at.is_(None))
        cond = StatementDue.partner_id.in_(held)
        stmt = stmt.where(cond if suspended else ~cond)
    total = await uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (
        await uow.session.scalars(
            stmt.order_by(StatementDue.month.desc(), StatementDue.partner_id, StatementDue.statement_id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    notices = await _notices(uow, [r.statement_id for r in rows])
    out = []
    for r in rows:
        first, pending = notices.get(r.statement_id, (None, 0))
        out.append(
            DueRow(
                statement_id=r.statement_id,
                partner_id=r.partner_id,
                month=r.month,
                amount=r.amount,
                paid=r.paid,
                deducted=r.deducted,
                state=r.state,
                due_at=r.due_at,
                notice_by=r.notice_by,
                collect_at=r.collected_at or rules.collection_at(r.notice_by, first),
                deferred=r.deferred or rules.notice_in_time(r.notice_by, first),
                collected_at=r.collected_at,
                paid_at=r.paid_at,
                notices_pending=pending,
            )
        )
    return out, int(total)


async def _notices(uow: UnitOfWork, statement_ids: Sequence[str]) -> dict[str, tuple[datetime | None, int]]:
    """Per statement: when its first (not rejected) notice was filed, and how many wait for a clerk."""
    if not statement_ids:
        return {}
    rows = (
        await uow.session.execute(
            select(Payment.statement_id, Payment.state, func.min(Payment.created_at), func.count())
            .where(Payment.statement_id.in_(list(statement_ids)), Payment.state != PaymentState.REJECTED)
            .group_by(Payment.statement_id, Payment.state)
        )
    ).all()
    out: dict[str, tuple[datetime | None, int]] = {}
    for sid, st, first, n in rows:
        if sid is None:
            continue
        prev_first, prev_n = out.get(sid, (None, 0))
        earliest = first if prev_first is None or (first is not None and first < prev_first) else prev_first
        out[sid] = (earliest, prev_n + (int(n) if st == PaymentState.PENDING else 0))
    return out


async def statement_payments(uow: UnitOfWork, statement_id: str) -> list[Payment]:
    """The statement's payment notices and payments, newest first (a partner: its own statements)."""
    stmt = await statements.get_statement(uow, statement_id)
    rows = (
        await uow.session.scalars(
            select(Payment)
            .where(Payment.statement_id == stmt.id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
        )
    ).all()
    return list(rows)


async def pending_notices(uow: UnitOfWork, statement_ids: Sequence[str]) -> dict[str, list[Payment]]:
    """The pending notices of the given statements (the clerk's board confirms them)."""
    access.require_staff(uow.actor)
    if not statement_ids:
        return {}
    rows = (
        await uow.session.scalars(
            select(Payment)
            .where(Payment.statement_id.in_(list(statement_ids)), Payment.state == PaymentState.PENDING)
            .order_by(Payment.created_at, Payment.id)
        )
    ).all()
    out: dict[str, list[Payment]] = {}
    for p in rows:
        assert p.statement_id is not None
        out.setdefault(p.statement_id, []).append(p)
    return out
