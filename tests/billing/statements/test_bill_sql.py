"""The bill run's statements made by the database (billing/bill_sql.py, PostgreSQL) against the same
statements made in Python (`bill_partners`), on the same data: the exact re-rating of the month (R-CHARGE-06)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from test_bill_run import TIER_1, TIER_2, cdr

from openability.billing.models import Statement, StatementLine
from openability.charging.cdr_writer import CdrWriter
from openability.kernel.audit import AuditEntry

D = Decimal
MONTH = "2026-11"


class _Undo(Exception):
    """Raised at the end of a path's unit of work: its rows are rolled back once read."""


async def _made(uow: Any, partner_ids: list[str]) -> dict[str, Any]:
    """The chunk's statements as made, partner id -> what `bill_partners` promises (ids and the
    product's own code masked: each world has its own product)."""
    out: dict[str, Any] = {}
    stmts = (await uow.session.scalars(select(Statement).where(Statement.partner_id.in_(partner_ids)))).all()
    for s in stmts:
        lines = (
            await uow.session.scalars(
                select(StatementLine).where(StatementLine.statement_id == s.id).order_by(StatementLine.seq)
            )
        ).all()
        audits = (
            await uow.session.scalars(
                select(AuditEntry).where(
                    AuditEntry.entity_id == s.id, AuditEntry.action == "statement.created"
                )
            )
        ).all()
        out[s.partner_id] = (
            (s.month, s.state, s.billing_mode, s.calls, s.quantity, s.provisional, s.exact, s.adjustments),
            (s.rounding, s.total, s.true_up, s.undercharge, s.note, s.created_at, s.true_up_entry_id),
            [
                (
                    ln.seq,
                    ln.kind,
                    ln.product_id,
                    ln.price_plan_id,
                    ln.plan_version,
                    ln.band,
                    ln.scope,
                    ln.tier_from,
                    ln.tier_to,
                    ln.units,
                    ln.unit_price,
                    ln.amount,
                    ln.description.replace(ln.product_code, "<code>"),
                    ln.product_code != "",
                )
                for ln in lines
            ],
            [(a.at, a.actor_type, a.actor_id, a.partner_id, a.before, a.after, a.note) for a in audits],
        )
    return out


async def test_r_charge_06_statements_made_by_the_database_equal_those_made_in_python(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any, monkeypatch: Any
) -> None:
    """One chunk billed twice on the same data, rolled back in between (PostgreSQL; SQLite has the Python
    path only, and its figures are checked the same way): by the bill run's PostgreSQL
    path (the database makes what it can, `bill_partners` the rest) and by `bill_partners` alone. Every
    partner's statement, lines and audit row are equal, and the database made exactly the statements
    that move no money: a month crossing the 1000-unit tier (two usage lines), a month charged below
    the exact price (the undercharge noted, R-CHARGE-06); a month charged above it (a true-up entry)
    was left to Python (R-CHARGE-06: the exact price, never more)."""
    from openability.billing import bill_sql, statements
    from openability.catalog import service as catalog

    tiered, under, over = [
        await kit.make_world(container, balance=D("500.0000"), caps=("sms",)) for _ in range(3)
    ]
    for day, units in ((2, 600), (5, 500), (20, 3)):
        month.at(11, day, 10)
        await month.send(tiered, units)
    plan_of = {}
    async with container.uow() as uow:
        for w in (under, over):
            rating = await catalog.product_rating(uow, w.products["sms"])
            assert rating is not None
            plan_of[w.partner_id] = rating.plans[0].plan_id
    writer = CdrWriter(container)
    await writer.start()
    try:
        await writer.write(await cdr(under, plan_of[under.partner_id], 3, 10, D("0.3000")))  # exact 0.50
        await writer.write(await cdr(over, plan_of[over.partner_id], 4, 10, D("0.7000")))  # exact 0.50
    finally:
        await writer.stop()
    month.at(12, 1, 0, 0, 5)
    pids = sorted(w.partner_id for w in (tiered, under, over))

    in_db: set[str] = set()
    spy = bill_sql.bill_chunk

    async def seen(*args: Any) -> set[str]:
        found = await spy(*args)
        in_db.update(found)
        return found

    monkeypatch.setattr(bill_sql, "bill_chunk", seen)

    async with container.uow() as uow:
        on_pg = bill_sql.in_sql(uow)
        lists = await statements.month_price_lists(uow, MONTH, {}) if on_pg else None

    async def bill(in_sql: bool) -> tuple[int, dict[str, Any]]:
        made: dict[str, Any] = {}
        n = 0
        with pytest.raises(_Undo):
            async with container.uow() as uow:
                # the chunk first in its transaction (as in the bill run): rolled back with it
                n = await statements.bill_chunk_of(
                    uow, MONTH, pids, {}, set(), None, lists if in_sql else None
                )
                made = await _made(uow, pids)
                raise _Undo
        return n, made

    # the database's first: its rows are rolled back with the chunk's transaction (else Python's
    # statements of the same partners would be refused as duplicates)
    n_sql, by_sql = await bill(True) if on_pg else (0, {})
    assert in_db == ({tiered.partner_id, under.partner_id} if on_pg else set())
    n_py, by_py = await bill(False)
    assert n_py == 3
    if on_pg:
        assert n_sql == 3
        for pid in (tiered.partner_id, under.partner_id):
            assert by_sql[pid] == by_py[pid]
        # the true-up's entry id differs between the runs (a new entry each time); the rest is equal
        assert by_sql[over.partner_id][0] == by_py[over.partner_id][0]
        assert by_sql[over.partner_id][1][:-1] == by_py[over.partner_id][1][:-1]
        assert by_sql[over.partner_id][2:] == by_py[over.partner_id][2:]
        by_py = by_sql  # the figures below, as the database made them
    tiered_lines = by_py[tiered.partner_id][2]
    assert [(ln[7], ln[8], ln[9], ln[10]) for ln in tiered_lines[:2]] == [
        (0, 1000, 1000, TIER_1),
        (1000, None, 103, TIER_2),
    ]
    assert by_py[under.partner_id][1][3] == D("0.2000") and "not charged" in by_py[under.partner_id][1][4]
    assert by_py[over.partner_id][1][2] == D("0.2000")
    await assert_ledger_clean()
