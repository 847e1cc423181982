"""`openability clock show` / `openability clock set`: the test clock from the command line, each command
a platform (process) of its own that reads the moved time from the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openability.cli import app
from openability.kernel.audit import AuditEntry
from openability.kernel.testclock import PlatformClock

Query = Callable[[str, Any], list[Any]]


@pytest.fixture
def cli_env(migrated_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENABILITY_DATABASE_URL", migrated_url)
    monkeypatch.setenv("OPENABILITY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENABILITY_TEST_CLOCK", "true")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    return migrated_url


def test_clock_set_moves_the_clock_every_later_command_sees_it_and_it_is_audited(
    cli_env: str, query: Query
) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["clock", "set", "2026-12-10T09:00+08:00"])
    assert r.exit_code == 0, r.output
    assert "to 2026-12-10T01:00:00+00:00" in r.output
    assert "business date: 2026-12-10" in r.output
    r = runner.invoke(app, ["clock", "show"])  # a new platform: reads the offset from the database
    assert r.exit_code == 0, r.output
    assert "business date: 2026-12-10" in r.output and "2026-12-10T09:" in r.output
    [(set_to, set_by)] = query(cli_env, select(PlatformClock.set_to, PlatformClock.set_by))
    assert set_by == "system:cli" and set_to.strftime("%Y-%m-%d %H:%M") == "2026-12-10 01:00"
    audit = query(
        cli_env,
        select(AuditEntry.actor_type, AuditEntry.actor_id, AuditEntry.after).where(
            AuditEntry.action == "clock.set"
        ),
    )
    assert audit == [("system", "cli", {"now": "2026-12-10T01:00:00+00:00"})]


def test_clock_set_refuses_backwards_and_bad_times_in_one_line(cli_env: str, query: Query) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["clock", "set", "2026-12-10T09:00+08:00"]).exit_code == 0
    for arg, words in (
        ("2026-12-09T09:00+08:00", "CLOCK_BACKWARDS"),
        ("2026-12-20T09:00", "NAIVE_TIME"),
        ("tomorrow", "not an ISO 8601 time"),
    ):
        r = runner.invoke(app, ["clock", "set", arg])
        assert r.exit_code == 1, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and words in lines[0], r.output
        assert "Traceback" not in r.output
    assert len(query(cli_env, select(AuditEntry.id).where(AuditEntry.action == "clock.set"))) == 1


def test_clock_commands_refuse_when_the_test_clock_is_off(
    cli_env: str, query: Query, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENABILITY_TEST_CLOCK")
    runner = CliRunner()
    for args in (["clock", "set", "2026-12-10T09:00+08:00"], ["clock", "show"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 1
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and "the test clock is off" in lines[0], r.output
    assert query(cli_env, select(PlatformClock.id)) == []
