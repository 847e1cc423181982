"""Console inbox in headless Chromium against the real app (uvicorn, temp SQLite): an agent logs in,
the header's badge (loaded by htmx) shows the unread notice, the inbox lists it, "mark read" clears
the badge."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from notify_support import free_port

from openability.app import create_app
from openability.bootstrap import build_container
from openability.config import Settings
from openability.kernel.clock import SystemClock
from openability.kernel.notify import notify
from openability.kernel.uow import SYSTEM
from openability.models import metadata

CHROMIUM = os.environ.get("OPENABILITY_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-sync",
]


def make_settings(tmp: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp / "data",
        database_url=f"sqlite+aiosqlite:///{tmp / 'browser.db'}",
        smsc_enabled=False,
        run_test_smsc=False,
        run_scheduler=False,
        _env_file=None,
    )


async def seed(settings: Settings) -> None:
    from openability.partners import identity

    c = build_container(settings, clock=SystemClock())
    try:
        async with c.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with c.uow(SYSTEM) as uow:
            agent = await identity.create_operator(
                uow, "agent.li", "Agent-pass-123", ["service_agent"], "李客服"
            )
            await uow.session.flush()
            await notify(
                uow,
                recipient=("operator", agent.id),
                kind="ticket-assigned",
                subject="新工单 tkt_demo: 短信资费咨询",
                body="浏览器测试科技 / consultation/tariffs",
            )
    finally:
        await c.dispose()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    settings = make_settings(tmp_path)
    asyncio.run(seed(settings))
    port = free_port()
    app = create_app(build_container(settings, clock=SystemClock()))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if not th.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(timeout=20)


@pytest.mark.browser
def test_agent_sees_the_badge_reads_the_notice_and_the_badge_clears(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: apt-get install -y chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            page.goto(f"{server}/console/login?next=/console/ops/tickets")
            page.fill("#username", "agent.li")
            page.fill("#password", "Agent-pass-123")
            page.click("#login-submit")
            expect(page).to_have_url(re.compile(r"/console/ops/tickets"))
            expect(page.locator("#unread-badge")).to_have_text("1")
            page.click("#inbox-link")
            expect(page).to_have_url(re.compile(r"/console/ops/notifications$"))
            row = page.locator("#inbox tbody tr", has_text="新工单 tkt_demo")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("未读")
            row.get_by_role("button", name="标为已读").click()
            expect(page).to_have_url(re.compile(r"flash="))
            expect(page.locator(".flash.ok")).to_have_text("已标为已读")
            expect(page.locator("#inbox tbody tr", has_text="新工单 tkt_demo")).to_contain_text("已读")
            expect(page.locator("#unread-total")).to_have_text("(未读 0)")
            expect(page.locator("#unread-badge")).to_have_count(0)
        finally:
            browser.close()
