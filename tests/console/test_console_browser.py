"""One end-to-end console flow in headless Chromium: the real app served by uvicorn in a subprocess
on a demo database; the demo AP logs in, sees its 100.00 top-up as the available balance, and
switches the console to English."""

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
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/console-portal.png")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_database(settings: Settings) -> None:
    """Schema by the Alembic migrations (as `make run` does), then the demo seed."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url())

    async def go() -> None:
        container = build_container(settings)
        try:
            await seed_demo(container)
        finally:
            await container.dispose()

    asyncio.run(go())


@pytest.fixture
def served_app(tmp_path: Path) -> Iterator[str]:
    data = tmp_path / "data"
    env = os.environ | {
        "OPENABILITY_DATA_DIR": str(data),
        "OPENABILITY_RUN_TEST_SMSC": "false",
        "OPENABILITY_SMSC_ENABLED": "false",
        "OPENABILITY_DATABASE_URL": "",
    }
    settings = Settings(
        data_dir=data, run_test_smsc=False, smsc_enabled=False, database_url="", _env_file=None
    )  # type: ignore[call-arg]
    prepare_database(settings)
    port = free_port()
    log = (tmp_path / "uvicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "openability.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=tmp_path,  # no stray .env file is read
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
def test_demo_ap_logs_in_and_sees_its_balance(served_app: str) -> None:
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (set OPENABILITY_CHROMIUM)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.goto(f"{served_app}/console/portal")
            expect(page).to_have_url(f"{served_app}/console/login?next=/console/portal")
            page.fill("#username", "ap-demo")
            page.fill("#password", "demo12345")
            page.click("#login-submit")
            expect(page).to_have_url(f"{served_app}/console/portal")
            expect(page.locator("#balance-available")).to_have_text("¥100.0000")
            expect(page.locator("h2").first).to_have_text("账户余额")
            expect(page.locator("#partner-name")).to_contain_text("演示应用科技有限公司")
            page.click("#lang-switch")
            expect(page.locator("h2").first).to_have_text("Balance")
            expect(page.locator("#balance-available")).to_have_text("¥100.0000")
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            # the language choice sticks for the next page
            page.goto(f"{served_app}/console/portal/topup")
            expect(page.locator("h1")).to_have_text("Top-up and invoices")
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
