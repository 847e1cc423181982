"""`openability admission …` on a migrated database: the queue, an application's file, a decision with
the checklist (R-ADMIT-04), the contract, exit bans (R-EXIT-03) and termination."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from admission_support import PDF, credit_code
from typer.testing import CliRunner

from openability.admission import service
from openability.admission.schemas import RegisterApplicantIn
from openability.admission.types import DocumentKind
from openability.bootstrap import build_container
from openability.config import Settings
from openability.kernel.migrate import upgrade

CERTS = (
    DocumentKind.BUSINESS_LICENCE,
    DocumentKind.BANK_ACCOUNT_PERMIT,
    DocumentKind.TAX_REGISTRATION,
    DocumentKind.ORG_CODE_CERTIFICATE,
)


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("OPENABILITY_DATABASE_URL", url)
    monkeypatch.setenv("OPENABILITY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    return Settings(database_url=url, data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


def submitted_application(settings: Settings) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        from datetime import date

        c = build_container(settings)
        try:
            async with c.uow() as uow:
                cmd = RegisterApplicantIn.model_validate(
                    {
                        "name": "命令行集成有限公司",
                        "username": "cli-applicant",
                        "password": "Secret123",
                        "contactName": "周九",
                        "contactEmail": "cli@example.com",
                        "contactPhone": "13900139000",
                        "creditCode": credit_code(21),
                        "registeredCapital": "3000000.00",
                        "intendedProducts": ["sms-standard"],
                    }
                )
                pid, _, app = await service.register_applicant(uow, cmd)
                for kind in (*CERTS, DocumentKind.BUSINESS_PLAN):
                    cert = kind in CERTS
                    await service.add_document(
                        uow,
                        app.id,
                        service.Upload(
                            kind,
                            "材料.pdf",
                            PDF,
                            "N-1" if cert else "",
                            "某局" if cert else "",
                            date(2020, 1, 1) if cert else None,
                            date(2035, 1, 1) if cert else None,
                        ),
                    )
                await service.submit(uow, app.id)
                return pid, app.id
        finally:
            await c.dispose()

    return asyncio.run(go())


def test_cli_queue_show_decide_contract_ban_terminate(cli_db: Settings) -> None:
    from openability.cli import app

    pid, app_id = submitted_application(cli_db)
    run = CliRunner().invoke
    r = run(app, ["admission", "list", "--state", "submitted"])
    assert r.exit_code == 0 and app_id in r.output and "命令行集成有限公司" in r.output, r.output
    r = run(app, ["admission", "show", app_id])
    assert r.exit_code == 0 and "submitted" in r.output and "business_licence" in r.output, r.output
    # R-ADMIT-04: no approval without the checklist
    r = run(app, ["admission", "decide", app_id, "approve"])
    assert r.exit_code == 1 and "CHECKLIST_INCOMPLETE" in r.output
    r = run(app, ["admission", "decide", app_id, "approve", "--pass", "wizardry:x"])
    assert r.exit_code == 1 and "INVALID_ITEM" in r.output
    checks = [
        "--pass",
        "compliance:合规",
        "--pass",
        "industry_expertise:团队扎实",
        "--pass",
        "service_system:体系完整",
    ]
    r = run(app, ["admission", "decide", app_id, "approve", *checks, "--reviewer", "审核员赵"])
    assert r.exit_code == 0 and "approved" in r.output, r.output
    r = run(app, ["admission", "show", app_id])
    assert "审核员赵" in r.output
    contract = [
        "--number",
        "CLI-1",
        "--billing-mode",
        "postpaid",
        "--valid-from",
        "2026-01-01",
        "--valid-to",
        "2099-12-31",
    ]
    r = run(app, ["admission", "contract", app_id, *contract])
    assert r.exit_code == 1 and "DEPOSIT_REQUIRED" in r.output
    r = run(app, ["admission", "contract", app_id, *contract, "--deposit", "20000.00"])
    assert r.exit_code == 0 and "CLI-1" in r.output, r.output
    r = run(app, ["admission", "activate", app_id])
    assert r.exit_code == 1 and "ACTIVATION_BLOCKED" in r.output and "deposit" in r.output
    # R-EXIT-03
    r = run(app, ["admission", "ban", "--reason", "考核不合格", "--company-name", "别家集成有限公司"])
    assert r.exit_code == 0 and "until" in r.output, r.output
    r = run(app, ["admission", "ban", "--reason", "x"])
    assert r.exit_code == 1 and "BAN_SUBJECT" in r.output
    r = run(app, ["admission", "terminate", pid, "--reason", "考核不合格", "--failed-assessment"])
    assert r.exit_code == 0 and "exited" in r.output, r.output
    r = run(app, ["admission", "bans"])
    assert r.exit_code == 0 and credit_code(21) in r.output and "别家集成有限公司" in r.output, r.output
