"""Demo data only in the demo (issue 8 item 3): `openability run` (production) seeds nothing, shows no
credential and says how to create the first admin; `openability run --demo` (`make run`) seeds the demo,
turns the test clock and sandbox payments on, and prints its credentials to the terminal only, never
through `logging`. `openability operators create-admin` creates the first admin."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from openability import runner as runner_module
from openability.cli import app
from openability.config import Settings
from openability.kernel.audit import AuditEntry
from openability.partners.models import Operator, Partner
from openability.runner import prepare, production_banner

Query = Callable[[str, Any], list[Any]]
CREATE_ADMIN = "openability operators create-admin USERNAME"
DEMO_SWITCHES = ("OPENABILITY_TEST_CLOCK", "OPENABILITY_PAYMENTS_SANDBOX")


@pytest.fixture
def start_env(migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment of a start in tmp_path; the demo switches start off (and are put back after the
    test, whatever `--demo` sets)."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "OPENABILITY_DATABASE_URL": migrated_url,
        "OPENABILITY_DATA_DIR": str(tmp_path / "var"),
        "OPENABILITY_RUN_TEST_SMSC": "false",
        "OPENABILITY_SMSC_ENABLED": "false",
        "OPENABILITY_TEST_CLOCK": "false",
        "OPENABILITY_PAYMENTS_SANDBOX": "false",
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENABILITY_ADMIN_PASSWORD", raising=False)
    return migrated_url


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str | None]]:
    """Stands in for the server: records the demo switches the worker processes would inherit. The
    process-wide logging set-up is left alone (the test run's logging stays as it is)."""
    calls: list[dict[str, str | None]] = []

    def fake_run(target: str, **_: Any) -> None:
        assert target == "openability.app:create_app"
        calls.append({name: os.environ.get(name) for name in DEMO_SWITCHES})

    monkeypatch.setattr(runner_module.uvicorn, "run", fake_run)
    monkeypatch.setattr(runner_module.logs, "configure", lambda *a, **k: None)
    return calls


def counts(url: str, query: Query) -> tuple[int, int]:
    [(ops,)] = query(url, select(func.count()).select_from(Operator))
    [(partners,)] = query(url, select(func.count()).select_from(Partner))
    return ops, partners


def test_a_production_start_seeds_nothing_shows_no_secret_and_names_create_admin(
    start_env: str, served: list[dict[str, str | None]], query: Query, tmp_path: Path
) -> None:
    r = CliRunner().invoke(app, ["run"])
    assert r.exit_code == 0, r.output
    assert counts(start_env, query) == (0, 0)  # no operator, no partner, no money
    assert CREATE_ADMIN in r.output and "OPENABILITY_ADMIN_PASSWORD" in r.output
    for secret_word in ("admin1234", "demo12345", "Bearer", "client_secret", "ap-demo"):
        assert secret_word not in r.output
    assert not (tmp_path / "var" / "demo-credentials.json").exists()
    assert served == [{"OPENABILITY_TEST_CLOCK": "false", "OPENABILITY_PAYMENTS_SANDBOX": "false"}]


def test_a_demo_start_seeds_the_demo_and_turns_on_the_test_clock_and_sandbox_payments(
    start_env: str, served: list[dict[str, str | None]], query: Query
) -> None:
    r = CliRunner().invoke(app, ["run", "--demo"])
    assert r.exit_code == 0, r.output
    assert counts(start_env, query) == (4, 3)  # admin, lead, agent, billing; the demo AP and SIs
    assert "admin/admin1234" in r.output and "Bearer " in r.output and CREATE_ADMIN not in r.output
    assert "openability clock set" in r.output
    assert served == [{"OPENABILITY_TEST_CLOCK": "true", "OPENABILITY_PAYMENTS_SANDBOX": "true"}]
    settings = Settings()  # what a worker process reads
    assert settings.test_clock and settings.payments_sandbox
    # a second demo start finds the demo and seeds nothing more
    assert CliRunner().invoke(app, ["run", "--demo"]).exit_code == 0
    assert counts(start_env, query) == (4, 3)


def test_the_demo_start_writes_no_secret_through_logging(
    start_env: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(test_clock=True, payments_sandbox=True)
    banner = asyncio.run(prepare(settings, demo=True))
    creds = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())
    tokens = [w for w in banner.replace("'", " ").split() if len(w) > 30 and "/" not in w]
    secrets = [
        creds["partners"]["ap"]["client_secret"],
        creds["partners"]["si"]["client_secret"],
        *creds["operators"].values(),
        *tokens,
    ]
    assert len(tokens) >= 2  # the OAuth token and the login token are in the banner
    assert creds["partners"]["ap"]["client_secret"] in banner
    logged = "\n".join(f"{rec.getMessage()} {rec.args!r} {rec.__dict__!r}" for rec in caplog.records)
    assert caplog.records  # the capture works (start-up logs something at DEBUG)
    for secret in secrets:
        assert secret not in logged


def test_the_production_banner_hides_the_database_password(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        database_url="postgresql+asyncpg://openability:S3cretPw@db.internal:5432/oa",
        data_dir=tmp_path,
        _env_file=None,
    )
    banner = production_banner(settings, has_operators=True)
    assert "S3cretPw" not in banner and "db.internal:5432/oa" in banner
    assert CREATE_ADMIN not in banner  # an installation with operators is not asked again


def test_create_admin_reads_the_password_from_the_environment_and_never_prints_it(
    start_env: str, served: list[dict[str, str | None]], query: Query, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENABILITY_ADMIN_PASSWORD", "Sup3rSecretPw")
    r = CliRunner().invoke(app, ["operators", "create-admin", "Chief", "--display-name", "总管理员"])
    assert r.exit_code == 0, r.output
    assert "chief" in r.output and "Sup3rSecretPw" not in r.output
    assert query(start_env, select(Operator.username, Operator.roles)) == [("chief", ["admin"])]
    audit = query(
        start_env,
        select(AuditEntry.actor_type, AuditEntry.actor_id).where(AuditEntry.action == "operator.created"),
    )
    assert audit == [("system", "cli")]
    # the next production start has its admin: it no longer asks for one
    r = CliRunner().invoke(app, ["run"])
    assert r.exit_code == 0 and CREATE_ADMIN not in r.output


def test_create_admin_prompts_for_the_password_twice_without_echoing_it(start_env: str, query: Query) -> None:
    r = CliRunner().invoke(
        app, ["operators", "create-admin", "chief"], input="Sup3rSecretPw\nSup3rSecretPw\n"
    )
    assert r.exit_code == 0, r.output
    assert "Sup3rSecretPw" not in r.output
    assert query(start_env, select(Operator.username)) == [("chief",)]


@pytest.mark.parametrize("weak", ["short1", "onlyletters", "1234567890"])
def test_create_admin_refuses_a_weak_password_in_one_line(
    start_env: str, query: Query, monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv("OPENABILITY_ADMIN_PASSWORD", weak)
    r = CliRunner().invoke(app, ["operators", "create-admin", "chief"])
    assert r.exit_code == 1
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "WEAK_PASSWORD" in lines[0], r.output
    assert weak not in r.output
    assert counts(start_env, query) == (0, 0)


def test_a_production_start_on_a_database_whose_clock_a_demo_moved_warns(
    start_env: str, served: list[dict[str, str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CliRunner().invoke(app, ["run", "--demo"]).exit_code == 0
    r = CliRunner().invoke(app, ["clock", "set", "2030-01-01T00:00+08:00"])  # --demo left the switch on
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("OPENABILITY_TEST_CLOCK", "false")
    r = CliRunner().invoke(app, ["run"])
    assert r.exit_code == 0, r.output
    assert "Warning: the test clock of a demo moved this database's time" in r.output
    assert "admin1234" not in r.output and CREATE_ADMIN not in r.output
