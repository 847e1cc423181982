"""Monthly rollups kept by the CDR writer next to the daily ones (charging/models.py UsageMonthly,
R-CHARGE-06): each monthly row is its key's daily rows summed over the days, whichever path wrote them
(set-wise on PostgreSQL, SQLAlchemy on SQLite), with two workers on two reserved slots; the integrity
audit holds it and names a row that is not."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from openability.charging.cdr_batch import batch_totals
from openability.charging.models import UsageDaily, UsageMonthly
from openability.charging.rollups import monthly_mismatches, rebuild_monthly
from openability.charging.service import ChargingEngine
from openability.charging.types import CdrRecord
from openability.integrity import run_audit
from openability.kernel.clock import SHANGHAI, business_date
from openability.kernel.ids import new_id
from support_funded import SUBJECT_PRICE, charge_call, flat_subject

D = Decimal


def _record(at: datetime, quantity: int, slot: int, grant: str | None = "gr_1") -> CdrRecord:
    return CdrRecord(
        new_id("cdr"),
        "par_a",
        "prd_sms",
        "sms",
        "sendMessage",
        "cli",
        new_id("req"),
        "",
        quantity,
        "segment",
        D("0.0500") * quantity,
        "prepaid",
        "pp_1",
        "list",
        "national",
        f"{at.astimezone(SHANGHAI):%Y-%m}",
        grant,
        at,
        business_date(at),
        [],
        {},
        [],
        slot=slot,
    )


def test_r_charge_06_a_batch_across_midnight_is_one_monthly_row_per_slot() -> None:
    """A batch spanning midnight of 14/15 November on slots 1 and 2: two daily rows per slot, one monthly
    row per slot summing them, its first day the earlier day; a CDR of 1 December is December's row."""
    late = datetime(2026, 11, 14, 23, 59, tzinfo=SHANGHAI)
    early = datetime(2026, 11, 15, 0, 1, tzinfo=SHANGHAI)
    dec = datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI)
    recs = [
        _record(early, 2, 1),
        _record(late, 3, 1),
        _record(late, 1, 2, "gr_2"),
        _record(early, 4, 2, "gr_2"),
        _record(dec, 5, 1),
    ]
    t = batch_totals(recs, closed=set())
    assert len(t.rollups) == 5
    monthly = {(k[2], k[6]): (v.first_day, v.calls, v.quantity, v.amount) for k, v in t.monthly_rollups()}
    assert monthly == {
        ("2026-11", 1): (date(2026, 11, 14), 2, 5, D("0.2500")),
        ("2026-11", 2): (date(2026, 11, 14), 2, 5, D("0.2500")),
        ("2026-12", 1): (date(2026, 12, 1), 1, 5, D("0.2500")),
    }
    assert [k for k, _ in t.monthly_rollups()] == sorted(k for k, _ in t.monthly_rollups())


async def _daily_summed(container: Any, partner_id: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    async with container.uow() as uow:
        rows = (
            await uow.session.scalars(select(UsageDaily).where(UsageDaily.partner_id == partner_id))
        ).all()
    out: dict[tuple[Any, ...], list[Any]] = {}
    for d in rows:
        key = (d.product_id, d.month, d.price_plan_id, d.band, d.scope, d.slot)
        acc = out.setdefault(key, [d.day, 0, 0, D(0)])
        acc[0] = min(acc[0], d.day)
        acc[1] += d.calls
        acc[2] += d.quantity
        acc[3] += d.amount
    return {k: tuple(v) for k, v in out.items()}


async def _monthly(container: Any, partner_id: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    async with container.uow() as uow:
        rows = (
            await uow.session.scalars(select(UsageMonthly).where(UsageMonthly.partner_id == partner_id))
        ).all()
    return {
        (m.product_id, m.month, m.price_plan_id, m.band, m.scope, m.slot): (
            m.first_day,
            m.calls,
            m.quantity,
            m.amount,
        )
        for m in rows
    }


async def test_r_charge_06_monthly_rollups_equal_the_daily_ones_after_two_workers_on_two_slots(
    container: Any, funded: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    """Two gateway workers (each its grant on its own reserved slot) write a partner's CDRs over three
    days of November: each slot's monthly rollup row is its daily rows summed (calls, units, money, first
    day), and the two slots' rows add up to every CDR once."""
    clock.set(datetime(2026, 11, 3, 10, tzinfo=SHANGHAI))
    workers = [ChargingEngine(container, worker_id=f"host:{i}:w") for i in range(2)]
    for w in workers:
        await w.start()
    subj = flat_subject(funded)
    n = 0
    try:

        async def call(w: ChargingEngine, i: int, units: int) -> None:
            await charge_call(w, subj, i, units)

        for _day in range(3):
            await asyncio.gather(*(call(workers[(n + i) % 2], n + i, 1 + (n + i) % 3) for i in range(10)))
            n += 10
            clock.advance(timedelta(days=1))
    finally:
        for w in workers:
            await w.stop()
    daily = await _daily_summed(container, funded.partner_id)
    monthly = await _monthly(container, funded.partner_id)
    assert monthly == daily
    assert sorted(k[5] for k in monthly) == [0, 1]  # one row per slot
    assert sum(v[1] for v in monthly.values()) == n == 30
    units = sum(1 + i % 3 for i in range(n))
    assert sum(v[2] for v in monthly.values()) == units
    assert sum((v[3] for v in monthly.values()), D(0)) == units * SUBJECT_PRICE
    assert {v[0] for v in monthly.values()} == {date(2026, 11, 3)}
    async with container.uow() as uow:
        assert await monthly_mismatches(uow.session) == []
    await assert_ledger_clean()


async def test_r_charge_06_the_audit_names_a_monthly_rollup_that_is_not_its_days_summed(
    container: Any, funded: Any, clock: Any
) -> None:
    """The audit (integrity.py, invariant 9) holds usage_monthly == usage_daily summed over the days: a
    monthly row off by one call, a daily row without its monthly row, each is one sentence; rebuilding
    the month from the daily rows (`rebuild_monthly`) makes it clean again."""
    clock.set(datetime(2026, 11, 3, 10, tzinfo=SHANGHAI))
    engine = ChargingEngine(container, worker_id="host:0:w")
    await engine.start()
    try:
        for i in range(3):
            await charge_call(engine, flat_subject(funded), i)
    finally:
        await engine.stop()
    async with container.uow() as uow:
        assert await run_audit(uow.session) == []
    async with container.uow() as uow:
        await uow.session.execute(text("UPDATE usage_monthly SET calls = calls + 1"))
    async with container.uow() as uow:
        found = [v for v in await run_audit(uow.session) if "monthly rollup" in v]
    assert len(found) == 1 and "is 4 calls" in found[0] and "sum to 3 calls" in found[0]
    async with container.uow() as uow:
        await uow.session.execute(text("DELETE FROM usage_monthly"))
    async with container.uow() as uow:
        found = [v for v in await run_audit(uow.session) if "monthly rollup" in v]
    assert len(found) == 1 and "is none" in found[0] and "sum to 3 calls" in found[0]
    async with container.uow() as uow:
        assert await rebuild_monthly(uow.session, "2026-11") == 1
    async with container.uow() as uow:
        assert await run_audit(uow.session) == []
