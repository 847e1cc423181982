"""`openability tickets …` on an 80-column terminal: undecided groups, the calendar warning, folded ids."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openability import bootstrap
from openability.cli import app
from openability.config import Settings
from openability.kernel import commands
from openability.kernel.clock import FrozenClock
from openability.kernel.ids import new_id
from openability.kernel.migrate import upgrade
from openability.kernel.uow import Actor
from openability.partners.models import Operator, Partner
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus
from openability.tickets import service
from openability.tickets.schemas import CreateTicket

# A login name with nothing to wrap on, longer than the group column gets on 80 columns.
LONG_LOGIN = "zhang.wei.service-desk-team-b@openability.example.cn"
SYSTEM = Actor(type="system", id="test", roles=frozenset({"admin"}), name="test")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock) -> CliRunner:
    """The CLI on its own SQLite file and the tests' frozen clock (2026-11-02 10:00 Asia/Shanghai)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    settings = Settings(  # type: ignore[call-arg]
        database_url=url, data_dir=tmp_path / "data", run_scheduler=False, _env_file=None
    )
    real = bootstrap.build_container

    def build(*_: object, **__: object) -> bootstrap.Container:
        return real(settings, clock=clock)

    upgrade(url)  # the CLI refuses a database without Alembic's version table
    monkeypatch.setattr(bootstrap, "build_container", build)
    monkeypatch.setattr(commands, "_factory", build)  # the CLI runs on this platform
    monkeypatch.chdir(tmp_path)  # no stray .env
    return CliRunner()


def _open_ticket_owned_by_long_login() -> None:
    async def go() -> None:
        c = bootstrap.build_container()
        try:
            now = c.clock.now()
            async with c.uow(SYSTEM) as uow:
                op = Operator(
                    id=new_id("opr"),
                    username=LONG_LOGIN,
                    display_name="",
                    password_hash="x",
                    roles=["service_agent"],
                    active=True,
                    created_at=now,
                )
                p = Partner(
                    id=new_id("prt"),
                    kind=PartnerKind.AP,
                    name="甲科技",
                    billing_mode=BillingMode.PREPAID,
                    status=PartnerStatus.ACTIVE,
                    service_owner_id=op.id,
                    created_at=now,
                    updated_at=now,
                )
                uow.session.add_all([op, p])
                await uow.session.flush()
                await service.create_ticket(
                    uow,
                    CreateTicket.model_validate(
                        {"type": "consultation", "subtype": "tariffs", "subject": "资费", "partnerId": p.id}
                    ),
                )
        finally:
            await c.dispose()

    asyncio.run(go())


def _first_cells(output: str) -> list[str]:
    return [line.split("│")[1].strip() for line in output.splitlines() if line.startswith("│")]


def test_report_shows_a_dash_for_undecided_groups_and_folds_long_names(cli: CliRunner) -> None:
    _open_ticket_owned_by_long_login()
    r = cli.invoke(app, ["tickets", "report", "2026-11"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert "None" not in r.stdout
    assert all(len(line) <= 80 for line in r.stdout.splitlines())
    rows = [line.split("│") for line in r.stdout.splitlines() if line.startswith("│")]
    # the open consultation: 1 ticket, nothing decided yet -> "–" in the % columns, not "None"
    assert [c.strip() for c in rows[0][1:-1]] == ["consultation", "1", "0", "0", "1", "–", "–"]
    assert "…" not in r.stdout
    assert "".join(_first_cells(r.stdout)[1:]) == LONG_LOGIN  # whole, not cut to "…"


def test_deadline_warns_once_about_an_unconfirmed_year(
    cli: CliRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    r = cli.invoke(app, ["tickets", "deadline", "2026-12-30T10:00"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "first response    1 working day(s) target  due 2026-12-31 24:00 (Asia/Shanghai)",
        "final reply       3 working day(s) limit   due 2027-01-05 24:00 (Asia/Shanghai)",
    ]
    assert r.stderr.splitlines() == [
        "warning: working-day calendar for 2027 is not confirmed; using the package's estimate"
    ]
    assert [x for x in caplog.records if x.name == "openability.kernel.calendar"] == []
    # a deadline inside a confirmed year warns about nothing
    r = cli.invoke(app, ["tickets", "deadline", "2026-11-02T10:00"])
    assert r.exit_code == 0 and r.stderr == ""
