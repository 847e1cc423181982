"""`openability billing run --period` (R-BILL-02): the month's bill run from the command line, with a
Rich progress bar over the partners, against a migrated SQLite file with October's rollups."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from openability.bootstrap import build_container
from openability.catalog.models import PricePlan, Product
from openability.charging.models import UsageDaily
from openability.charging.rollups import rebuild_monthly
from openability.cli import app
from openability.config import Settings
from openability.kernel.migrate import upgrade
from openability.seed import seed_demo


@pytest.fixture
def october(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's two partners with SMS rollups in October 2026, in a migrated SQLite file the CLI uses."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("OPENABILITY_DATABASE_URL", url)
    monkeypatch.setenv("OPENABILITY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    import openability.billing.statement_cli as statement_cli

    monkeypatch.setattr(statement_cli, "console", Console(width=200, force_terminal=False))
    settings = Settings(  # type: ignore[call-arg]
        database_url=url, data_dir=tmp_path / "data", run_test_smsc=False, smsc_enabled=False, _env_file=None
    )

    async def go() -> None:
        container = build_container(settings)
        try:
            creds = await seed_demo(container)
            async with container.uow() as uow:
                product = await uow.session.scalar(select(Product).where(Product.code == "sms-standard"))
                assert product is not None
                plan = await uow.session.scalar(select(PricePlan).where(PricePlan.product_id == product.id))
                assert plan is not None
                for who, segments in (("ap", 100), ("si", 40)):
                    uow.session.add(
                        UsageDaily(
                            partner_id=creds["partners"][who]["id"],
                            product_id=product.id,
                            day=date(2026, 10, 20),
                            price_plan_id=plan.id,
                            band="list",
                            scope="national",
                            month="2026-10",
                            calls=1,
                            quantity=segments,
                            amount=Decimal("0.0500") * segments,
                        )
                    )
                await uow.session.flush()
                await rebuild_monthly(uow.session, "2026-10")  # the monthly rollups the bill run reads
        finally:
            await container.dispose()

    asyncio.run(go())


def test_r_bill_02_billing_run_shows_a_progress_bar_and_is_safe_to_run_again(october: None) -> None:
    r = CliRunner().invoke(app, ["billing", "run", "--period", "2026-10"])
    assert r.exit_code == 0, r.output
    assert "bill run 2026-10" in r.output and "2/2" in r.output and "partners" in r.output
    assert "2026-10: 2 statement(s) made, 2 in all, total ¥7.00" in r.output
    r = CliRunner().invoke(app, ["billing", "run", "--period", "2026-10"])
    assert r.exit_code == 0, r.output
    assert "2026-10 was billed before: 2 statement(s), nothing changed" in r.output
    r = CliRunner().invoke(app, ["billing", "run", "--period", "2099-01"])
    assert r.exit_code == 1 and "MONTH_NOT_ENDED" in r.output
