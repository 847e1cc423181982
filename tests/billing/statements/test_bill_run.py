"""The bill run over a month of real gateway usage (R-BILL-02, R-CHARGE-06): exact lines per product and
tier from the rollups, the true-up credited to a prepaid partner, idempotent by period."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.billing.models import BillRun, Statement
from openability.charging import rules as charging_rules
from openability.charging.cdr_writer import CdrWriter
from openability.charging.types import CdrRecord
from openability.gateway.runtime import GatewayRuntime
from openability.kernel.clock import business_date
from openability.kernel.ids import new_id
from openability.ledger.models import JournalEntry
from openability.ledger.types import AccountType

D = Decimal
# The gateway world's SMS list price: 0.05 a segment, 0.04 from the 1000th of the month on.
TIER_1, TIER_2 = D("0.0500"), D("0.0400")


async def counts(container: Any) -> tuple[int, int]:
    async with container.uow() as uow:
        s = await uow.session.scalar(select(func.count()).select_from(Statement))
        e = await uow.session.scalar(select(func.count()).select_from(JournalEntry))
    return int(s or 0), int(e or 0)


async def test_r_charge_06_month_of_two_workers_is_re_rated_exactly_and_the_difference_credited(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    """The issue's two-worker scenario through the gateway: worker B serves 1 unit, worker A 1000, B 1000
    more, over three days of November. Whatever real time charged, the statement states the exact price
    (1000 x 0.05 + 1001 x 0.04 = 90.04) and the prepaid partner gets back what it paid above it."""
    world = await kit.make_world(container, balance=D("500.0000"), caps=("sms",))
    worker_a = container.gateway
    worker_b = GatewayRuntime(container, "worker-b", connector_for=container.connectors.get)
    await worker_b.start()
    try:
        month.at(11, 2, 10)
        container.gateway = worker_b
        await month.send(world, 1)
        month.at(11, 5, 10)
        container.gateway = worker_a
        await month.send(world, 1000)
        month.at(11, 20, 10)
        container.gateway = worker_b
        await month.send(world, 1000)
    finally:
        container.gateway = worker_a
        await worker_b.stop()
    provisional = sum((c.amount for c in await world.cdrs()), D(0))
    before = await world.prepaid_total()

    month.at(12, 1, 0, 0, 30)
    result = await month.run("bill-run")
    assert result is not None and "2026-11: 1 statement(s) made" in result
    st = await month.statement_of(world)
    exact = 1000 * TIER_1 + 1001 * TIER_2
    assert st["month"] == "2026-11" and st["state"] == "draft"
    assert D(st["provisional"]) == provisional
    assert D(st["exact"]) == exact == D("90.0400")
    assert st["total"] == "90.04" and D(st["rounding"]) == 0
    usage = [
        (ln["tierFrom"], ln["tierTo"], ln["units"], ln["unitPrice"], ln["amount"]) for ln in st["lines"][:-1]
    ]
    assert usage == [(0, 1000, 1000, "0.0500", "50.0000"), (1000, None, 1001, "0.0400", "40.0400")]
    assert st["lines"][-1]["kind"] == "rounding"
    true_up = max(provisional - exact, D(0))
    assert D(st["trueUp"]) == true_up
    after = await world.prepaid_total()
    assert after - before == true_up
    # what the partner paid for the month in the end: never more than the exact price
    assert provisional - D(st["trueUp"]) <= exact
    await assert_ledger_clean()


async def cdr(
    world: Any,
    plan_id: str,
    day: int,
    quantity: int,
    amount: Decimal,
    mode: str = "prepaid",
    band: str = "list",
) -> CdrRecord:
    from datetime import datetime

    from openability.kernel.clock import SHANGHAI

    at = datetime(2026, 11, day, 12, tzinfo=SHANGHAI)
    return CdrRecord(
        new_id("cdr"),
        world.partner_id,
        world.products["sms"],
        "sms",
        "sendMessage",
        world.client_id,
        new_id("req"),
        "",
        quantity,
        "segment",
        amount,
        mode,
        plan_id,
        band,
        "national",
        "2026-11",
        None,
        at,
        business_date(at),
        ["+8613800138000"],
        {},
        [],
    )


async def test_r_charge_06_provisional_prices_above_exact_are_credited_back_in_full(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    """The issue's two-worker scenario priced as two per-worker month-to-date counters price it: B 1 unit
    from its count 0 (0.05), A 1000 from its count 0 (50.00), B 1000 from its count 1 (999 x 0.05 + 0.04
    = 49.99): 100.0400 charged against the exact 90.0400. The bill run credits 10.0000 back."""
    world = await kit.make_world(container, balance=D("500.0000"), caps=("sms",))
    async with container.uow() as uow:
        from openability.catalog import service as catalog

        rating = await catalog.product_rating(uow, world.products["sms"])
        assert rating is not None
        (plan,) = rating.plans
        tiers = plan.tiers[("national", "list")]
    b1 = charging_rules.graduated_amount(tiers, 0, 1)  # worker B: its own count 0
    a = charging_rules.graduated_amount(tiers, 0, 1000)  # worker A: its own count 0
    b2 = charging_rules.graduated_amount(tiers, 1, 1000)  # worker B: its own count 1
    assert b1 + a + b2 == D("100.0400")
    writer = CdrWriter(container)
    await writer.start()
    try:
        for day, q, amount in ((2, 1, b1), (5, 1000, a), (20, 1000, b2)):
            await writer.write(await cdr(world, plan.plan_id, day, q, amount))
    finally:
        await writer.stop()
    before = await world.prepaid_total()
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    st = await month.statement_of(world)
    assert (st["provisional"], st["exact"], st["trueUp"], st["total"]) == (
        "100.0400",
        "90.0400",
        "10.0000",
        "90.04",
    )
    after = await world.prepaid_total()
    assert after - before == D("10.0000")
    await assert_ledger_clean()


async def test_r_charge_06_provisional_below_exact_is_not_charged_afterwards(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    """Real time charged less than the exact price: nothing is taken afterwards; the statement notes it."""
    world = await kit.make_world(container, balance=D("500.0000"), caps=("sms",))
    async with container.uow() as uow:
        from openability.catalog import service as catalog

        rating = await catalog.product_rating(uow, world.products["sms"])
        assert rating is not None
        plan_id = rating.plans[0].plan_id
    writer = CdrWriter(container)
    await writer.start()
    try:
        await writer.write(await cdr(world, plan_id, 3, 10, D("0.3000")))  # exact: 10 x 0.05 = 0.50
    finally:
        await writer.stop()
    before = await world.prepaid_total()
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    st = await month.statement_of(world)
    assert (st["provisional"], st["exact"], st["trueUp"], st["undercharge"]) == (
        "0.3000",
        "0.5000",
        "0.0000",
        "0.2000",
    )
    assert "not charged" in st["note"]
    assert await world.prepaid_total() == before
    await assert_ledger_clean()


async def test_r_bill_02_the_month_is_billed_from_the_first_of_the_next_and_only_once(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    world = await kit.make_world(container, balance=D("50.0000"), caps=("sms",))
    month.at(11, 30, 23, 59)  # the last minute of November (Asia/Shanghai)
    await month.send(world, 7)
    from openability.billing import statements
    from openability.kernel.errors import RuleViolation

    with pytest.raises(RuleViolation, match="not over"):
        await statements.bill_run(container, "2026-11")
    month.at(12, 1, 0, 0, 1)
    first = await month.run("bill-run")
    assert first is not None and "2026-11: 1 statement(s) made" in first
    once = await counts(container)
    assert await month.run("bill-run") is None  # the period ran
    again = await month.run("bill-run", force=True)
    assert again is not None and "already billed" in again
    assert await month.run("bill-run", period="2026-11", force=True) is not None
    assert await counts(container) == once  # nothing changed
    async with container.uow() as uow:
        run = await uow.session.get(BillRun, "2026-11")
    assert run is not None and run.statements == 1 and run.total == D("0.35")
    await assert_ledger_clean()


async def test_r_bill_02_two_schedulers_at_once_bill_the_month_once(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    """Run on PostgreSQL concurrently for real (on SQLite the writers queue)."""
    worlds = [await kit.make_world(container, balance=D("50.0000"), caps=("sms",)) for _ in range(3)]
    month.at(11, 10, 9)
    for w in worlds:
        await month.send(w, 3)
    month.at(12, 1, 0, 0, 5)
    from openability.billing import statements

    # two schedulers' job runs, and two direct bill runs besides (the claim is no part of the safety)
    results = await asyncio.gather(
        month.run("bill-run", owner="scheduler-1"),
        month.run("bill-run", owner="scheduler-2"),
        statements.bill_run(container, "2026-11"),
        statements.bill_run(container, "2026-11"),
    )
    assert sum(1 for r in results[:2] if r is not None) == 1
    assert (await counts(container))[0] == 3
    async with container.uow() as uow:
        per_partner = (
            await uow.session.execute(
                select(Statement.partner_id, func.count()).group_by(Statement.partner_id)
            )
        ).all()
    assert sorted(n for _, n in per_partner) == [1, 1, 1]
    await assert_ledger_clean()


async def test_r_charge_06_a_postpaid_partners_receivable_comes_down_to_the_exact_price(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    """Postpaid usage debited the receivable at the provisional price in real time; the statement states
    the exact amount and the true-up brings the receivable down to it."""
    from openability.partners.types import BillingMode, PartnerKind, Tier

    world = await kit.make_world(
        container,
        kind=PartnerKind.SI,
        billing_mode=BillingMode.POSTPAID,
        tier=Tier.CERTIFIED,
        balance=D(0),
        caps=("sms",),
    )
    async with container.uow() as uow:
        from openability.catalog import service as catalog

        rating = await catalog.product_rating(uow, world.products["sms"])
        assert rating is not None
        plan_id = rating.plans[0].plan_id
    writer = CdrWriter(container)
    await writer.start()
    try:  # the certified band: 0.045 a segment; real time charged 0.05
        await writer.write(await cdr(world, plan_id, 8, 100, D("5.0000"), "postpaid", "certified"))
    finally:
        await writer.stop()
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    st = await month.statement_of(world)
    assert (st["billingMode"], st["provisional"], st["exact"], st["trueUp"], st["total"]) == (
        "postpaid",
        "5.0000",
        "4.5000",
        "0.5000",
        "4.50",
    )
    assert (await world.balances())[AccountType.RECEIVABLE] == D("4.5000")
    await assert_ledger_clean()


async def test_r_bill_02_partners_billed_in_chunks_skip_the_ones_billed_already(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any, monkeypatch: Any
) -> None:
    """The bill run bills partners in chunks, one transaction each (bill_partners): a chunk holding a
    partner billed already (an earlier, interrupted run) bills the others and leaves it as it was."""
    from openability.billing import statements
    from openability.billing.models import StatementLine
    from openability.kernel.audit import AuditEntry, mask

    assert statements.bill_run_chunk(60) == 3 and statements.bill_run_chunk(3) == 1
    assert statements.bill_run_chunk(10_000) == 500 and statements.bill_run_chunk(100_000) == 500
    worlds = [await kit.make_world(container, balance=D("50.0000"), caps=("sms",)) for _ in range(4)]
    month.at(11, 10, 9)
    for i, w in enumerate(worlds):
        await month.send(w, 2 + i)
    month.at(12, 1, 0, 0, 5)
    async with container.uow() as uow:
        assert await statements.bill_partner(uow, "2026-11", worlds[2].partner_id) == 1
    async with container.uow() as uow:
        billed = await uow.session.scalar(
            select(Statement).where(Statement.partner_id == worlds[2].partner_id)
        )
        assert billed is not None
        first = statements.snapshot(billed), billed.id
    monkeypatch.setattr(statements, "bill_run_chunk", lambda n: 3)  # chunks [a, b, c] [d]
    res = await statements.bill_run(container, "2026-11")
    assert (res.created, res.statements) == (3, 4)
    async with container.uow() as uow:
        rows = (await uow.session.scalars(select(Statement).order_by(Statement.partner_id))).all()
        by_partner = {s.partner_id: s for s in rows}
        again = by_partner[worlds[2].partner_id]
        assert (statements.snapshot(again), again.id) == first
        for i, w in enumerate(worlds):
            s = by_partner[w.partner_id]
            assert s.quantity == 2 + i and s.total == D("0.0500") * (2 + i)
            kinds = (
                await uow.session.scalars(
                    select(StatementLine.kind)
                    .where(StatementLine.statement_id == s.id)
                    .order_by(StatementLine.seq)
                )
            ).all()
            assert [k.value for k in kinds] == ["usage", "rounding"]
        # each statement made is audited once, as uow.audit writes it (before: JSON null, not SQL NULL)
        audits = (
            await uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "statement.created"))
        ).all()
        money = ("total", "exact", "provisional", "true_up")

        def figures(after: dict[str, Any]) -> dict[str, Any]:
            return {k: D(v) if k in money else v for k, v in after.items()}

        assert sorted((a.entity_id, a.partner_id, a.before, figures(a.after)) for a in audits) == sorted(
            (s.id, s.partner_id, None, figures(mask(statements.snapshot(s)))) for s in rows
        )
        # the total as the statement was made: whole fen ("0.20"), as bill_partner audits it
        assert all(D(a.after["total"]).as_tuple().exponent == -2 for a in audits)
        sql_nulls = await uow.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "statement.created", AuditEntry.before.is_(None))
        )
        assert sql_nulls == 0
    await assert_ledger_clean()


async def test_r_charge_06_a_chunk_summed_in_the_database_states_what_the_daily_rows_state(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    """The bill run's chunks re-rate each partner's month from its usage summed per product, price
    version, band and scope in the database (`settlement.month_totals_of`), not from its daily rows.
    The same usage over three days, crossing the 1000-unit tier, billed one partner at a time from the
    daily rows (`bill_partner`) and in a chunk (`bill_partners`) gives the same statement figures, the
    same lines and the same true-up entry (R-CHARGE-06, R-BILL-02). Each world has its own product:
    the lines are compared with its code masked."""
    from openability.billing import statements
    from openability.billing.models import StatementLine

    worlds = [await kit.make_world(container, balance=D("500.0000"), caps=("sms",)) for _ in range(3)]
    for day, units in ((2, 600), (5, 500), (20, 3)):
        month.at(11, day, 10)
        for w in worlds:
            await month.send(w, units)
    month.at(12, 1, 0, 0, 5)
    async with container.uow() as uow:
        assert await statements.bill_partner(uow, "2026-11", worlds[0].partner_id) == 1
    async with container.uow() as uow:
        assert await statements.bill_partners(uow, "2026-11", [w.partner_id for w in worlds[1:]]) == 2
    states = []
    async with container.uow() as uow:
        for w in worlds:
            s = await uow.session.scalar(select(Statement).where(Statement.partner_id == w.partner_id))
            assert s is not None
            lines = (
                await uow.session.scalars(
                    select(StatementLine)
                    .where(StatementLine.statement_id == s.id)
                    .order_by(StatementLine.seq)
                )
            ).all()
            entry = await uow.session.get(JournalEntry, s.true_up_entry_id) if s.true_up_entry_id else None
            states.append(
                (
                    statements.snapshot(s),
                    (s.calls, s.quantity, s.adjustments, s.rounding, s.undercharge, s.billing_mode, s.note),
                    [
                        (
                            ln.seq,
                            ln.kind,
                            ln.plan_version,
                            ln.band,
                            ln.scope,
                            ln.tier_from,
                            ln.tier_to,
                            ln.units,
                            ln.unit_price,
                            ln.amount,
                            ln.description.replace(ln.product_code, "<code>"),
                        )
                        for ln in lines
                    ],
                    None if entry is None else (entry.kind, entry.memo.replace(s.id, "")),
                )
            )
    assert states[0][0]["exact"] == 1000 * TIER_1 + 103 * TIER_2
    assert [ln[5] for ln in states[0][2]] == [0, 1000, None]  # two tiers, then the rounding line
    assert states[1] == states[0] and states[2] == states[0]
    await assert_ledger_clean()


async def test_r_bill_02_the_run_sums_the_months_usage_once_for_every_chunk(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any, monkeypatch: Any
) -> None:
    """The bill run reads the month's usage with one month-wide aggregate (one pass over the month's
    rollups), not one per chunk: three partners in chunks of one are summed by a single
    `month_totals_of` for every partner, and each chunk states its partner's exact month (R-BILL-02,
    R-CHARGE-06: the usage of three days crosses the 1000-unit tier)."""
    from openability.billing import bill_sql, statements
    from openability.charging import settlement

    worlds = [await kit.make_world(container, balance=D("500.0000"), caps=("sms",)) for _ in range(3)]
    for day, units in ((2, 600), (5, 500), (20, 3)):
        month.at(11, day, 10)
        for w in worlds:
            await month.send(w, units)
    month.at(12, 1, 0, 0, 5)
    calls: list[Any] = []
    real = settlement.month_totals_of

    async def spy(session: Any, partner_ids: Any, month_: str) -> Any:
        calls.append(partner_ids)
        return await real(session, partner_ids, month_)

    monkeypatch.setattr(settlement, "month_totals_of", spy)
    monkeypatch.setattr(statements, "bill_run_chunk", lambda n: 1)  # three chunks
    # the Python path (PostgreSQL's bill run makes these statements in the database: test_bill_sql.py)
    monkeypatch.setattr(bill_sql, "in_sql", lambda uow: False)
    res = await statements.bill_run(container, "2026-11")
    assert (res.created, res.statements) == (3, 3)
    assert calls == [None]  # once, month-wide
    async with container.uow() as uow:
        for w in worlds:
            s = await uow.session.scalar(select(Statement).where(Statement.partner_id == w.partner_id))
            assert s is not None and s.quantity == 1103
            assert s.exact == 1000 * TIER_1 + 103 * TIER_2
            assert s.provisional == s.exact and s.true_up == 0 and s.total == D("54.12")
    await assert_ledger_clean()


async def test_r_bill_02_a_chunk_racing_another_run_is_refused_as_a_whole(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    """A chunk whose statements another run made first (its `billed` read before they existed) is
    refused by the unique (partner, month) as an IntegrityError — on PostgreSQL the statements are
    written with COPY — and rolled back whole: no statement, line or audit row of the other partner
    (R-BILL-02; the bill run then bills the chunk one partner at a time)."""
    from sqlalchemy.exc import IntegrityError

    from openability.billing import statements
    from openability.billing.models import StatementLine
    from openability.kernel.audit import AuditEntry

    worlds = [await kit.make_world(container, balance=D("50.0000"), caps=("sms",)) for _ in range(2)]
    month.at(11, 10, 9)
    for w in worlds:
        await month.send(w, 3)
    month.at(12, 1, 0, 0, 5)
    async with container.uow() as uow:
        assert await statements.bill_partner(uow, "2026-11", worlds[0].partner_id) == 1
    with pytest.raises(IntegrityError):
        async with container.uow() as uow:
            await statements.bill_partners(uow, "2026-11", [w.partner_id for w in worlds], billed=set())
    async with container.uow() as uow:
        rows = (await uow.session.scalars(select(Statement))).all()
        assert [s.partner_id for s in rows] == [worlds[0].partner_id]
        lines = await uow.session.scalar(select(func.count()).select_from(StatementLine))
        created = await uow.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "statement.created")
        )
        assert (lines, created) == (2, 1)
    await assert_ledger_clean()
