"""R-BILL-08: the collection jobs are idempotent by period and by statement: run twice, or by two schedulers
at once (for real on PostgreSQL; on SQLite the writers queue), each statement's deposit deduction and
suspension happen once. A missed month is caught up by the next run; the CLI runs the same use case."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from openability.billing import collections
from openability.billing.models import ArrearsSuspension
from openability.kernel.notify import Notification
from openability.ledger.models import JournalEntry
from openability.ledger.types import EntryKind

D = Decimal


async def deductions(container: Any) -> list[str]:
    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(JournalEntry.ref_id).where(JournalEntry.kind == EntryKind.DEPOSIT_DEDUCTION)
        )
        return sorted(r for r in rows.all() if r)


async def counts(container: Any) -> tuple[int, int]:
    async with container.uow() as uow:
        suspensions = await uow.session.scalar(select(func.count()).select_from(ArrearsSuspension))
        notices = await uow.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "deposit-deducted")
        )
    return int(suspensions or 0), int(notices or 0)


async def test_r_bill_08_collecting_twice_changes_nothing(
    office: Any, container: Any, assert_ledger_clean: Any
) -> None:
    a = await office.postpaid(D("100.00"))
    b = await office.postpaid(D("1.00"))
    sids = await office.november(a, b)
    office.m.at(12, 27, 0, 0, 1)
    assert "2 statement(s) collected" in (await office.m.run("collections"))
    once = (await deductions(container), await counts(container), await a.balances(), await b.balances())
    assert once[0] == sorted(sids) and once[1] == (1, 2)
    assert await office.m.run("collections") is None  # the period is done
    assert "0 statement(s) collected" in (await office.m.run("collections", force=True))
    assert "0 statement(s) collected" in (await collections.run_collections(container, "2026-11")).summary()
    assert (
        await deductions(container),
        await counts(container),
        await a.balances(),
        await b.balances(),
    ) == once
    await assert_ledger_clean()


async def test_r_bill_08_two_schedulers_at_once_collect_each_statement_once(
    office: Any, container: Any, assert_ledger_clean: Any
) -> None:
    worlds = [await office.postpaid(D(deposit)) for deposit in ("100.00", "1.00", "2.00", "0")]
    sids = await office.november(*worlds)
    office.m.at(12, 27, 0, 0, 1)
    # two schedulers' job runs, and two direct runs besides (the job claim is no part of the safety)
    results = await asyncio.gather(
        office.m.run("collections", owner="scheduler-1"),
        office.m.run("collections", owner="scheduler-2"),
        collections.run_collections(container, "2026-11"),
        collections.run_collections(container, "2026-11"),
    )
    assert sum(1 for r in results[:2] if r is not None) == 1
    assert await deductions(container) == sorted(sids[:3])  # the empty deposit has nothing to give
    assert await counts(container) == (3, 3)  # three short, each suspended once; a notice per deduction
    for w in worlds[1:]:
        assert await office.status(w) == "suspended"
    await assert_ledger_clean()


async def test_r_bill_07_a_month_whose_collection_was_missed_is_caught_up(
    office: Any, container: Any, assert_ledger_clean: Any
) -> None:
    """The scheduler was down from the 20th of December to the 2nd of January: the deferred pass of
    November (due at 00:00 on the 1st) also collects November's statements that had no notice."""
    a, b = await office.postpaid(D("100.00")), await office.postpaid(D("100.00"))
    sa, sb = await office.november(a, b)
    office.m.at(12, 20, 10)
    assert (await office.notice(a, sa, "4.50")).status_code == 201
    office.m.at(1, 2, 9, year=2027)
    assert await office.m.run("collections") is None  # its period is now December (due 27 January)
    assert "2 statement(s) collected" in (await office.m.run("collections-deferred"))
    assert await deductions(container) == sorted([sa, sb])
    await assert_ledger_clean()


async def test_r_bill_08_the_cli_lists_records_and_collects(
    office: Any, container: Any, monkeypatch: Any
) -> None:
    """`openability billing collections …` on this test's platform (its moved clock)."""
    from rich.console import Console
    from typer.testing import CliRunner

    from openability.billing import collection_cli
    from openability.cli import app

    w = await office.postpaid(D("100.00"))
    (sid,) = await office.november(w)
    office.m.at(12, 20, 10)
    loop = asyncio.get_running_loop()

    class Borrowed:  # the test's platform, not disposed by the command
        def __getattr__(self, name: str) -> Any:
            return getattr(container, name)

        async def dispose(self) -> None:
            return None

    def run_in_loop(fn: Any, *, needs_database: bool = True) -> Any:
        return asyncio.run_coroutine_threadsafe(fn(Borrowed()), loop).result()

    runner = CliRunner()
    monkeypatch.setattr(collection_cli, "run_async", run_in_loop)
    monkeypatch.setattr(collection_cli, "console", Console(width=250))

    def invoke(*args: str) -> str:
        r = runner.invoke(app, ["billing", "collections", *args])
        assert r.exit_code == 0, r.output
        return str(r.output)

    out = await asyncio.to_thread(invoke, "list", "--month", "2026-11")
    assert sid in out and "4.50" in out and "due" in out
    out = await asyncio.to_thread(invoke, "record", sid, "--amount", "1.20", "--reference", "ICBC-CLI")
    assert "confirmed ¥1.20" in out
    out = await asyncio.to_thread(invoke, "deposit", w.partner_id, "--required", "120.00")
    assert "required ¥120.00" in out and "to restore ¥20.00" in out
    office.m.at(12, 27, 0, 0, 1)
    out = await asyncio.to_thread(invoke, "run", "--period", "2026-11")
    assert "0 statement(s) collected" in out and "1 deferred" in out  # a payment by the 26th defers
    office.m.at(1, 1, 0, 0, 1, year=2027)
    out = await asyncio.to_thread(invoke, "run", "--period", "2026-11")
    assert "1 statement(s) collected" in out
    assert (await office.due(w))["deducted"] == "3.30"
