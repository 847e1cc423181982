"""Daily rollups per reserved slot: the CDR writer keeps one usage_daily row per key and grant slot (two
gateway workers never upsert one row), and every reader counts the slots' rows once (R-CHARGE-06,
R-BILL-02)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.charging import settlement
from openability.charging import usage as usage_reads
from openability.charging.cdr_batch import batch_totals
from openability.charging.models import UsageDaily
from openability.charging.rollups import rebuild_monthly
from openability.charging.types import CdrRecord
from openability.kernel.clock import SHANGHAI, business_date
from openability.kernel.ids import new_id

D = Decimal


def _record(grant_id: str | None, slot: int, mode: str = "prepaid") -> CdrRecord:
    at = datetime(2026, 11, 20, 12, tzinfo=SHANGHAI)
    return CdrRecord(
        new_id("cdr"),
        "par_a",
        "prd_sms",
        "sms",
        "sendMessage",
        "cli_a",
        new_id("req"),
        "",
        2,
        "segment",
        D("0.1000"),
        mode,
        "pp_1",
        "list",
        "national",
        "2026-11",
        grant_id,
        at,
        business_date(at),
        [],
        {},
        [],
        slot=slot,
    )


def test_r_charge_06_a_batch_upserts_the_rollup_row_of_each_cdrs_grant_slot() -> None:
    """One partner, product, day, version, band and scope: the CDRs on a slot-1 grant and on a slot-2
    grant go to two rollup rows; a CDR without a grant and a postpaid one to slot 0. The rows' sums are
    the batch's."""
    records = [
        _record("gr_1", 1),
        _record("gr_1", 1),
        _record("gr_2", 2),
        _record(None, 3),  # no grant: available pays, slot 0
        _record(None, 0, mode="postpaid"),
    ]
    t = batch_totals(records, closed=set())
    by_slot = {k[6]: (v.calls, v.quantity, v.amount) for k, v in t.rollups.items()}
    assert by_slot == {1: (2, 4, D("0.2000")), 2: (1, 2, D("0.1000")), 0: (2, 4, D("0.2000"))}
    assert {k[:6] for k in t.rollups} == {
        ("par_a", "prd_sms", date(2026, 11, 20), "pp_1", "list", "national")
    }
    assert [k[6] for k, _ in t.sorted_rollups()] == [0, 1, 2]


async def test_r_charge_06_two_slots_rows_of_one_day_are_billed_and_summed_once(
    month: Any, container: Any, kit: Any
) -> None:
    """A partner's November as two workers' slots leave it: day 2 on slot 1, day 5 on slot 2, day 20 on
    both (two rows of one key). The bill run states the exact month once (1000 x 0.05 + 1001 x 0.04 =
    90.04; real time charged 80.05, below it: nothing taken, R-CHARGE-06), the partner's daily rows, the
    usage page and the dashboard's sums count day 20 once, as one row of 1000 units."""
    world = await kit.make_world(container, balance=D("500.0000"), caps=("sms",))
    prod = world.products["sms"]
    async with container.uow() as uow:
        from openability.catalog import service as catalog

        rating = await catalog.product_rating(uow, prod)
        assert rating is not None
        plan_id = rating.plans[0].plan_id
    rows = (
        (2, 1, 1, 1, "0.0500"),
        (5, 2, 10, 1000, "40.0000"),
        (20, 1, 6, 600, "24.0000"),
        (20, 2, 4, 400, "16.0000"),
    )
    async with container.uow() as uow:
        for day, slot, calls, qty, amount in rows:
            uow.session.add(
                UsageDaily(
                    partner_id=world.partner_id,
                    product_id=prod,
                    day=date(2026, 11, day),
                    price_plan_id=plan_id,
                    band="list",
                    scope="national",
                    slot=slot,
                    month="2026-11",
                    calls=calls,
                    quantity=qty,
                    amount=D(amount),
                )
            )
        await uow.session.flush()
        await rebuild_monthly(uow.session, "2026-11")  # the monthly rollups the bill run reads
    async with container.uow() as uow:
        stored = (
            await uow.session.scalars(
                select(UsageDaily.slot).where(UsageDaily.partner_id == world.partner_id)
            )
        ).all()
        assert sorted(stored) == [1, 1, 2, 2]  # day 20: two rows, one per slot
        daily = await settlement.month_rollups(uow.session, world.partner_id, "2026-11")
        assert [(r.day.day, r.calls, r.quantity, r.amount) for r in daily] == [
            (2, 1, 1, D("0.0500")),
            (5, 10, 1000, D("40.0000")),
            (20, 10, 1000, D("40.0000")),
        ]
        (total,) = (await settlement.month_totals_of(uow.session, [world.partner_id], "2026-11"))[
            world.partner_id
        ]
        assert (total.calls, total.quantity, total.rated, total.amount) == (21, 2001, 2001, D("80.0500"))
        page = await usage_reads.usage_summary(uow, month="2026-11", partner_id=world.partner_id)
        assert [(r.day.day, r.calls, r.quantity, r.amount) for r in page.rows] == [
            (2, 1, 1, D("0.0500")),
            (5, 10, 1000, D("40.0000")),
            (20, 10, 1000, D("40.0000")),
        ]
        assert (await usage_reads.monthly_volume_by_partner(uow, "2026-11"))[world.partner_id] == 2001
        sums = (await settlement.partner_sums(uow.session, month="2026-11"))[world.partner_id]
        assert (sums.calls, sums.quantity, sums.amount) == (21, 2001, D("80.0500"))
        by_product = (await settlement.product_sums(uow.session, "2026-11"))[prod]
        assert (by_product.calls, by_product.quantity, by_product.amount) == (21, 2001, D("80.0500"))
        assert await settlement.partners_with_usage(uow.session, "2026-11") == [world.partner_id]
    before = await world.prepaid_total()
    month.at(12, 1, 0, 1)
    result = await month.run("bill-run")
    assert result is not None and "2026-11: 1 statement(s) made" in result
    st = await month.statement_of(world)
    assert (st["provisional"], st["exact"], st["trueUp"], st["undercharge"]) == (
        "80.0500",
        "90.0400",
        "0.0000",
        "9.9900",
    )
    usage = [(ln["tierFrom"], ln["tierTo"], ln["units"], ln["amount"]) for ln in st["lines"][:-1]]
    assert usage == [(0, 1000, 1000, "50.0000"), (1000, None, 1001, "40.0400")]
    assert await world.prepaid_total() == before
