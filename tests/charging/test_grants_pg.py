"""The grant refill's one-statement PostgreSQL path (charging/grants_pg.py) — R-CHARGE-01/02, R-BILL-10:
the amount it moves is `rules.grant_refill`'s, it refuses what the SQLAlchemy path refuses, it posts the
balanced GRANT entry, and concurrent refills never overdraw."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from openability.charging import grants_pg, rules
from openability.charging.grants import GrantManager
from openability.charging.models import Grant
from openability.kernel.errors import InsufficientBalance
from openability.kernel.ids import new_id
from openability.kernel.money import from_units, to_units
from openability.ledger.models import Account, JournalEntry, JournalLine
from openability.ledger.types import AccountType, EntryKind

PRICE = Decimal("0.0500")


class _Rollback(Exception):
    pass


@pytest.fixture
def backend() -> str:
    return "postgresql"  # the one-statement refill is PostgreSQL's


@pytest.mark.postgres_only
async def test_r_charge_02_refill_statement_moves_what_rules_grant_refill_computes(
    container: Any, build: Any
) -> None:
    """Over a grid of available balances, call amounts, remaining grant money and targets (whole
    calls, odd units, zero, not enough), the statement's amount equals `rules.grant_refill`'s."""
    f = await build(container, Decimal("10.0000"))
    gm = GrantManager(container, "w-grid")
    res = await gm.reserve(f.partner_id, PRICE)
    assert res.grant_id is not None
    now = container.clock.now()
    units = [
        Decimal(0),
        Decimal("0.0001"),
        Decimal("0.0499"),
        Decimal("0.0500"),
        Decimal("0.3001"),
        Decimal("7.7777"),
    ]
    needs = [Decimal(0), Decimal("0.0001"), Decimal("0.0500"), Decimal("0.0333")]
    targets = [Decimal("0.0001"), Decimal("1.0000"), Decimal("2.5003")]
    checked = 0
    async with container.engine.connect() as conn:
        apg: Any = (await conn.get_raw_connection()).driver_connection
        for avail, need, rem, target, kept in itertools.product(
            units, needs, units[:4], targets, (True, False)
        ):
            expected = rules.grant_refill(
                target=target, need=need, remaining=rem if kept else Decimal(0), available=avail
            )
            try:
                async with apg.transaction():
                    await apg.execute(
                        "UPDATE accounts SET balance = $1 WHERE owner_id = $2 AND type = $3",
                        to_units(avail),
                        f.partner_id,
                        AccountType.PREPAID_AVAILABLE.value,
                    )
                    row = await apg.fetchrow(
                        grants_pg.SQL,
                        f.partner_id,
                        res.grant_id if kept else None,
                        to_units(rem) if kept else 0,
                        to_units(need),
                        to_units(max(target, need)),
                        now,
                        now + timedelta(seconds=30),
                        new_id("gr"),
                        "w-grid",
                        new_id("je"),
                        "grid",
                        res.slot,
                    )
                    raise _Rollback
            except _Rollback:
                pass
            got = None if row["x"] is None else from_units(row["x"])
            assert got == expected, (avail, need, rem, target, kept)
            assert (row["kept"] == res.grant_id) is kept
            assert row["grants"] == (0 if got is None else 1)
            assert row["lines"] == (2 if got else 0)
            checked += 1
    assert checked == 6 * 4 * 4 * 3 * 2


@pytest.mark.postgres_only
async def test_r_bill_10_a_refill_posts_one_balanced_grant_entry_and_refuses_without_writing(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    f = await build(container, Decimal("0.3000"))
    gm = GrantManager(container, "w-one")
    res = await gm.reserve(f.partner_id, PRICE)
    b = await f.balances()
    # near depletion half of what is left (rules.grant_refill), as on the SQLAlchemy path
    assert b[AccountType.PREPAID_RESERVED] == Decimal("0.1500")
    assert b[AccountType.PREPAID_AVAILABLE] == Decimal("0.1500")
    async with container.uow() as uow:
        s = uow.session
        entries = (await s.scalars(select(JournalEntry).where(JournalEntry.kind == EntryKind.GRANT))).all()
        grant = await s.get(Grant, res.grant_id)
        assert grant is not None and grant.granted == Decimal("0.1500") and grant.worker_id == "w-one"
        ours = [e for e in entries if e.ref_id == res.grant_id]
        assert len(ours) == 1 and ours[0].ref_type == "grant"
        lines = (
            await s.execute(
                select(Account.type, JournalLine.amount)
                .join(Account, Account.id == JournalLine.account_id)
                .where(JournalLine.entry_id == ours[0].id)
            )
        ).all()
        assert sorted(lines) == sorted(
            [
                (AccountType.PREPAID_AVAILABLE, Decimal("0.1500")),
                (AccountType.PREPAID_RESERVED, Decimal("-0.1500")),
            ]
        )
    for _ in range(5):
        await gm.reserve(f.partner_id, PRICE)
    before = await f.balances()
    with pytest.raises(InsufficientBalance):
        await gm.reserve(f.partner_id, PRICE)
    assert await f.balances() == before
    # the refill extended the one grant: no second grant row
    async with container.uow() as uow:
        grants = (await uow.session.scalars(select(Grant).where(Grant.partner_id == f.partner_id))).all()
    assert [g.granted for g in grants] == [Decimal("0.3000")]
    await assert_ledger_clean()


@pytest.mark.postgres_only
async def test_r_charge_02_concurrent_one_statement_refills_never_overdraw(
    container: Any, build: Any, assert_ledger_clean: Any
) -> None:
    """Many workers refilling the same partner at once, each refill one statement: the partner's money
    is never taken twice and available never goes below zero."""
    f = await build(container, Decimal("2.0000"))
    workers = [GrantManager(container, worker_id=f"w{i}") for i in range(8)]

    async def one(gm: GrantManager) -> bool:
        try:
            await gm.reserve(f.partner_id, PRICE)
        except InsufficientBalance:
            return False
        return True

    results = await asyncio.gather(*(one(workers[i % 8]) for i in range(120)))
    assert 0 < sum(results) <= 40
    b = await f.balances()
    assert b[AccountType.PREPAID_AVAILABLE] >= 0
    assert b[AccountType.PREPAID_AVAILABLE] + b[AccountType.PREPAID_RESERVED] == Decimal("2.0000")
    held = sum((gm.held(f.partner_id)[1] for gm in workers), Decimal(0))
    assert held + PRICE * sum(results) == b[AccountType.PREPAID_RESERVED]
    await assert_ledger_clean()
