"""`openability notifications deliver|log` on a migrated database (the migration's columns and the
delivery log table in use), and the notifications models kept private by the import contracts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from notify_support import MailServer
from typer.testing import CliRunner

from openability import bootstrap
from openability.cli import app
from openability.config import Settings
from openability.kernel import commands
from openability.kernel.clock import FrozenClock
from openability.kernel.ids import new_id
from openability.kernel.migrate import upgrade
from openability.kernel.notify import notify
from openability.partners.models import Operator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock, settings: Settings) -> CliRunner:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    cli_settings = settings.model_copy(update={"database_url": url})
    real = bootstrap.build_container

    def build(*_: object, **__: object) -> bootstrap.Container:
        return real(cli_settings, clock=clock)

    upgrade(url)
    monkeypatch.setattr(bootstrap, "build_container", build)
    monkeypatch.setattr(commands, "_factory", build)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def _queue(email: str) -> str:
    async def go() -> str:
        c = bootstrap.build_container()
        try:
            async with c.uow() as uow:
                op = Operator(
                    id=new_id("opr"),
                    username=f"op-{new_id('x')[-6:]}",
                    email=email,
                    password_hash="x",
                    roles=["service_agent"],
                    active=True,
                    created_at=uow.now,
                )
                uow.session.add(op)
                await uow.session.flush()
                n = await notify(uow, recipient=("operator", op.id), kind="test", subject="测试", body="正文")
                assert n is not None
                return n.id
        finally:
            await c.dispose()

    return asyncio.run(go())


def test_cli_deliver_and_log(cli: CliRunner, smtp_server: MailServer) -> None:
    sent = _queue("agent@example.com")
    skipped = _queue("")
    r = cli.invoke(app, ["notifications", "deliver"])
    assert r.exit_code == 0, r.output
    assert "sent 1, retry 0, failed 0, skipped 1" in r.output
    assert len(smtp_server.received) == 1
    r = cli.invoke(app, ["notifications", "log"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert sent in r.output and skipped in r.output and "agent@example.com" in r.output
    r = cli.invoke(app, ["notifications", "log", "--outcome", "skipped"], env={"COLUMNS": "200"})
    assert skipped in r.output and sent not in r.output
    r = cli.invoke(app, ["notifications", "log", "--outcome", "lost"])
    assert r.exit_code == 2


def test_another_domain_reaching_into_notifications_models_fails_the_lint(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # the gateway sits above notifications: only the models-private contract forbids this
    target = tmp_path / "src" / "openability" / "gateway" / "api.py"
    target.write_text(
        target.read_text()
        + "\nfrom openability.notifications.models import DeliveryAttempt as _D  # planted\n"
    )
    r = subprocess.run(
        [
            str(Path(sys.executable).with_name("lint-imports")),
            "--no-logo",
            "--no-cache",
            "--config",
            str(tmp_path / "pyproject.toml"),
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "notifications/models.py is private" in r.stdout.replace("\n", " ")
    assert "openability.gateway.api -> openability.notifications.models" in r.stdout
