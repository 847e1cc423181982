"""Invariant 8 of the ledger audit (`openability.integrity`): postpaid collections against the journal
(R-BILL-07..10). Set-based reads; each violation one sentence.

  * a statement's due states the statement's total; its paid amount is its confirmed statement payments,
    its deducted amount its deposit deduction; together never above the total; its state follows from
    them, and a paid due's statement is settled;
  * each confirmed statement payment is one PAYMENT entry, Dr platform cash / Cr the partner's receivable
    of its amount, and every PAYMENT entry is such a payment's;
  * each deposit deduction is one DEPOSIT_DEDUCTION entry referring to its statement, Dr the partner's
    deposit / Cr its receivable of the deducted amount, and no deduction exists without its due;
  * per partner, DEPOSIT entries credit its deposit with exactly its confirmed deposit payments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openability.billing import collection_rules as rules
from openability.billing.models import Payment, Statement, StatementDue
from openability.billing.types import DEDUCTION_REF, DueState, PaymentPurpose, PaymentState, StatementState
from openability.ledger.checks import AccountState, lines_of_kinds, sum_units, units
from openability.ledger.types import PLATFORM, AccountType, EntryKind

ZERO = Decimal(0)


async def collection_violations(session: AsyncSession, accounts: Mapping[str, AccountState]) -> list[str]:
    out: list[str] = []
    dues = (
        await session.execute(
            select(StatementDue, Statement.total, Statement.state, Statement.partner_id).join(
                Statement, Statement.id == StatementDue.statement_id
            )
        )
    ).all()
    payments = (
        await session.execute(
            select(Payment.id, Payment.statement_id, Payment.partner_id, Payment.amount).where(
                Payment.purpose == PaymentPurpose.STATEMENT, Payment.state == PaymentState.CONFIRMED
            )
        )
    ).all()
    paid_by_statement: dict[str | None, Decimal] = defaultdict(lambda: ZERO)
    for _pid, sid, _partner, amount in payments:
        paid_by_statement[sid] += amount
    lines = await lines_of_kinds(session, (EntryKind.PAYMENT, EntryKind.DEPOSIT_DEDUCTION, EntryKind.DEPOSIT))
    # (kind, ref id, owner, account type) -> journal sign (debit > 0); entry ids per (kind, ref id)
    moved: dict[tuple[EntryKind, str, str, str], Decimal] = defaultdict(lambda: ZERO)
    entries: dict[tuple[EntryKind, str], set[str]] = defaultdict(set)
    deposit_in: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for ln in lines:
        acc = accounts.get(ln.account_id)
        if acc is None:
            continue
        if ln.kind == EntryKind.DEPOSIT:
            if acc.type == AccountType.DEPOSIT:
                deposit_in[acc.owner_id] -= ln.amount
            continue
        if ln.kind == EntryKind.DEPOSIT_DEDUCTION and ln.ref_type != DEDUCTION_REF:
            out.append(
                f"deposit deduction entry {ln.entry_id} refers to {ln.ref_type or 'nothing'}, not a statement"
            )
            continue
        entries[(ln.kind, ln.ref_id)].add(ln.entry_id)
        moved[(ln.kind, ln.ref_id, acc.owner_id, acc.type.value)] += ln.amount

    expected: dict[tuple[EntryKind, str, str, str], Decimal] = defaultdict(lambda: ZERO)
    cash = (PLATFORM, AccountType.CASH.value)
    for pay_id, _sid, partner, amount in payments:
        expected[(EntryKind.PAYMENT, pay_id, *cash)] += amount
        expected[(EntryKind.PAYMENT, pay_id, partner, AccountType.RECEIVABLE.value)] -= amount
        if len(entries.get((EntryKind.PAYMENT, pay_id), set())) != 1:
            out.append(
                f"statement payment {pay_id}: {len(entries.get((EntryKind.PAYMENT, pay_id), set()))} "
                "payment entries, expected one"
            )
    known_payments = {p[0] for p in payments}
    known_dues: set[str] = set()
    for due, total, st_state, partner in dues:
        sid = due.statement_id
        known_dues.add(sid)
        if due.partner_id != partner:
            out.append(f"due of statement {sid}: partner {due.partner_id}, but the statement's is {partner}")
        if due.amount != total:
            out.append(f"due of statement {sid}: amount {due.amount} but the statement total is {total}")
        if due.paid != paid_by_statement.get(sid, ZERO):
            out.append(
                f"due of statement {sid}: paid {due.paid} but its confirmed payments total "
                f"{paid_by_statement.get(sid, ZERO)}"
            )
        if due.amount > 0 and due.paid + due.deducted > due.amount:
            out.append(
                f"due of statement {sid}: paid {due.paid} + deducted {due.deducted} exceed {due.amount}"
            )
        state = rules.due_state(due.amount, due.paid, due.deducted, due.collected_at is not None)
        if due.state != state:
            out.append(
                f"due of statement {sid}: state {due.state.value}, but its figures make it {state.value}"
            )
        if (due.state == DueState.PAID) != (st_state == StatementState.SETTLED):
            out.append(f"due of statement {sid} is {due.state.value} but the statement is {st_state.value}")
        if due.deducted:
            expected[(EntryKind.DEPOSIT_DEDUCTION, sid, due.partner_id, AccountType.DEPOSIT.value)] += (
                due.deducted
            )
            expected[(EntryKind.DEPOSIT_DEDUCTION, sid, due.partner_id, AccountType.RECEIVABLE.value)] -= (
                due.deducted
            )
        ids = entries.get((EntryKind.DEPOSIT_DEDUCTION, sid), set())
        if len(ids) > 1 or (ids and due.deduction_entry_id not in ids) or (due.deducted and not ids):
            out.append(
                f"due of statement {sid}: deduction entry {due.deduction_entry_id}, journal has {sorted(ids)}"
            )
    for kind, ref in sorted(entries):
        if kind == EntryKind.PAYMENT and ref not in known_payments:
            out.append(
                f"payment entries {sorted(entries[(kind, ref)])} refer to {ref}, no confirmed statement payment"
            )
        if kind == EntryKind.DEPOSIT_DEDUCTION and ref not in known_dues:
            out.append(
                f"deposit deduction entries {sorted(entries[(kind, ref)])} refer to statement {ref}, which has no due"
            )
    for key in sorted(set(moved) | set(expected)):
        if moved.get(key, ZERO) != expected.get(key, ZERO):
            kind, ref, owner, acc_type = key
            out.append(
                f"{kind.value} entry of {ref} moves {moved.get(key, ZERO)} on {acc_type} of {owner}, "
                f"expected {expected.get(key, ZERO)}"
            )
    deposits: dict[str, object] = dict(
        (
            await session.execute(
                select(Payment.partner_id, sum_units(Payment.amount))
                .where(Payment.purpose == PaymentPurpose.DEPOSIT, Payment.state == PaymentState.CONFIRMED)
                .group_by(Payment.partner_id)
            )
        ).all()
    )
    for pid in sorted(set(deposits) | set(deposit_in)):
        paid = units(deposits.get(pid))
        if deposit_in.get(pid, ZERO) != paid:
            out.append(
                f"partner {pid}: DEPOSIT entries credit its deposit {deposit_in.get(pid, ZERO)} but its "
                f"confirmed deposit payments total {paid}"
            )
    return out
