"""The ledger audit (R-BILL-10, DESIGN.md "Money: double-entry ledger"), composed across domains: the
ledger checks its own invariants (ledger/checks.py) and this module holds the money against what the
other domains recorded, asking each for its facts. `openability audit` and the test suite (after every
money test) run it; each violation is one readable sentence.

  1, 2, 6. the ledger's own: balanced entries, balances == lines, no negative prepaid money;
  3. per partner, prepaid available + reserved == confirmed top-up payments - charged prepaid CDRs
     - refunds (+ any adjustments/reversals that touched prepaid money), cross-checked against the
     payments (billing) and the usage records (charging);
  4. every CDR's journal entry exists and is a CHARGE entry; per CHARGE entry the CDR amounts equal its
     revenue credit (the revenue account or a revenue shard) and each partner's debit (so each CDR is in exactly one entry, with its money);
  5. per partner, prepaid:reserved (the sum of its worker slots) == the open amount of its active
     grants (granted - consumed - released), and per slot account == the open amount of the active
     grants on that slot (ledger/types.py RESERVED_SLOTS); closed grants are fully released; each grant's consumption equals its CDRs; the GRANT and
     GRANT_RELEASE entries equal the grants' granted and released totals.
  7. statements (billing): each statement's total is the sum of its lines and a whole fen; its true-up
     (R-CHARGE-06) and carried adjustments (R-BILL-06) are each exactly one ADJUSTMENT entry that moves
     that amount between revenue and the partner (prepaid:available for a prepaid statement's credits,
     receivable otherwise), and no such entry exists without its statement figure. A held statement's
     credits (R-TIER-03) go to settlement:held instead, and its release entry (one, once the hold
     lifts) moves exactly them on to prepaid:available or receivable; each partner's settlement:held
     balance equals its held credits not yet released.
  8. collections (billing/collection_audit.py): each postpaid statement's due against its payments
     (PAYMENT entries: Dr cash / Cr receivable) and its deposit deduction (one DEPOSIT_DEDUCTION entry:
     Dr deposit / Cr receivable); DEPOSIT entries == confirmed deposit payments.
  9. rollups (charging/rollups.py): each monthly rollup row (usage_monthly, what the bill run reads)
     equals its key's daily rollup rows summed over the days, first day included, and no key is on one
     side only (R-CHARGE-06).
"""

from __future__ import annotations

import contextlib
import warnings
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy.exc import InvalidRequestError, SAWarning
from sqlalchemy.ext.asyncio import AsyncSession

from openability.billing.collection_audit import collection_violations
from openability.billing.facts import StatementMoney, confirmed_topups, held_by_partner, statement_money
from openability.billing.types import ADJUSTMENT_REF, HOLD_RELEASE_REF, TRUE_UP_REF
from openability.charging.facts import cdr_totals_by_entry, consumed_by_grant, grant_facts, prepaid_cdr_totals
from openability.charging.rollups import monthly_mismatches
from openability.charging.types import GrantState
from openability.kernel.money import round_fen
from openability.ledger.checks import (
    PREPAID_TYPES,
    AccountState,
    RefLine,
    ledger_facts,
    ledger_violations,
    lines_by_ref,
)
from openability.ledger.types import PLATFORM, AccountType, EntryKind

ZERO = Decimal(0)


async def run_audit(session: AsyncSession) -> list[str]:
    """Every invariant, read from one snapshot. On PostgreSQL the audit's transaction is REPEATABLE READ
    (when the audit is the first thing it does): at READ COMMITTED a grant released by a gateway worker
    between two of its queries would look like reserved money without a grant."""
    if session.get_bind().dialect.name == "postgresql":
        # ignored (the transaction left as it is) when it already has its connection: SQLAlchemy then
        # refuses or only warns, depending on how the connection was taken
        with contextlib.suppress(InvalidRequestError), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Connection is already established", SAWarning)
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    facts = await ledger_facts(session)
    out = await ledger_violations(session, facts)
    accounts, by_key = facts.accounts, facts.by_key
    flows, reserved_by_kind = facts.prepaid_flows, facts.reserved_flows
    topups = await confirmed_topups(session)
    prepaid_cdrs = await prepaid_cdr_totals(session)

    # 3. prepaid money == payments - CDRs - refunds (+ other corrections)
    partners = {o for (o, t) in by_key if o != PLATFORM and t in PREPAID_TYPES} | set(flows) | set(topups)
    for pid in sorted(partners):
        f: Mapping[EntryKind, Decimal] = flows.get(pid, {})
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
    entry_kinds = facts.entry_kinds
    cdr_total: dict[str, Decimal] = defaultdict(lambda: ZERO)
    cdr_party: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for t in await cdr_totals_by_entry(session):
        entry_id, pid, mode, total, n = t.entry_id, t.partner_id, t.billing_mode, t.amount, t.count
        kind = entry_kinds.get(entry_id)
        if kind is None:
            out.append(f"{n} CDR(s) of partner {pid} point to journal entry {entry_id}, which does not exist")
            continue
        if kind != EntryKind.CHARGE:
            out.append(
                f"{n} CDR(s) of partner {pid} point to journal entry {entry_id} of kind {kind.value}, not charge"
            )
        cdr_total[entry_id] += total
        cdr_party[(entry_id, f"{pid}:{mode}")] += total
    charge_revenue: dict[str, Decimal] = defaultdict(lambda: ZERO)
    charge_debits: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for (entry_id, acc_id), amount in facts.charge_lines.items():
        line_acc = accounts.get(acc_id)
        if line_acc is None:
            continue
        # the platform's revenue account or one of its shards (ledger/revenue.py)
        if line_acc.type == AccountType.REVENUE:
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
    grants = await grant_facts(session)
    open_by_partner: dict[str, Decimal] = defaultdict(lambda: ZERO)
    open_by_slot: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    granted_by_partner: dict[str, Decimal] = defaultdict(lambda: ZERO)
    released_by_partner: dict[str, Decimal] = defaultdict(lambda: ZERO)
    consumed = await consumed_by_grant(session)
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
            open_by_slot[(g.partner_id, g.slot)] += open_amount
        elif open_amount != 0:
            out.append(f"grant {g.id} of {g.partner_id} is closed but {open_amount} of it was never released")
        if consumed.get(g.id, ZERO) != g.consumed:
            out.append(
                f"grant {g.id} records {g.consumed} consumed but its CDRs total {consumed.get(g.id, ZERO)}"
            )
    for gid in set(consumed) - {g.id for g in grants}:
        out.append(f"CDRs refer to grant {gid}, which does not exist")
    slots = facts.reserved_slots
    for pid, slot in sorted(set(slots) | set(open_by_slot)):
        acc = slots.get((pid, slot))
        if acc is None:
            out.append(
                f"partner {pid}: active grants hold {open_by_slot[(pid, slot)]} on reserved slot {slot}, which has no account"
            )
        elif acc.balance != open_by_slot.get((pid, slot), ZERO):
            out.append(
                f"partner {pid}: prepaid:reserved slot {slot} is {acc.balance} but its active grants hold {open_by_slot.get((pid, slot), ZERO)}"
            )
    grant_partners = {o for (o, t) in by_key if t == AccountType.PREPAID_RESERVED} | set(open_by_partner)
    for pid in sorted(grant_partners):
        reserved = by_key.get((pid, AccountType.PREPAID_RESERVED))
        bal = reserved.balance if reserved else ZERO
        if bal != open_by_partner.get(pid, ZERO):
            out.append(
                f"partner {pid}: prepaid:reserved is {bal} but its active grants hold {open_by_partner.get(pid, ZERO)}"
            )
        rk: Mapping[EntryKind, Decimal] = reserved_by_kind.get(pid, {})
        if rk.get(EntryKind.GRANT, ZERO) != granted_by_partner.get(pid, ZERO):
            out.append(
                f"partner {pid}: GRANT entries reserve {rk.get(EntryKind.GRANT, ZERO)} but its grants total {granted_by_partner.get(pid, ZERO)} granted"
            )
        if -rk.get(EntryKind.GRANT_RELEASE, ZERO) != released_by_partner.get(pid, ZERO):
            out.append(
                f"partner {pid}: GRANT_RELEASE entries return {-rk.get(EntryKind.GRANT_RELEASE, ZERO)} but its grants total {released_by_partner.get(pid, ZERO)} released"
            )

    # 7. statements <-> their lines and their true-up and adjustment entries
    out += statement_violations(
        await statement_money(session),
        await lines_by_ref(session, (TRUE_UP_REF, ADJUSTMENT_REF, HOLD_RELEASE_REF)),
        accounts,
    )
    waiting = await held_by_partner(session)
    owners = {o for (o, t) in by_key if t == AccountType.SETTLEMENT_HELD} | set(waiting)
    for pid in sorted(owners):
        acc = by_key.get((pid, AccountType.SETTLEMENT_HELD))
        if (acc.balance if acc else ZERO) != waiting.get(pid, ZERO):
            out.append(
                f"partner {pid}: settlement:held is {acc.balance if acc else ZERO} but its unreleased held "
                f"credits total {waiting.get(pid, ZERO)}"
            )
    # 8. collections <-> their payments and deposit deductions
    out += await collection_violations(session, accounts)
    # 9. the monthly rollups the bill run reads == the daily rollups summed over the days (R-CHARGE-06)
    out += await monthly_mismatches(session)
    return out


def statement_violations(
    statements: list[StatementMoney], ref_lines: list[RefLine], accounts: Mapping[str, AccountState]
) -> list[str]:
    out: list[str] = []
    entries: dict[tuple[str, str], set[str]] = defaultdict(set)  # (ref type, statement) -> entry ids
    # What the entries move, in journal sign (debit > 0): (ref type, statement, owner, account type).
    moved: dict[tuple[str, str, str, str], Decimal] = defaultdict(lambda: ZERO)
    for ln in ref_lines:
        entries[(ln.ref_type, ln.ref_id)].add(ln.entry_id)
        if ln.kind != EntryKind.ADJUSTMENT:
            out.append(
                f"entry {ln.entry_id} ({ln.ref_type} of statement {ln.ref_id}) is {ln.kind.value}, not adjustment"
            )
        acc = accounts.get(ln.account_id)
        if acc is not None:
            moved[(ln.ref_type, ln.ref_id, acc.owner_id, acc.type.value)] += ln.amount
    # What the statements say they moved.
    expected: dict[tuple[str, str, str, str], Decimal] = defaultdict(lambda: ZERO)
    known = {s.id for s in statements}
    for s in statements:
        final = AccountType.PREPAID_AVAILABLE if s.billing_mode == "prepaid" else AccountType.RECEIVABLE
        credit_to = AccountType.SETTLEMENT_HELD if s.held is not None else final
        revenue = (PLATFORM, AccountType.REVENUE.value)
        if s.held is not None:
            if s.held != s.true_up + max(-s.adjustments, ZERO):
                out.append(
                    f"statement {s.id}: {s.held} held, but its credits are {s.true_up + max(-s.adjustments, ZERO)}"
                )
            if s.release_entry_id is not None:  # Dr settlement:held / Cr the partner's account
                expected[(HOLD_RELEASE_REF, s.id, s.partner_id, AccountType.SETTLEMENT_HELD.value)] += s.held
                expected[(HOLD_RELEASE_REF, s.id, s.partner_id, final.value)] -= s.held
        if s.true_up:  # Dr revenue / Cr the partner
            expected[(TRUE_UP_REF, s.id, *revenue)] += s.true_up
            expected[(TRUE_UP_REF, s.id, s.partner_id, credit_to.value)] -= s.true_up
        if s.adjustments < 0:  # in the partner's favour: like a true-up
            expected[(ADJUSTMENT_REF, s.id, *revenue)] -= s.adjustments
            expected[(ADJUSTMENT_REF, s.id, s.partner_id, credit_to.value)] += s.adjustments
        elif s.adjustments > 0:  # against it: Dr receivable / Cr revenue
            expected[(ADJUSTMENT_REF, s.id, s.partner_id, AccountType.RECEIVABLE.value)] += s.adjustments
            expected[(ADJUSTMENT_REF, s.id, *revenue)] -= s.adjustments
        if s.lines_total != s.total:
            out.append(f"statement {s.id}: total {s.total} but its lines sum to {s.lines_total}")
        if round_fen(s.total) != s.total:
            out.append(f"statement {s.id}: total {s.total} is not a whole fen")
        if s.carried_total != s.adjustments:
            out.append(
                f"statement {s.id}: adjustments {s.adjustments} but the carried adjustments applied to it "
                f"total {s.carried_total}"
            )
        for ref_type, entry_id in (
            (TRUE_UP_REF, s.true_up_entry_id),
            (ADJUSTMENT_REF, s.adjustment_entry_id),
            (HOLD_RELEASE_REF, s.release_entry_id),
        ):
            ids = entries.get((ref_type, s.id), set())
            if len(ids) > 1:
                out.append(f"statement {s.id}: {len(ids)} {ref_type} entries, expected one")
            if ids and entry_id not in ids:
                out.append(
                    f"statement {s.id}: records {ref_type} entry {entry_id}, but its entry is {sorted(ids)}"
                )
    for ref_type, sid in sorted(entries):
        if sid not in known:
            out.append(
                f"{ref_type} entries {sorted(entries[(ref_type, sid)])} refer to statement {sid}, which does not exist"
            )
    for key in sorted(set(moved) | set(expected)):
        if key[1] in known and moved.get(key, ZERO) != expected.get(key, ZERO):
            ref_type, sid, owner, acc_type = key
            out.append(
                f"statement {sid}: its {ref_type} entry moves {moved.get(key, ZERO)} on {acc_type} of {owner}, "
                f"but the statement says {expected.get(key, ZERO)}"
            )
    return out
