"""Admission in headless Chromium (the real app served by uvicorn on a migrated demo database): an SI
applicant signs up, fills the wizard, uploads its certificates and business plan and submits; a reviewer
opens it from the queue, judges the checklist beside the documents and approves (R-ADMIT-04/05)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from openability.bootstrap import build_container
from openability.config import Settings
from openability.kernel.migrate import upgrade
from openability.seed import seed_demo

CHROMIUM = os.environ.get("OPENABILITY_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/console-admission-review.png")
CERTS = ("business_licence", "bank_account_permit", "tax_registration", "org_code_certificate")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    data = tmp_path / "data"
    settings = Settings(
        data_dir=data, run_test_smsc=False, smsc_enabled=False, database_url="", _env_file=None
    )  # type: ignore[call-arg]
    data.mkdir(parents=True)
    upgrade(settings.effective_database_url())

    async def seed() -> None:
        c = build_container(settings)
        try:
            await seed_demo(c)
        finally:
            await c.dispose()

    asyncio.run(seed())
    port = _free_port()
    env = os.environ | {
        "OPENABILITY_DATA_DIR": str(data),
        "OPENABILITY_RUN_TEST_SMSC": "false",
        "OPENABILITY_SMSC_ENABLED": "false",
        "OPENABILITY_DATABASE_URL": "",
    }
    log = (tmp_path / "uvicorn.log").open("wb")
    cmd = [sys.executable, "-m", "uvicorn", "openability.app:create_app", "--factory", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--host", "127.0.0.1", "--log-level", "warning"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError("uvicorn exited:\n" + (tmp_path / "uvicorn.log").read_text())
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start:\n" + (tmp_path / "uvicorn.log").read_text())
            time.sleep(0.1)  # waiting for a server process to listen, not timing business logic
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.browser
def test_r_admit_05_an_applicant_submits_and_a_reviewer_approves(served: str, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (set OPENABILITY_CHROMIUM)"
    pdf = tmp_path / "营业执照.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% browser test\n")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
            page.goto(f"{served}/console/apply")
            for field, value in (
                ("#name", "浏览器集成有限公司"),
                ("#contact_name", "郑十一"),
                ("#contact_email", "browser@example.com"),
                ("#contact_phone", "13900139000"),
                ("#username", "browser-si"),
                ("#password", "Secret123"),
                ("#password2", "Secret123"),
            ):
                page.fill(field, value)
            page.click("#apply-submit")
            expect(page.locator("#application-state")).to_have_text("草稿")
            expect(page.locator("#checks li").first).to_contain_text("证照缺失")

            page.fill("#registered_capital", "3000000.00")
            page.fill("#intended_products", "sms-standard")
            page.click("#fields-submit")
            expect(page.locator(".flash.ok")).to_have_text("已保存")
            for kind in CERTS:
                page.select_option("#kind", kind)
                page.fill("#number", f"{kind}-2026")
                page.fill("#issuer", "上海市市场监督管理局")
                page.fill("#valid_from", "2020-01-01")
                page.fill("#valid_to", "2030-12-31")
                page.set_input_files("#file", str(pdf))
                page.click("#upload-submit")
                expect(page.locator(".flash.ok")).to_have_text("材料已上传")
            page.select_option("#kind", "business_plan")
            page.set_input_files("#file", str(pdf))
            page.click("#upload-submit")
            expect(page.locator("#checks-ok")).to_be_visible()
            page.click("#submit-application")
            expect(page.locator("#application-state")).to_have_text("已提交")
            page.click("#logout-form button")

            page.goto(f"{served}/console/login")
            page.fill("#username", "admin")
            page.fill("#password", "admin1234")
            page.click("#login-submit")
            page.goto(f"{served}/console/ops/admission")
            page.click("#queue a:has-text('apl_')")
            expect(page.locator("#document-preview")).to_be_visible()
            for item in ("compliance", "industry_expertise", "service_system"):
                page.check(f"#pass-{item}")
                page.fill(f"#comment-{item}", "符合入驻要求")
            page.select_option("#decision-select", "approve")
            page.click("#decide")
            expect(page.locator("#application-state")).to_have_text("审核通过")
            expect(page.locator("#contract-form")).to_be_visible()
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
