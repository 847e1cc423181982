"""The portal's top-up page: the sandbox is offered on demo installations only (settings.payments_sandbox)
and refused otherwise; online payment through a provider (a fake provider server the test starts)
creates an order the partner pays from the page, credited when the provider's notification arrives."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.billing.models import Payment
from openability.bootstrap import Container
from openability.config import Settings
from support_fake_providers import FakeProviders, configure, started


def balance_of(html: str) -> str:
    m = re.search(r'id="balance-available">([^<]+)<', html)
    assert m, "no #balance-available on the page"
    return m.group(1)


def tx_of(html: str, form_id: str) -> str:
    form = html.split(f'id="{form_id}"', 1)[1]
    m = re.search(r'name="transaction_id" value="([^"]+)"', form)
    assert m
    return m.group(1)


async def payments(container: Container) -> int:
    async with container.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Payment)) or 0)


async def test_the_sandbox_is_neither_offered_nor_accepted_when_off(
    browser: Any, world: Any, container: Container, assert_ledger_clean: Any
) -> None:
    await browser.login("ap1user")
    page = await browser.get("/console/portal/topup")
    assert page.status_code == 200
    assert 'id="topup-form"' not in page.text and "沙箱" not in page.text
    assert 'id="online-form"' not in page.text  # no provider configured either
    assert 'id="transfer-form"' in page.text
    # a hand-made post of the old sandbox form mints nothing
    r = await browser.post("/console/portal/topup", {"amount": "0.01", "transaction_id": "web-mint-1"})
    page = await browser.follow(r)
    kind, text = browser.flash(page)
    assert kind == "err" and "sandbox" in text
    assert balance_of(page.text) == "¥100.0000"
    assert await payments(container) == 1  # the world's bank transfer only
    await assert_ledger_clean()


@pytest.mark.payments_sandbox
async def test_the_sandbox_is_offered_on_a_demo_installation(browser: Any, world: Any) -> None:
    await browser.login("ap1user")
    page = await browser.get("/console/portal/topup")
    assert 'id="topup-form"' in page.text and "沙箱充值（演示）" in page.text


class TestOnline:
    @pytest.fixture
    async def fake(self, tmp_path: Path) -> AsyncIterator[FakeProviders]:
        async with started(tmp_path) as providers:
            yield providers

    @pytest.fixture
    def settings(self, settings: Settings, fake: FakeProviders, tmp_path: Path) -> Settings:
        return configure(settings, fake, tmp_path)

    async def test_pay_online_from_the_portal(
        self, browser: Any, world: Any, fake: FakeProviders, container: Container, assert_ledger_clean: Any
    ) -> None:
        await browser.login("ap1user")
        page = await browser.get("/console/portal/topup")
        assert 'id="online-form"' in page.text and "支付宝" in page.text and "微信支付" in page.text
        tx = tx_of(page.text, "online-form")
        data = {"amount": "88.00", "provider": "alipay", "transaction_id": tx}
        page = await browser.follow(await browser.post("/console/portal/pay-online", data))
        kind, text = browser.flash(page)
        assert kind == "ok" and "支付订单已创建" in text
        assert balance_of(page.text) == "¥100.0000"  # not before the provider confirms
        (order_id,) = [k for k, o in fake.orders.items() if o.amount == "88.00"]
        pending = page.text.split('id="pending-online"', 1)[1]
        assert f"https://qr.fake/alipay/{order_id}" in pending and "支付宝" in pending
        # the same form again: the same order, not a second one
        page = await browser.follow(await browser.post("/console/portal/pay-online", data))
        assert "未重复入账" in page.text and len(fake.orders) == 1
        # the payer pays; the provider tells the platform
        fake.notifier = browser.client
        r = await fake.notify("alipay", fake.alipay_fields(order_id))
        assert r.text == "success"
        page = await browser.get("/console/portal/topup")
        assert balance_of(page.text) == "¥188.0000" and 'id="pending-online"' not in page.text
        await assert_ledger_clean()
