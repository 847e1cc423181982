"""The bill run reads the monthly rollups the CDR writer keeps (usage_monthly, R-BILL-02): the statement
it states from them is the statement the daily rows state (R-CHARGE-06), across a price version change
in the month too."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from openability.billing.models import Statement, StatementLine
from openability.charging.cdr_writer import CdrWriter
from openability.charging.types import CdrRecord
from openability.kernel.clock import SHANGHAI, business_date
from openability.kernel.ids import new_id

D = Decimal
V2 = {("national", "list"): [(0, D("0.0450")), (1000, D("0.0350"))]}


def _cdr(world: Any, cap: str, plan_id: str, day: int, quantity: int, price: Decimal) -> CdrRecord:
    at = datetime(2026, 11, day, 12, tzinfo=SHANGHAI)
    return CdrRecord(
        new_id("cdr"),
        world.partner_id,
        world.products[cap],
        cap,
        "sendMessage",
        world.client_id,
        new_id("req"),
        "",
        quantity,
        "segment",
        price * quantity,
        "prepaid",
        plan_id,
        "list",
        "national",
        "2026-11",
        None,
        at,
        business_date(at),
        ["+8613800138000"],
        {},
        [],
    )


async def _statement(container: Any, partner_id: str) -> tuple[Any, ...]:
    """The statement's figures and lines, its product codes masked (each world has its own products)."""
    async with container.uow() as uow:
        s = await uow.session.scalar(select(Statement).where(Statement.partner_id == partner_id))
        assert s is not None
        lines = (
            await uow.session.scalars(
                select(StatementLine).where(StatementLine.statement_id == s.id).order_by(StatementLine.seq)
            )
        ).all()
        return (
            (s.calls, s.quantity, s.provisional, s.exact, s.true_up, s.undercharge, s.rounding, s.total),
            [
                (
                    ln.kind,
                    ln.plan_version,
                    ln.band,
                    ln.scope,
                    ln.tier_from,
                    ln.tier_to,
                    ln.units,
                    ln.unit_price,
                    ln.amount,
                    ln.description.replace(ln.product_code, "<code>") if ln.product_code else ln.description,
                )
                for ln in lines
            ],
        )


async def test_r_bill_02_the_bill_run_on_monthly_rollups_states_what_the_daily_rows_state(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any, monkeypatch: Any
) -> None:
    """Four partners, two months of usage: A and B change SMS price version on the 15th (v1: 600 units,
    then v2: 500 + 3, crossing v2's 1000-unit tier on the month-to-date volume) and use MMS at one
    version; C and D use SMS at one version over two days, crossing its tier. A and C are billed one at
    a time from their daily rows (`bill_partner`, what the bill run read before the monthly rollups);
    the bill run then bills B and D from usage_monthly — D without reading a daily row, B's days read
    only because its SMS changed version — and states exactly A's and C's statements."""
    import gateway_world

    from openability.billing import statements
    from openability.catalog import service as catalog
    from openability.charging import settlement

    worlds = [await kit.make_world(container, balance=D("500.0000"), caps=("sms", "mms")) for _ in range(4)]
    v1: dict[tuple[str, str], str] = {}
    v2: dict[str, str] = {}
    async with container.uow() as uow:
        for w in worlds:
            for cap in ("sms", "mms"):
                rating = await catalog.product_rating(uow, w.products[cap])
                assert rating is not None
                v1[(w.partner_id, cap)] = rating.plans[0].plan_id
        for w in worlds[:2]:
            v2[w.partner_id] = await gateway_world.add_plan(
                uow.session,
                w.products["sms"],
                2,
                datetime(2026, 11, 15, tzinfo=SHANGHAI),
                V2,
                uow.now,
            )
    writer = CdrWriter(container)
    await writer.start()
    try:
        for w in worlds[:2]:
            pid = w.partner_id
            for rec in (
                _cdr(w, "sms", v1[(pid, "sms")], 2, 600, D("0.0500")),
                _cdr(w, "sms", v2[pid], 15, 500, D("0.0450")),
                _cdr(w, "sms", v2[pid], 20, 3, D("0.0450")),
                _cdr(w, "mms", v1[(pid, "mms")], 5, 7, D("0.3000")),
                _cdr(w, "mms", v1[(pid, "mms")], 6, 2, D("0.3000")),
            ):
                await writer.write(rec)
        for w in worlds[2:]:
            for day, q in ((2, 600), (5, 500)):
                await writer.write(_cdr(w, "sms", v1[(w.partner_id, "sms")], day, q, D("0.0500")))
    finally:
        await writer.stop()
    month.at(12, 1, 0, 1)
    for w in (worlds[0], worlds[2]):
        async with container.uow() as uow:
            assert await statements.bill_partner(uow, "2026-11", w.partner_id) == 1
    asked: list[str] = []
    real = settlement.month_rollups_of

    async def spy(session: Any, partner_ids: Any, month_: str) -> Any:
        asked.extend(partner_ids)
        return await real(session, partner_ids, month_)

    monkeypatch.setattr(settlement, "month_rollups_of", spy)
    res = await statements.bill_run(container, "2026-11")
    assert (res.created, res.statements) == (2, 4)
    assert asked == [worlds[1].partner_id]  # only the partner whose SMS changed version: its days
    a, b, c, d = [await _statement(container, w.partner_id) for w in worlds]
    assert b == a and d == c
    # v1 600 x 0.05; v2 from the 600th unit: 400 x 0.045, then 103 x 0.035 past the 1000th
    sms = [ln for ln in a[1] if ln[1] is not None and ln[7] in (D("0.0500"), D("0.0450"), D("0.0350"))]
    assert [(ln[1], ln[4], ln[5], ln[6], ln[8]) for ln in sms] == [
        (1, 0, 1000, 600, D("30.0000")),
        (2, 0, 1000, 400, D("18.0000")),
        (2, 1000, None, 103, D("3.6050")),
    ]
    assert a[0][:2] == (5, 1112)
    # C and D: 1000 x 0.05 + 100 x 0.04, 5.5000 charged in real time above it credited back
    assert c[0][:5] == (2, 1100, D("55.0000"), D("54.0000"), D("1.0000"))
    await assert_ledger_clean()


async def test_r_bill_02_the_month_wide_totals_are_the_monthly_rollup_rows(
    month: Any, container: Any, kit: Any
) -> None:
    """`settlement.month_totals_of` (what the bill run's statement totals come from) reads usage_monthly:
    after a price change its totals are one per version, each the version's calls, units and money
    charged, the first day its first use; and they stand on the monthly rows alone (the daily rows of
    the month removed, the totals are unchanged)."""
    import gateway_world

    from openability.catalog import service as catalog
    from openability.charging import settlement

    w = await kit.make_world(container, balance=D("500.0000"), caps=("sms",))
    async with container.uow() as uow:
        rating = await catalog.product_rating(uow, w.products["sms"])
        assert rating is not None
        p1 = rating.plans[0].plan_id
        p2 = await gateway_world.add_plan(
            uow.session, w.products["sms"], 2, datetime(2026, 11, 15, tzinfo=SHANGHAI), V2, uow.now
        )
    writer = CdrWriter(container)
    await writer.start()
    try:
        for plan, day, q, price in (
            (p1, 3, 10, D("0.0500")),
            (p1, 9, 5, D("0.0500")),
            (p2, 16, 4, D("0.0450")),
        ):
            await writer.write(_cdr(w, "sms", plan, day, q, price))
    finally:
        await writer.stop()
    async with container.uow() as uow:
        totals = (await settlement.month_totals_of(uow.session, None, "2026-11"))[w.partner_id]
    got = [(t.price_plan_id, t.first_day.day, t.calls, t.quantity, t.rated, t.amount) for t in totals]
    assert sorted(got) == sorted([(p1, 3, 2, 15, 15, D("0.7500")), (p2, 16, 1, 4, 4, D("0.1800"))])
    async with container.uow() as uow:
        await uow.session.execute(text("DELETE FROM usage_daily WHERE month = '2026-11'"))
        again = (await settlement.month_totals_of(uow.session, [w.partner_id], "2026-11"))[w.partner_id]
        await uow.session.rollback()
    assert again == totals


async def test_r_bill_02_two_runs_at_once_leave_the_garbage_collector_as_it_was(
    month: Any, container: Any, kit: Any
) -> None:
    """The bill run collects garbage less often while it runs (statements.BILL_RUN_GC_THRESHOLD): two
    runs at once bill the month once, run with the raised threshold, and the last to end restores the
    threshold the process had."""
    import asyncio
    import gc

    from openability.billing import statements

    w = await kit.make_world(container, balance=D("50.0000"), caps=("sms",))
    month.at(11, 10, 9)
    await month.send(w, 3)
    month.at(12, 1, 0, 1)
    before = gc.get_threshold()
    seen: list[int] = []
    results = await asyncio.gather(
        *(
            statements.bill_run(
                container, "2026-11", progress=lambda i, n: seen.append(gc.get_threshold()[0])
            )
            for _ in range(2)
        )
    )
    assert sum(r.created for r in results) == 1 and {r.statements for r in results} == {1}
    assert seen and set(seen) == {max(before[0], statements.BILL_RUN_GC_THRESHOLD)}
    assert gc.get_threshold() == before
