"""A partner's reserved money per worker slot (ledger/types.py RESERVED_SLOTS; issue 9: with two gateway
workers, no lock waits on one prepaid:reserved row). Two workers' grants for one partner sit on different
reserved accounts, their CDR batches and releases move only their own slot, every movement is one
balanced journal entry (R-BILL-10), the partner's reserved balance is the sum of its slots and the audit
holds per slot (R-CHARGE-02: the balance never goes below zero, each deduction one CDR)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.charging.grants import GrantManager
from openability.charging.models import Grant
from openability.charging.service import ChargingEngine, Subject
from openability.charging.types import GrantState
from openability.integrity import run_audit
from openability.ledger import service as ledger
from openability.ledger.models import Account, JournalEntry, JournalLine
from openability.ledger.types import AccountType, EntryKind, pick_reserved_slot
from support_funded import SUBJECT_PRICE, charge_call, flat_subject

PRICE = SUBJECT_PRICE


def subject(f: Any) -> Subject:
    return flat_subject(f)  # tests/support_funded.py: SUBJECT_PRICE per segment


def test_a_new_grant_takes_the_lowest_slot_no_other_worker_uses() -> None:
    assert pick_reserved_slot([]) == 0
    assert pick_reserved_slot([0]) == 1
    assert pick_reserved_slot([0, 2]) == 1
    assert pick_reserved_slot([1, 0, 1]) == 2
    # more workers than slots: the lowest of the least used
    assert pick_reserved_slot([0, 1, 2], slots=3) == 0
    assert pick_reserved_slot([0, 0, 1, 2], slots=3) == 1


async def _slot_accounts(container: Any, partner_id: str) -> dict[int, tuple[str, Decimal]]:
    async with container.uow() as uow:
        rows = (
            await uow.session.execute(
                select(Account.slot, Account.id, Account.balance).where(
                    Account.owner_id == partner_id, Account.type == AccountType.PREPAID_RESERVED
                )
            )
        ).all()
    return {slot: (acc_id, balance) for slot, acc_id, balance in rows}


async def test_r_charge_02_two_workers_grants_and_cdr_batches_use_different_reserved_rows(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    workers = [ChargingEngine(container, worker_id=f"host:{i}:w") for i in range(2)]
    for w in workers:
        await w.start()
    subj = subject(funded)
    try:

        async def call(w: ChargingEngine, i: int) -> None:
            await charge_call(w, subj, i)

        await asyncio.gather(*(call(workers[i % 2], i) for i in range(30)))
        async with container.uow() as uow:
            grants = list((await uow.session.scalars(select(Grant).order_by(Grant.worker_id))).all())
        assert [g.worker_id for g in grants] == ["host:0:w", "host:1:w"]
        assert all(g.state == GrantState.ACTIVE for g in grants)
        assert sorted(g.slot for g in grants) == [0, 1]  # one slot each
        slots = await _slot_accounts(container, funded.partner_id)
        assert set(slots) == {0, 1}  # slot 1's account created on first use
        for g in grants:
            # each slot holds exactly its grant's open money (15 calls consumed from each grant)
            assert g.consumed == 15 * PRICE and g.granted > g.consumed
            assert slots[g.slot][1] == g.granted - g.consumed - g.released
        # every CHARGE line on a reserved account is on the slot of the worker whose CDRs it books
        async with container.uow() as uow:
            charged = (
                await uow.session.execute(
                    select(JournalLine.account_id, JournalLine.amount)
                    .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                    .where(
                        JournalEntry.kind == EntryKind.CHARGE,
                        JournalLine.account_id.in_([a for a, _ in slots.values()]),
                    )
                )
            ).all()
        by_account: dict[str, Decimal] = {}
        for acc_id, amount in charged:
            by_account[acc_id] = by_account.get(acc_id, Decimal(0)) + amount
        assert by_account == {slots[0][0]: 15 * PRICE, slots[1][0]: 15 * PRICE}  # debits: reserved -> revenue
        # the partner's reserved balance is the sum of its slots, wherever it is read
        b = await funded.balances()
        assert b[AccountType.PREPAID_RESERVED] == slots[0][1] + slots[1][1]
        assert (
            b[AccountType.PREPAID_AVAILABLE] + b[AccountType.PREPAID_RESERVED]
            == Decimal("10.0000") - 30 * PRICE
        )
        async with container.uow() as uow:
            totals = await ledger.totals_by_type(uow.session, [AccountType.PREPAID_RESERVED])
            by_owner = await ledger.balances_of_type(uow.session, AccountType.PREPAID_RESERVED)
            held = dict(await ledger.holdings(uow.session, [AccountType.PREPAID_RESERVED]))
        assert totals[AccountType.PREPAID_RESERVED] == b[AccountType.PREPAID_RESERVED]
        assert by_owner == {funded.partner_id: b[AccountType.PREPAID_RESERVED]}
        assert held[funded.partner_id][AccountType.PREPAID_RESERVED] == b[AccountType.PREPAID_RESERVED]
        await assert_ledger_clean()
    finally:
        for w in workers:
            await w.stop()
    # released at stop: each grant's open money went back from its own slot
    slots = await _slot_accounts(container, funded.partner_id)
    assert {s: bal for s, (_, bal) in slots.items()} == {0: 0, 1: 0}
    b = await funded.balances()
    assert b[AccountType.PREPAID_RESERVED] == 0
    assert b[AccountType.PREPAID_AVAILABLE] == Decimal("10.0000") - 30 * PRICE
    await assert_ledger_clean()


async def test_r_charge_02_a_worker_keeps_its_slot_and_a_freed_slot_is_taken_again(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    a, b, c = (GrantManager(container, worker_id=f"w{i}") for i in range(3))
    ra = await a.reserve(funded.partner_id, PRICE)
    rb = await b.reserve(funded.partner_id, PRICE)
    assert (ra.slot, rb.slot) == (0, 1)
    a.cancel(ra)
    assert await a.release_idle(all_grants=True) == 1  # slot 0 is free again
    rc = await c.reserve(funded.partner_id, PRICE)
    assert rc.slot == 0
    ra2 = await a.reserve(funded.partner_id, PRICE)
    assert ra2.slot == 2  # 0 and 1 are held by c and b now
    for gm, r in ((b, rb), (c, rc), (a, ra2)):
        gm.cancel(r)
        await gm.release_idle(all_grants=True)
    bal = await funded.balances()
    assert bal[AccountType.PREPAID_RESERVED] == 0 and bal[AccountType.PREPAID_AVAILABLE] == Decimal("10.0000")
    await assert_ledger_clean()


async def test_r_bill_10_the_audit_checks_each_reserved_slot_against_its_grants(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    a, b = GrantManager(container, worker_id="w0"), GrantManager(container, worker_id="w1")
    await a.reserve(funded.partner_id, PRICE)
    await b.reserve(funded.partner_id, PRICE)
    await assert_ledger_clean()
    # A balanced entry moving money from slot 1 to slot 0: the partner's sum still equals its open
    # grants, but each slot no longer equals its own grant's open amount.
    async with container.uow() as uow:
        s = uow.session
        accs = {
            acc.slot: acc
            for acc in (
                await s.scalars(
                    select(Account).where(
                        Account.owner_id == funded.partner_id, Account.type == AccountType.PREPAID_RESERVED
                    )
                )
            ).all()
        }
        await ledger.post(
            s,
            kind=EntryKind.ADJUSTMENT,
            legs=[ledger.debit(accs[1], PRICE), ledger.credit(accs[0], PRICE)],
            now=uow.now,
            memo="test: money on the wrong slot",
        )
    async with container.uow() as uow:
        violations = await run_audit(uow.session)
    slot_lines = [v for v in violations if "slot" in v]
    assert len(slot_lines) == 2, violations
    assert any("slot 0" in v for v in slot_lines) and any("slot 1" in v for v in slot_lines)


async def test_r_charge_02_concurrent_first_grants_of_three_workers_take_three_slots(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    workers = [GrantManager(container, worker_id=f"w{i}") for i in range(3)]
    got = await asyncio.gather(*(workers[i % 3].reserve(funded.partner_id, PRICE) for i in range(60)))
    assert len(got) == 60
    async with container.uow() as uow:
        rows = (await uow.session.execute(select(Grant.worker_id, Grant.slot))).all()
    assert sorted(w for w, _ in rows) == ["w0", "w1", "w2"]  # one grant per worker
    assert sorted(slot for _, slot in rows) == [0, 1, 2]  # each on its own reserved slot
    bal = await funded.balances()
    assert bal[AccountType.PREPAID_AVAILABLE] >= 0
    assert bal[AccountType.PREPAID_AVAILABLE] + bal[AccountType.PREPAID_RESERVED] == Decimal("10.0000")
    await assert_ledger_clean()
