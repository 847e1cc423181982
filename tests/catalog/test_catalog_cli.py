"""`openability catalog …` and `openability billing …` against a SQLite file."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openability.catalog.cli import load_tiers_file, parse_valid_from
from openability.cli import app
from openability.kernel.migrate import upgrade


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    url = f"sqlite+aiosqlite:///{db}"

    upgrade(url)  # the CLI refuses a database without Alembic's version table
    monkeypatch.setenv("OPENABILITY_DATABASE_URL", url)
    monkeypatch.setenv("OPENABILITY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env
    from rich.console import Console

    import openability.billing.cli as billing_cli
    import openability.catalog.cli as catalog_cli

    # wide enough that table cells are not cut
    monkeypatch.setattr(catalog_cli, "console", Console(width=250))
    monkeypatch.setattr(billing_cli, "console", Console(width=250))
    return db


def test_parse_valid_from() -> None:
    assert parse_valid_from("now") is None and parse_valid_from(" NOW ") is None
    assert parse_valid_from("2027-01-01") == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert parse_valid_from("2027-01-01T08:00:00+00:00") == datetime(2027, 1, 1, 8, 0, tzinfo=UTC)


def test_catalog_cli_seed_create_and_version(cli_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["catalog", "seed"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["catalog", "seed"])  # idempotent
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "catalog",
            "create-product",
            "voice-plus",
            "--capability",
            "voice",
            "--unit",
            "minute",
            "--name-zh",
            "语音增强",
            "--name-en",
            "Voice plus",
            "--rate-limit",
            "30",
        ],
    )
    assert r.exit_code == 0, r.output
    tiers = {
        "national": {
            b: [["0", p]]
            for b, p in {
                "list": "0.2000",
                "certified": "0.1900",
                "close": "0.1800",
                "strategic": "0.1700",
            }.items()
        }
    }
    f = tmp_path / "tiers.json"
    f.write_text(json.dumps(tiers), encoding="utf-8")
    r = runner.invoke(
        app, ["catalog", "price-version", "voice-plus", "--from", "2030-01-01", "--file", str(f)]
    )
    assert r.exit_code == 0, r.output
    assert "v1" in r.output
    r = runner.invoke(
        app, ["catalog", "price-version", "sms-standard", "--from", "2030-01-01", "--file", str(f)]
    )
    assert r.exit_code == 0 and "v2" in r.output
    r = runner.invoke(app, ["catalog", "products"])
    assert r.exit_code == 0
    assert "sms-standard" in r.output and "voice-plus" in r.output
    # refusals: a past start, a bad file
    r = runner.invoke(
        app, ["catalog", "price-version", "voice-plus", "--from", "2020-01-01", "--file", str(f)]
    )
    assert r.exit_code == 1 and "VALID_FROM_IN_PAST" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"national": {"list": [["0", 0.2]]}}', encoding="utf-8")
    r = runner.invoke(
        app, ["catalog", "price-version", "voice-plus", "--from", "2031-01-01", "--file", str(bad)]
    )
    assert r.exit_code == 1 and "INVALID_TIERS" in r.output


def test_load_tiers_file_refuses_shapes(tmp_path: Path) -> None:
    import typer

    f = tmp_path / "t.json"
    f.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(typer.BadParameter):
        load_tiers_file(f)
    f.write_text("{oops", encoding="utf-8")
    with pytest.raises(typer.BadParameter):
        load_tiers_file(f)


def test_billing_cli_confirm_and_list(cli_db: Path) -> None:
    from openability.billing.types import PaymentMethod
    from openability.bootstrap import build_container
    from openability.kernel.ids import new_id
    from openability.partners.models import Partner
    from openability.partners.types import BillingMode, PartnerKind, PartnerStatus

    async def setup() -> str:
        from openability.billing import service

        c = build_container()
        try:
            async with c.uow() as uow:
                pid = new_id("ptn")
                uow.session.add(
                    Partner(
                        id=pid,
                        kind=PartnerKind.AP,
                        name="CLI 伙伴",
                        billing_mode=BillingMode.PREPAID,
                        status=PartnerStatus.ACTIVE,
                        created_at=uow.now,
                        updated_at=uow.now,
                    )
                )
                await uow.session.flush()
                p, _ = await service.create_payment(
                    uow, pid, "cli-1", __import__("decimal").Decimal("12.34"), PaymentMethod.BANK_TRANSFER
                )
                return p.id
        finally:
            await c.dispose()

    payment_id = asyncio.run(setup())
    runner = CliRunner()
    r = runner.invoke(app, ["billing", "payments", "--state", "pending"])
    assert r.exit_code == 0 and "cli-1" in r.output and "12.34" in r.output
    r = runner.invoke(app, ["billing", "confirm-payment", payment_id])
    assert r.exit_code == 0, r.output
    assert "confirmed" in r.output and "INV-" in r.output
    r = runner.invoke(app, ["billing", "confirm-payment", "pay_missing"])
    assert r.exit_code == 1 and "NOT_FOUND" in r.output
    r = runner.invoke(app, ["billing", "payments", "--state", "bogus"])
    assert r.exit_code != 0


def test_catalog_cli_price_version_from_now(cli_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["catalog", "seed"]).exit_code == 0
    f = tmp_path / "tiers.json"
    bands = {"list": "0.0600", "certified": "0.0550", "close": "0.0500", "strategic": "0.0450"}
    f.write_text(json.dumps({"national": {b: [["0", p]] for b, p in bands.items()}}), encoding="utf-8")
    before = datetime.now(UTC)
    r = runner.invoke(app, ["catalog", "price-version", "sms-standard", "--from", "now", "--file", str(f)])
    assert r.exit_code == 0, r.output
    assert "v2" in r.output
    started = datetime.fromisoformat(r.output.strip().rsplit(" from ", 1)[1])
    assert before <= started <= datetime.now(UTC)
    r = runner.invoke(app, ["catalog", "products"])
    assert r.exit_code == 0 and "v2" in r.output.split("sms-standard", 1)[1].splitlines()[0]
