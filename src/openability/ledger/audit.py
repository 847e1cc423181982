"""Ledger invariants (R-BILL-10, DESIGN.md "Money: double-entry ledger"). `openability audit` and the test
suite (after every money test) run them; each violation is one readable sentence.

  1. every journal entry balances (its lines sum to zero);
  2. every account's balance equals its normal side times the sum of its lines;
  3. per partner, prepaid available + reserved == confirmed top-up payments - charged prepaid CDRs
     - refunds (+ any adjustments/reversals that touched prepaid money), cross-checked against the
     payments table and the usage records;
  4. every CDR's journal entry exists and is a CHARGE entry; per CHARGE entry the CDR amounts equal its
     revenue credit and each partner's debit (so each CDR is in exactly one entry, with its money);
  5. per partner, prepaid:reserved == the open amount of its active grants (granted - consumed -
     released); closed grants are fully released; each grant's consumption equals its CDRs; the GRANT and
     GRANT_RELEASE entries equal the grants' granted and released totals;
  6. no prepaid account (available or reserved) is negative.

All checks are set-based aggregate queries, so the audit's cost grows with accounts and entries, not
with round trips.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from openability.billing.models import Payment, PaymentPurpose, PaymentState
from openability.charging.models import Grant, GrantState, UsageRecord
from openability.kernel.money import from_units
from openability.ledger.models import (
    NORMAL_SIDE,
    PLATFORM,
    Account,
    AccountType,
    EntryKind,
    JournalEntry,
    JournalLine,
)

ZERO = Decimal(0)
PREPAID_TYPES = (AccountType.PREPAID_AVAILABLE, AccountType.PREPAID_RESERVED)


def _sum(col: Any) -> Any:
    """SUM of a Money column as raw integer units (exact on every backend; no TypeDecorator involved)."""
    return type_coerce(func.sum(col), BigInteger)


def _units(v: Any) -> Decimal:
    return ZERO if v is None else from_units(int(v))


async def run_audit(session: AsyncSession) -> list[str]:
    out: list[str] = []
    accounts = {a.id: a for a in (await session.scalars(select(Account))).all()}
    by_key = {(a.owner_id, a.type): a for a in accounts.values()}

    # 1. balanced entries
    unbalanced = (
        await session.execute(
            select(JournalLine.entry_id, _sum(JournalLine.amount))
            .group_by(JournalLine.entry_id)
            .having(_sum(JournalLine.amount) != 0)
        )
    ).all()
    for entry_id, total in unbalanced:
        out.append(f"journal entry {entry_id} does not balance: its lines sum to {_units(total)}")

    # 2. balances == lines
    line_sums = {
        acc_id: _units(total)
        for acc_id, total in (
            await session.execute(
                select(JournalLine.account_id, _sum(JournalLine.amount)).group_by(JournalLine.account_id)
            )
        ).all()
    }
    for acc in accounts.values():
        expected = NORMAL_SIDE[acc.type] * line_sums.get(acc.id, ZERO)
        if acc.balance != expected:
            out.append(
                f"account {acc.type.value} of {acc.owner_id} ({acc.id}) has balance {acc.balance} "
                f"but its journal lines give {expected}"
            )
    for acc_id in line_sums:
        if acc_id not in accounts:
            out.append(f"journal lines post to account {acc_id}, which does not exist")

    # 6. no negative prepaid money
    for acc in accounts.values():
        if acc.type in PREPAID_TYPES and acc.balance < 0:
            out.append(f"account {acc.type.value} of {acc.owner_id} is negative: {acc.balance}")

    # Per partner, per entry kind: the net prepaid flow (in the accounts' normal side: + means more money).
    flows: dict[str, dict[EntryKind, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    rows = (
        await session.execute(
            select(Account.owner_id, JournalEntry.kind, _sum(JournalLine.amount))
            .join(JournalLine, JournalLine.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(Account.type.in_(PREPAID_TYPES))
            .group_by(Account.owner_id, JournalEntry.kind)
        )
    ).all()
    for owner, kind, total in rows:
        flows[owner][kind] += -_units(total)  # prepaid accounts are credit-normal
    reserved_by_kind: dict[str, dict[EntryKind, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    rows = (
        await session.execute(
            select(Account.owner_id, JournalEntry.kind, _sum(JournalLine.amount))
            .join(JournalLine, JournalLine.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(Account.type == AccountType.PREPAID_RESERVED)
            .group_by(Account.owner_id, JournalEntry.kind)
        )
    ).all()
    for owner, kind, total in rows:
        reserved_by_kind[owner][kind] += -_units(total)

    topups = {
        pid: _units(total)
        for pid, total in (
            await session.execute(
                select(Payment.partner_id, _sum(Payment.amount))
                .where(Payment.state == PaymentState.CONFIRMED, Payment.purpose == PaymentPurpose.TOP_UP)
                .group_by(Payment.partner_id)
            )
        ).all()
    }
    prepaid_cdrs = {
        pid: _units(total)
        for pid, total in (
            await session.execute(
                select(UsageRecord.partner_id, _sum(UsageRecord.amount))
                .where(UsageRecord.billing_mode == "prepaid")
                .group_by(UsageRecord.partner_id)
            )
        ).all()
    }

    # 3. prepaid money == payments - CDRs - refunds (+ other corrections)
    partners = {o for (o, t) in by_key if o != PLATFORM and t in PREPAID_TYPES} | set(flows) | set(topups)
    for pid in sorted(partners):
        f = flows.get(pid, {})
        avail = by_key.get((pid, AccountType.PREPAID_AVAILABLE))
        reserved = by_key.get((pid, AccountType.PREPAID_RESERVED))
        held = (avail.balance if avail else ZERO) + (reserved.balance if reserved else ZERO)
        paid = topups.get(pid, ZERO)
        charged = prepaid_cdrs.get(pid, ZERO)
        refunds = -f.get(EntryKind.REFUND, ZERO)
        known = (
            EntryKind.TOP_UP,
            EntryKind.CHARGE,
            EntryKind.REFUND,
            EntryKind.GRANT,
            EntryKind.GRANT_RELEASE,
        )
        other = sum((v for k, v in f.items() if k not in known), ZERO)
        expected = paid - charged - refunds + other
        if held != expected:
            out.append(
                f"partner {pid}: prepaid available + reserved is {held}, but confirmed top-ups {paid} - "
                f"prepaid CDRs {charged} - refunds {refunds} + other corrections {other} = {expected}"
            )
        if f.get(EntryKind.TOP_UP, ZERO) != paid:
            out.append(
                f"partner {pid}: top-up journal entries credit {f.get(EntryKind.TOP_UP, ZERO)} "
                f"but confirmed top-up payments total {paid}"
            )
        if -f.get(EntryKind.CHARGE, ZERO) != charged:
            out.append(
                f"partner {pid}: CHARGE entries take {-f.get(EntryKind.CHARGE, ZERO)} of prepaid money "
                f"but its prepaid CDRs total {charged}"
            )
        moved = f.get(EntryKind.GRANT, ZERO) + f.get(EntryKind.GRANT_RELEASE, ZERO)
        if moved != 0:
            out.append(
                f"partner {pid}: grant entries change its prepaid total by {moved} (they must only move money)"
            )

    # 4. CDRs <-> CHARGE entries
    entry_kinds = dict((await session.execute(select(JournalEntry.id, JournalEntry.kind))).all())
    cdr_by_entry = (
        await session.execute(
            select(
                UsageRecord.journal_entry_id,
                UsageRecord.partner_id,
                UsageRecord.billing_mode,
                _sum(UsageRecord.amount),
                func.count(),
            ).group_by(UsageRecord.journal_entry_id, UsageRecord.partner_id, UsageRecord.billing_mode)
        )
    ).all()
    cdr_total: dict[str, Decimal] = defaultdict(lambda: ZERO)
    cdr_party: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for entry_id, pid, mode, total, n in cdr_by_entry:
        kind = entry_kinds.get(entry_id)
        if kind is None:
            out.append(f"{n} CDR(s) of partner {pid} point to journal entry {entry_id}, which does not exist")
            continue
        if kind != EntryKind.CHARGE:
            out.append(
                f"{n} CDR(s) of partner {pid} point to journal entry {entry_id} of kind {kind.value}, not charge"
            )
        cdr_total[entry_id] += _units(total)
        cdr_party[(entry_id, f"{pid}:{mode}")] += _units(total)
    revenue = by_key.get((PLATFORM, AccountType.REVENUE))
    charge_lines = (
        await session.execute(
            select(JournalLine.entry_id, JournalLine.account_id, _sum(JournalLine.amount))
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalEntry.kind == EntryKind.CHARGE)
            .group_by(JournalLine.entry_id, JournalLine.account_id)
        )
    ).all()
    charge_revenue: dict[str, Decimal] = defaultdict(lambda: ZERO)
    charge_debits: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for entry_id, acc_id, total in charge_lines:
        line_acc = accounts.get(acc_id)
        if line_acc is None:
            continue
        amount = _units(total)
        if revenue is not None and acc_id == revenue.id:
            charge_revenue[entry_id] += -amount
        elif line_acc.type == AccountType.RECEIVABLE:  # debits are positive: the money the CDRs took
            charge_debits[(entry_id, f"{line_acc.owner_id}:postpaid")] += amount
        elif line_acc.type in PREPAID_TYPES:
            charge_debits[(entry_id, f"{line_acc.owner_id}:prepaid")] += amount
    charge_entries = {e for e, k in entry_kinds.items() if k == EntryKind.CHARGE}
    for entry_id in sorted(charge_entries | set(cdr_total)):
        if entry_kinds.get(entry_id) != EntryKind.CHARGE:
            continue
        if cdr_total.get(entry_id, ZERO) != charge_revenue.get(entry_id, ZERO):
            out.append(
                f"charge entry {entry_id} credits revenue {charge_revenue.get(entry_id, ZERO)} "
                f"but its CDRs total {cdr_total.get(entry_id, ZERO)}"
            )
    for key in sorted(set(cdr_party) | set(charge_debits)):
        if cdr_party.get(key, ZERO) != charge_debits.get(key, ZERO):
            entry_id, party = key
            out.append(
                f"charge entry {entry_id} debits {party} {charge_debits.get(key, ZERO)} "
                f"but that party's CDRs in it total {cdr_party.get(key, ZERO)}"
            )

    # 5. grants <-> reserved money
    grants = (await session.scalars(select(Grant))).all()
    open_by_partner: dict[str, Decimal] = defaultdict(lambda: ZERO)
    granted_by_partner: dict[str, Decimal] = defaultdict(lambda: ZERO)
    released_by_partner: dict[str, Decimal] = defaultdict(lambda: ZERO)
    consumed_by_grant = {
        gid: _units(total)
        for gid, total in (
            await session.execute(
                select(UsageRecord.grant_id, _sum(UsageRecord.amount))
                .where(UsageRecord.grant_id.is_not(None))
                .group_by(UsageRecord.grant_id)
            )
        ).all()
    }
    for g in grants:
        open_amount = g.granted - g.consumed - g.released
        granted_by_partner[g.partner_id] += g.granted
        released_by_partner[g.partner_id] += g.released
        if open_amount < 0:
            out.append(
                f"grant {g.id} of {g.partner_id} is overdrawn: granted {g.granted}, consumed {g.consumed}, released {g.released}"
            )
        if g.state == GrantState.ACTIVE:
            open_by_partner[g.partner_id] += open_amount
        elif open_amount != 0:
            out.append(f"grant {g.id} of {g.partner_id} is closed but {open_amount} of it was never released")
        if consumed_by_grant.get(g.id, ZERO) != g.consumed:
            out.append(
                f"grant {g.id} records {g.consumed} consumed but its CDRs total {consumed_by_grant.get(g.id, ZERO)}"
            )
    for gid in set(consumed_by_grant) - {g.id for g in grants}:
        out.append(f"CDRs refer to grant {gid}, which does not exist")
    grant_partners = {o for (o, t) in by_key if t == AccountType.PREPAID_RESERVED} | set(open_by_partner)
    for pid in sorted(grant_partners):
        reserved = by_key.get((pid, AccountType.PREPAID_RESERVED))
        bal = reserved.balance if reserved else ZERO
        if bal != open_by_partner.get(pid, ZERO):
            out.append(
                f"partner {pid}: prepaid:reserved is {bal} but its active grants hold {open_by_partner.get(pid, ZERO)}"
            )
        rk = reserved_by_kind.get(pid, {})
        if rk.get(EntryKind.GRANT, ZERO) != granted_by_partner.get(pid, ZERO):
            out.append(
                f"partner {pid}: GRANT entries reserve {rk.get(EntryKind.GRANT, ZERO)} but its grants total {granted_by_partner.get(pid, ZERO)} granted"
            )
        if -rk.get(EntryKind.GRANT_RELEASE, ZERO) != released_by_partner.get(pid, ZERO):
            out.append(
                f"partner {pid}: GRANT_RELEASE entries return {-rk.get(EntryKind.GRANT_RELEASE, ZERO)} but its grants total {released_by_partner.get(pid, ZERO)} released"
            )
    return out
