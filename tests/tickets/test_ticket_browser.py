"""Console flow in headless Chromium against the real app (uvicorn, temp SQLite): a partner opens a
ticket in the portal, an agent answers it, the partner sees the answer (R-CS-01/02)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from openability.app import create_app
from openability.bootstrap import build_container
from openability.config import Settings
from openability.kernel.clock import SystemClock
from openability.kernel.ids import new_id
from openability.kernel.uow import SYSTEM
from openability.models import metadata

CHROMIUM = os.environ.get("OPENABILITY_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(tmp: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp / "data",
        database_url=f"sqlite+aiosqlite:///{tmp / 'browser.db'}",
        smsc_enabled=False,
        run_test_smsc=False,
        _env_file=None,
    )


async def seed(settings: Settings) -> None:
    """Tables and people, through the partners service (argon2 passwords, real login later)."""
    from openability.partners import identity
    from openability.partners.models import Partner
    from openability.partners.types import BillingMode, PartnerKind, PartnerStatus

    c = build_container(settings, clock=SystemClock())
    try:
        async with c.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with c.uow(SYSTEM) as uow:
            agent = await identity.create_operator(
                uow, "agent.li", "Agent-pass-123", ["service_agent"], "李客服"
            )
            now = uow.now
            p = Partner(
                id=new_id("prt"),
                kind=PartnerKind.AP,
                name="浏览器测试科技",
                billing_mode=BillingMode.PREPAID,
                status=PartnerStatus.ACTIVE,
                service_owner_id=agent.id,
                created_at=now,
                updated_at=now,
            )
            uow.session.add(p)
            await uow.session.flush()
            await identity.create_partner_user(
                uow, p.id, "partner.wang", "Partner-pass-123", "admin", "王经理"
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
def test_r_cs_01_partner_opens_agent_answers_partner_sees_answer(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: apt-get install -y chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            partner = browser.new_context(locale="zh-CN").new_page()
            partner.goto(f"{server}/console/login?next=/console/portal/tickets")
            partner.fill("#username", "partner.wang")
            partner.fill("#password", "Partner-pass-123")
            partner.click("#login-submit")
            expect(partner).to_have_url(re.compile(r"/console/portal/tickets$"))
            partner.select_option("#subtype", "tariffs")
            partner.fill("#subject", "短信资费咨询")
            partner.fill("#description", "请问行业短信的资费是多少？")
            partner.click("#submit-ticket")
            expect(partner).to_have_url(re.compile(r"/console/portal/tickets/tkt_"))
            found = re.search(r"tkt_[0-9a-z]+", partner.url)
            assert found is not None
            ticket_id = found.group(0)
            expect(partner.locator("#ticket-subject")).to_have_text("短信资费咨询")
            expect(partner.locator("#ticket-state")).to_have_text("已受理")
            expect(partner.locator("#deadlines .countdown").first).to_contain_text("剩余")

            agent = browser.new_context(locale="zh-CN").new_page()
            agent.goto(f"{server}/console/login?next=/console/ops/tickets")
            agent.fill("#username", "agent.li")
            agent.fill("#password", "Agent-pass-123")
            agent.click("#login-submit")
            expect(agent).to_have_url(re.compile(r"/console/ops/tickets"))
            row = agent.locator("#queue tbody tr", has_text="短信资费咨询")
            expect(row).to_have_count(1)
            expect(row.locator(".countdown")).to_contain_text("剩余")
            row.locator("a").first.click()
            expect(agent).to_have_url(re.compile(ticket_id))
            agent.fill("#answer-body", "您好，行业短信资费为 0.045 元/条。")
            agent.click("#answer-submit")
            expect(agent).to_have_url(re.compile(r"flash="))
            expect(agent.locator("#ticket-state")).to_have_text("处理中")

            partner.reload()
            expect(partner.locator("#conversation")).to_contain_text("您好，行业短信资费为 0.045 元/条。")
            expect(partner.locator("#ticket-state")).to_have_text("处理中")
        finally:
            browser.close()
