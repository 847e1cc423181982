"""`openability audit` (R-BILL-10): clean on a consistent ledger, and able to fail: each deliberately
corrupted invariant is reported."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import update
from typer.testing import CliRunner

from openability.charging import rules
from openability.charging.models import Grant, UsageRecord
from openability.charging.service import ChargingEngine, Subject
from openability.integrity import run_audit
from openability.kernel.ids import new_id
from openability.ledger import service as ledger
from openability.ledger.models import Account, JournalEntry, JournalLine
from openability.ledger.types import PLATFORM, AccountType, EntryKind

PRICE = Decimal("0.0500")


async def charge(f: Any, n: int) -> None:
    """n real charged calls through the charging engine (grant + CDR writer), then shut it down."""
    engine = ChargingEngine(f.container)
    await engine.start()
    plans = (
        rules.PlanVersion(
            f.plan_id,
            1,
            f.container.clock.now() - timedelta(days=1),
            None,
            {("national", "list"): ((0, PRICE),)},
        ),
    )
    subj = Subject(f.partner_id, f.product_id, "cli", "prepaid", "national", "list", plans, "segment")
    for i in range(n):
        auth = await engine.authorize(subj, 1)
        await engine.record(
            auth,
            record_id=new_id("cdr"),
            request_key=f"k{i}",
            req_hash="",
            capability="sms",
            operation="send",
            recipients=[],
            response={},
            messages=[],
        )
    # keep the grant open (no stop/release): reserved money must match the active grant
    await engine.cdr.stop()


async def audit(container: Any) -> list[str]:
    async with container.uow() as uow:
        return await run_audit(uow.session)


async def test_r_bill_10_audit_clean_after_top_up_grants_and_charges(
    container: Any, funded: Any, assert_ledger_clean: Any
) -> None:
    await charge(funded, 5)
    assert await audit(container) == []
    await assert_ledger_clean()


async def test_r_bill_10_audit_detects_tampered_balance(container: Any, funded: Any) -> None:
    await charge(funded, 2)
    async with container.uow() as uow:
        await uow.session.execute(
            update(Account)
            .where(Account.owner_id == funded.partner_id, Account.type == AccountType.PREPAID_AVAILABLE)
            .values(balance=Decimal("999.0000"))
        )
    v = await audit(container)
    assert any("has balance 999.0000 but its journal lines give" in x for x in v), v
    assert any("prepaid available + reserved" in x for x in v), v


async def test_r_bill_10_audit_detects_unbalanced_entry_and_negative_available(
    container: Any, funded: Any
) -> None:
    async with container.uow() as uow:
        s = uow.session
        avail = await ledger.get_account(s, funded.partner_id, AccountType.PREPAID_AVAILABLE)
        entry = JournalEntry(id=new_id("je"), kind=EntryKind.ADJUSTMENT, memo="bad", created_at=uow.now)
        s.add(entry)
        await s.flush()
        s.add(JournalLine(entry_id=entry.id, account_id=avail.id, amount=Decimal("20.0000")))
        await s.execute(update(Account).where(Account.id == avail.id).values(balance=Decimal("-10.0000")))
    v = await audit(container)
    assert any(f"journal entry {entry.id} does not balance" in x for x in v), v
    assert any("is negative: -10.0000" in x for x in v), v


async def test_r_bill_10_audit_detects_top_up_without_payment(container: Any, funded: Any) -> None:
    async with container.uow() as uow:
        s = uow.session
        cash = await ledger.get_account(s, PLATFORM, AccountType.CASH)
        avail = await ledger.get_account(s, funded.partner_id, AccountType.PREPAID_AVAILABLE)
        await ledger.post(
            s,
            kind=EntryKind.TOP_UP,
            legs=[ledger.debit(cash, Decimal(5)), ledger.credit(avail, Decimal(5))],
            now=uow.now,
        )
    v = await audit(container)
    assert any("confirmed top-up payments total 10.0000" in x for x in v), v


async def test_r_bill_10_audit_detects_cdr_not_matching_its_charge_entry(container: Any, funded: Any) -> None:
    await charge(funded, 3)
    async with container.uow() as uow:
        await uow.session.execute(
            update(UsageRecord).where(UsageRecord.request_key == "k1").values(amount=Decimal("0.0600"))
        )
    v = await audit(container)
    assert any("credits revenue" in x and "its CDRs total" in x for x in v), v
    assert any("consumed but its CDRs total" in x for x in v), v


async def test_r_bill_10_audit_detects_unreleased_closed_grant_and_reserved_mismatch(
    container: Any, funded: Any
) -> None:
    await charge(funded, 1)
    async with container.uow() as uow:
        await uow.session.execute(update(Grant).values(state="closed"))
    v = await audit(container)
    assert any("is closed but" in x and "never released" in x for x in v), v
    assert any("prepaid:reserved is 0.9500 but its active grants hold 0" in x for x in v), v


def test_r_bill_10_cli_exit_code(tmp_path: Path, monkeypatch: Any) -> None:
    """`openability ledger audit` exits 0 when clean and 1 on a violation."""
    from openability.cli import app
    from openability.kernel.db import make_engine
    from openability.kernel.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def setup(tamper: bool) -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            if tamper:
                await conn.execute(
                    update(Account).where(Account.type == AccountType.CASH).values(balance=Decimal(7))
                )
        if not tamper:
            from openability.kernel.clock import SystemClock
            from openability.kernel.db import make_sessionmaker

            sm = make_sessionmaker(engine)
            async with sm() as s, s.begin():
                await ledger.ensure_platform_accounts(s, SystemClock().now())
        await engine.dispose()

    monkeypatch.setenv("OPENABILITY_DATABASE_URL", url)
    monkeypatch.setenv("OPENABILITY_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    upgrade(url)
    asyncio.run(setup(False))
    ok = runner.invoke(app, ["ledger", "audit"])
    assert ok.exit_code == 0, ok.output
    assert "clean" in ok.output
    asyncio.run(setup(True))
    bad = runner.invoke(app, ["ledger", "audit"])
    assert bad.exit_code == 1
    assert "violation" in bad.output
