"""The ledger's own invariants and the facts other domains' invariants are checked against
(`openability.integrity` composes them). All set-based aggregate queries: the cost grows with accounts
and entries, not with round trips.

  1. every journal entry balances (its lines sum to zero);
  2. every account's balance equals its normal side times the sum of its lines;
  6. no prepaid account (available or reserved) is negative."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from openability.kernel.money import from_units
from openability.ledger.models import Account, JournalEntry, JournalLine
from openability.ledger.types import NORMAL_SIDE, AccountType, EntryKind

ZERO = Decimal(0)
PREPAID_TYPES = (AccountType.PREPAID_AVAILABLE, AccountType.PREPAID_RESERVED)


def sum_units(col: Any) -> Any:
    """SUM of a Money column as raw integer units (exact on every backend; no TypeDecorator involved)."""
    return type_coerce(func.sum(col), BigInteger)


def units(v: Any) -> Decimal:
    return ZERO if v is None else from_units(int(v))


@dataclass(frozen=True, slots=True)
class AccountState:
    id: str
    owner_id: str
    type: AccountType
    balance: Decimal
    slot: int = 0  # a prepaid:reserved account's worker slot (ledger/types.py RESERVED_SLOTS)


def _flows() -> defaultdict[str, defaultdict[EntryKind, Decimal]]:
    return defaultdict(lambda: defaultdict(lambda: ZERO))


@dataclass
class LedgerFacts:
    accounts: dict[str, AccountState]  # by id
    # by (owner, type); prepaid:reserved is the sum of the owner's slots (slot 0's id)
    by_key: dict[tuple[str, AccountType], AccountState]
    # each prepaid:reserved slot account, by (owner, slot)
    reserved_slots: dict[tuple[str, int], AccountState] = field(default_factory=dict)
    # Per partner, per entry kind: the net prepaid flow in the accounts' normal side (+ = more money).
    prepaid_flows: defaultdict[str, defaultdict[EntryKind, Decimal]] = field(default_factory=_flows)
    reserved_flows: defaultdict[str, defaultdict[EntryKind, Decimal]] = field(default_factory=_flows)
    entry_kinds: dict[str, EntryKind] = field(default_factory=dict)
    # CHARGE entries: (entry id, account id) -> sum of that account's lines in the entry (signed).
    charge_lines: dict[tuple[str, str], Decimal] = field(default_factory=dict)


async def ledger_facts(session: AsyncSession) -> LedgerFacts:
    rows = (
        await session.execute(
            select(Account.id, Account.owner_id, Account.type, Account.balance, Account.slot)
        )
    ).all()
    accounts = {r[0]: AccountState(r[0], r[1], r[2], r[3], r[4]) for r in rows}
    by_key: dict[tuple[str, AccountType], AccountState] = {}
    slots: dict[tuple[str, int], AccountState] = {}
    for a in sorted(accounts.values(), key=lambda a: a.slot):
        key = (a.owner_id, a.type)
        if a.type == AccountType.PREPAID_RESERVED:
            slots[(a.owner_id, a.slot)] = a
            held = by_key.get(key)
            if held is not None:  # the partner's reserved money: its slots summed
                a = AccountState(held.id, held.owner_id, held.type, held.balance + a.balance, held.slot)
        by_key[key] = a
    facts = LedgerFacts(accounts, by_key, slots)
    for reserved_only, target in ((False, facts.prepaid_flows), (True, facts.reserved_flows)):
        types = (AccountType.PREPAID_RESERVED,) if reserved_only else PREPAID_TYPES
        for owner, kind, total in (
            await session.execute(
                select(Account.owner_id, JournalEntry.kind, sum_units(JournalLine.amount))
                .join(JournalLine, JournalLine.account_id == Account.id)
                .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                .where(Account.type.in_(types))
                .group_by(Account.owner_id, JournalEntry.kind)
            )
        ).all():
            target[owner][kind] += -units(total)  # prepaid accounts are credit-normal
    facts.entry_kinds = dict((await session.execute(select(JournalEntry.id, JournalEntry.kind))).all())
    facts.charge_lines = {
        (entry_id, acc_id): units(total)
        for entry_id, acc_id, total in (
            await session.execute(
                select(JournalLine.entry_id, JournalLine.account_id, sum_units(JournalLine.amount))
                .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                .where(JournalEntry.kind == EntryKind.CHARGE)
                .group_by(JournalLine.entry_id, JournalLine.account_id)
            )
        ).all()
    }
    return facts


async def ledger_violations(session: AsyncSession, facts: LedgerFacts) -> list[str]:
    out: list[str] = []
    # 1. balanced entries
    unbalanced = (
        await session.execute(
            select(JournalLine.entry_id, sum_units(JournalLine.amount))
            .group_by(JournalLine.entry_id)
            .having(sum_units(JournalLine.amount) != 0)
        )
    ).all()
    for entry_id, total in unbalanced:
        out.append(f"journal entry {entry_id} does not balance: its lines sum to {units(total)}")

    # 2. balances == lines
    line_sums = {
        acc_id: units(total)
        for acc_id, total in (
            await session.execute(
                select(JournalLine.account_id, sum_units(JournalLine.amount)).group_by(JournalLine.account_id)
            )
        ).all()
    }
    for acc in facts.accounts.values():
        expected = NORMAL_SIDE[acc.type] * line_sums.get(acc.id, ZERO)
        if acc.balance != expected:
            out.append(
                f"account {acc.type.value} of {acc.owner_id} ({acc.id}) has balance {acc.balance} "
                f"but its journal lines give {expected}"
            )
    for acc_id in line_sums:
        if acc_id not in facts.accounts:
            out.append(f"journal lines post to account {acc_id}, which does not exist")

    # 6. no negative prepaid money
    for acc in facts.accounts.values():
        if acc.type in PREPAID_TYPES and acc.balance < 0:
            out.append(f"account {acc.type.value} of {acc.owner_id} is negative: {acc.balance}")
    return out


@dataclass(frozen=True, slots=True)
class RefLine:
    """The lines of one account in one entry with a given reference (e.g. a statement's true-up)."""

    entry_id: str
    kind: EntryKind
    ref_type: str
    ref_id: str
    account_id: str
    amount: Decimal  # signed as in the journal: debit > 0, credit < 0


async def lines_by_ref(session: AsyncSession, ref_types: tuple[str, ...]) -> list[RefLine]:
    """Every entry referring to one of `ref_types`, its lines summed per account."""
    rows = await session.execute(
        select(
            JournalEntry.id,
            JournalEntry.kind,
            JournalEntry.ref_type,
            JournalEntry.ref_id,
            JournalLine.account_id,
            sum_units(JournalLine.amount),
        )
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .where(JournalEntry.ref_type.in_(ref_types))
        .group_by(
            JournalEntry.id,
            JournalEntry.kind,
            JournalEntry.ref_type,
            JournalEntry.ref_id,
            JournalLine.account_id,
        )
    )
    return [RefLine(e, k, rt, rid, acc, units(t)) for e, k, rt, rid, acc, t in rows.all()]


async def lines_of_kinds(session: AsyncSession, kinds: tuple[EntryKind, ...]) -> list[RefLine]:
    """Every entry of one of `kinds`, its lines summed per account (ref type and id '' when none)."""
    rows = await session.execute(
        select(
            JournalEntry.id,
            JournalEntry.kind,
            JournalEntry.ref_type,
            JournalEntry.ref_id,
            JournalLine.account_id,
            sum_units(JournalLine.amount),
        )
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .where(JournalEntry.kind.in_(kinds))
        .group_by(
            JournalEntry.id,
            JournalEntry.kind,
            JournalEntry.ref_type,
            JournalEntry.ref_id,
            JournalLine.account_id,
        )
    )
    return [RefLine(e, k, rt or "", rid or "", acc, units(t)) for e, k, rt, rid, acc, t in rows.all()]
