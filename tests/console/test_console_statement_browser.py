"""A partner confirms its statement in headless Chromium (R-BILL-04): the real app served by uvicorn on
a demo database with the test clock on. The demo AP sends an MMS through the capability API (OAuth
client credentials, the simulated MMSC); the admin moves the test clock to the 5th of the next month,
which runs the bill run and the statement issue in the server; the AP logs in, opens its statement,
confirms it (the browser's confirm dialog accepted) and sees it confirmed. The billing clerk then sees
it confirmed on the clerk's pages and the dashboard draws its charts."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from openability.bootstrap import build_container
from openability.config import Settings
from openability.kernel.clock import SHANGHAI
from openability.kernel.migrate import upgrade
from openability.kernel.uow import SYSTEM
from openability.partners import identity
from openability.seed import DEMO_FILE, seed_demo

CHROMIUM = os.environ.get("OPENABILITY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SCREENSHOT = Path("/tmp/console-statement.png")
UVICORN = (sys.executable, "-m", "uvicorn", "openability.app:create_app", "--factory", "--host", "127.0.0.1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(settings: Settings) -> tuple[dict[str, Any], str]:
    """Migrated demo database; the demo credentials and an admin API token."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url())

    async def go() -> str:
        container = build_container(settings)
        try:
            await seed_demo(container)
            async with container.uow(SYSTEM) as uow:
                return await identity.create_operator_token(uow, "admin", "browser test")
        finally:
            await container.dispose()

    token = asyncio.run(go())
    return json.loads((settings.data_dir / DEMO_FILE).read_text()), token


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any], str]]:
    data = tmp_path / "data"
    env = os.environ | {
        "OPENABILITY_DATA_DIR": str(data),
        "OPENABILITY_RUN_TEST_SMSC": "false",
        "OPENABILITY_SMSC_ENABLED": "false",
        "OPENABILITY_DATABASE_URL": "",
        "OPENABILITY_TEST_CLOCK": "true",
    }
    settings = Settings(  # type: ignore[call-arg]
        data_dir=data,
        run_test_smsc=False,
        smsc_enabled=False,
        database_url="",
        test_clock=True,
        _env_file=None,
    )
    creds, token = _prepare(settings)
    port = _free_port()
    log = (tmp_path / "uvicorn.log").open("wb")
    proc = subprocess.Popen(
        [*UVICORN, "--port", str(port), "--log-level", "warning"],
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
        yield base, creds, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _bill_last_month(base: str, creds: dict[str, Any], admin_token: str) -> str:
    """One MMS of the demo AP this month, then the clock at 10:00 on the 5th of the next month (the
    server runs the bill run and issues the statements). Returns the billed month."""
    ap = creds["partners"]["ap"]
    with httpx.Client(base_url=base, timeout=30) as http:
        tok = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": ap["client_id"],
                "client_secret": ap["client_secret"],
            },
        )
        assert tok.status_code == 200, tok.text
        admin = {"Authorization": f"Bearer {admin_token}"}

        def balance() -> str:
            got = http.get(f"/api/v1/accounts/{ap['id']}", headers=admin)
            assert got.status_code == 200, got.text
            return str(got.json()["balance"])

        before = balance()
        part = {"contentType": "text/plain", "content": base64.b64encode(b"hello").decode()}
        r = http.post(
            "/capabilities/mms/v1/messages",
            json={"to": ["+8613800138000"], "subject": "hi", "parts": [part]},
            headers={"Authorization": f"Bearer {tok.json()['access_token']}"},
        )
        assert r.status_code == 201, r.text
        # The MMS's CDR commits behind its answer (docs/charging.md "When a call is answered"): the
        # clock moves only once the charge is booked, or the bill run could miss it.
        deadline = time.monotonic() + 10
        while balance() == before and time.monotonic() < deadline:
            time.sleep(0.05)
        now = datetime.fromisoformat(http.get("/api/v1/test/clock", headers=admin).json()["nowShanghai"])
        month = f"{now.year:04d}-{now.month:02d}"
        nxt = datetime(now.year + now.month // 12, now.month % 12 + 1, 5, 10, 0, tzinfo=SHANGHAI)
        r = http.post("/api/v1/test/clock", json={"now": nxt.isoformat()}, headers=admin)
        assert r.status_code == 200, r.text
        assert "issued" in json.dumps(r.json()["jobs"]), r.json()
    return month


@pytest.mark.browser
def test_r_bill_04_the_demo_ap_confirms_its_statement_in_the_browser(
    demo: tuple[str, dict[str, Any], str],
) -> None:
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (set OPENABILITY_CHROMIUM)"
    base, creds, admin_token = demo
    month = _bill_last_month(base, creds, admin_token)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
            page.on("dialog", lambda d: d.accept())  # the confirm button's "are you sure?"
            page.goto(f"{base}/console/login")
            page.fill("#username", "ap-demo")
            page.fill("#password", "demo12345")
            page.click("#login-submit")
            expect(page).to_have_url(f"{base}/console/portal")
            page.click("#nav-statements")
            expect(page.locator("h1")).to_contain_text("结算单")
            page.click(f"text={month}")
            expect(page.locator("#statement-state")).to_have_text("已出具")
            expect(page.locator("#statement-total")).to_have_text("¥0.30")  # one MMS at the list price
            page.click("#confirm-statement")
            expect(page.locator(".flash.ok")).to_have_text(f"已确认 {month} 结算单，合计 ¥0.30")
            expect(page.locator("#statement-state")).to_have_text("已确认")
            expect(page.locator("#confirm-statement")).to_have_count(0)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            # the billing clerk sees it confirmed, and the dashboard draws its charts (no script needed)
            page.click("#logout-form button")
            page.goto(f"{base}/console/login")
            page.fill("#username", "billing")
            page.fill("#password", "billing123")
            page.click("#login-submit")
            page.goto(f"{base}/console/ops/billing/statements?month={month}")
            expect(page.locator("#statements tbody tr").first).to_contain_text("已确认")
            page.goto(f"{base}/console/ops/billing/dashboard?month={month}")
            expect(page.locator(f"#month-{month}")).to_contain_text("¥0.30")
            expect(page.locator("svg.chart").first).to_be_visible()
            page.screenshot(path="/tmp/console-dashboard.png", full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
