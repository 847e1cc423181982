"""Partner portal pages: home (balances, this month's usage), API clients, orders, top-up and
invoices, usage. Data made with the real services; pages reached through the whole app."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.billing.models import Payment
from openability.billing.types import PaymentState
from openability.bootstrap import Container
from openability.catalog.models import Product, ProductOrder
from openability.catalog.types import OrderState
from openability.charging.models import UsageDaily
from openability.kernel.audit import AuditEntry
from openability.partners.models import ApiClient

PORTAL_PAGES = [
    ("/console/portal", "账户余额", "Balance"),
    ("/console/portal/clients", "创建凭证", "Create a client"),
    ("/console/portal/orders", "我的订单", "My orders"),
    ("/console/portal/topup", "银行转账通知", "Bank transfer notice"),
    ("/console/portal/usage", "导出 CSV", "Export CSV"),
]


def balance_of(html: str) -> str:
    m = re.search(r'id="balance-available">([^<]+)<', html)
    assert m, "no #balance-available on the page"
    return m.group(1)


def tx_of(html: str, form_id: str) -> str:
    form = html.split(f'id="{form_id}"', 1)[1]
    m = re.search(r'name="transaction_id" value="([^"]+)"', form)
    assert m
    return m.group(1)


async def test_portal_home_shows_balance_in_zh_and_en(browser: Any, world: Any) -> None:
    await browser.login("ap1user")
    r = await browser.get("/console/portal")
    assert r.status_code == 200
    assert balance_of(r.text) == "¥100.0000"
    assert "账户余额" in r.text and "本月用量" in r.text and 'lang="zh-CN"' in r.text
    assert 'id="balance-reserved">¥0.0000' in r.text
    assert 'id="active-orders">1<' in r.text
    assert "本月暂无用量" in r.text
    r = await browser.get("/console/portal?lang=en")
    assert "Balance" in r.text and "This month" in r.text and "账户余额" not in r.text
    assert r.cookies.get("lang") == "en"
    browser.client.cookies.set("lang", "en")
    r = await browser.get("/console/portal")  # the switch sticks (cookie)
    assert "Available balance" in r.text


@pytest.mark.parametrize(("url", "zh", "en"), PORTAL_PAGES)
async def test_every_portal_page_renders_in_zh_and_en(
    browser: Any, world: Any, url: str, zh: str, en: str
) -> None:
    await browser.login("ap1user")
    r = await browser.get(url)
    assert r.status_code == 200, r.text[:300]
    assert zh in r.text
    r = await browser.get(url + "?lang=en")
    assert r.status_code == 200 and en in r.text and zh not in r.text


async def test_portal_needs_login(browser: Any, world: Any) -> None:
    r = await browser.get("/console/portal/topup")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?next=/console/portal/topup"
    r = await browser.post("/console/portal/topup", {"amount": "1.00", "transaction_id": "x1"}, csrf=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


async def test_operator_is_sent_from_portal_to_ops_home(browser: Any, world: Any) -> None:
    await browser.login("root")
    r = await browser.get("/console/portal")
    assert r.status_code == 303 and r.headers["location"] == "/console/ops/partners"


async def test_home_shows_this_months_usage_by_product(
    browser: Any, world: Any, container: Container
) -> None:
    async with container.uow() as uow:
        sms = await uow.session.scalar(select(Product).where(Product.code == "sms-standard"))
        assert sms is not None
        for day, calls, qty, amount in ((1, 3, 4, "0.2000"), (2, 10, 12, "0.6000")):
            uow.session.add(
                UsageDaily(
                    partner_id=world.ap_id,
                    product_id=sms.id,
                    day=date(2026, 11, day),
                    price_plan_id="pp_test",
                    band="list",
                    scope="national",
                    month="2026-11",
                    calls=calls,
                    quantity=qty,
                    amount=Decimal(amount),
                )
            )
        # last month and another partner's usage must not show
        uow.session.add(
            UsageDaily(
                partner_id=world.ap_id,
                product_id=sms.id,
                day=date(2026, 10, 30),
                price_plan_id="pp_test",
                band="list",
                scope="national",
                month="2026-10",
                calls=99,
                quantity=99,
                amount=Decimal("9.0000"),
            )
        )
        uow.session.add(
            UsageDaily(
                partner_id=world.ap2_id,
                product_id=sms.id,
                day=date(2026, 11, 1),
                price_plan_id="pp_test",
                band="list",
                scope="national",
                month="2026-11",
                calls=7,
                quantity=7,
                amount=Decimal("7.0000"),
            )
        )
    await browser.login("ap1user")
    r = await browser.get("/console/portal")
    table = r.text.split('id="usage-by-product"', 1)[1].split("</table>", 1)[0]
    assert "标准短信" in table and ">13<" in table and ">16<" in table and "¥0.8000" in table
    assert "¥9.0000" not in r.text and "¥7.0000" not in r.text
    assert '<svg class="chart"' in r.text
    r = await browser.get("/console/portal/usage?month=2026-10")
    assert 'id="usage-month">2026-10<' in r.text and "¥9.0000" in r.text
    csv_url = re.search(r'id="usage-csv"', r.text) and re.search(r'href="([^"]+)" id="usage-csv"', r.text)
    assert csv_url
    url = csv_url.group(1).replace("&amp;", "&")
    assert url == "/api/v1/usage?format=csv&month=2026-10"
    csv = await browser.get(url)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "sms-standard" in csv.text and "9.0000" in csv.text
    r = await browser.get("/console/portal/usage?month=2026-13")
    assert r.status_code == 303
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err" and "YYYY-MM" in page.text
    assert 'id="usage-month">2026-11<' in page.text


async def test_client_secret_shown_once_then_revoke(browser: Any, world: Any, container: Container) -> None:
    await browser.login("ap1user")
    r = await browser.post("/console/portal/clients", {"name": "my app", "scopes": ["sms", "voice"]})
    assert r.status_code == 201
    cid = re.search(r'id="new-client-id">([^<]+)<', r.text)
    secret = re.search(r'id="new-client-secret">([^<]+)<', r.text)
    assert cid and secret and len(secret.group(1)) > 20
    assert "只显示这一次" in r.text
    listing = await browser.get("/console/portal/clients")
    assert cid.group(1) in listing.text and secret.group(1) not in listing.text
    # the secret works for the OAuth token endpoint
    tok = await browser.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cid.group(1),
            "client_secret": secret.group(1),
        },
    )
    assert tok.status_code == 200, tok.text
    r = await browser.post(f"/console/portal/clients/{cid.group(1)}/revoke")
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok" and "已吊销" in page.text
    async with container.uow() as uow:
        c = await uow.session.get(ApiClient, cid.group(1))
        assert c is not None and not c.active
        audited = await uow.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "client.revoked")
        )
        assert audited == 1


async def test_client_form_errors_and_csrf(browser: Any, world: Any, container: Container) -> None:
    await browser.login("ap1user")
    r = await browser.post("/console/portal/clients", {"name": "no scopes"})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err"
    r = await browser.post("/console/portal/clients", {"name": "", "scopes": ["sms"]})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err" and "name" in browser.flash(page)[1]
    r = await browser.post("/console/portal/clients", {"name": "forged", "scopes": ["sms"]}, csrf=False)
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err" and "表单已过期" in page.text
    r = await browser.post("/console/portal/clients", {"name": "x", "scopes": ["sms"], "csrf": "0" * 40})
    assert r.status_code == 303
    # revoking another partner's client: not found, nothing changes
    r = await browser.post("/console/portal/clients/cli_nope/revoke")
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err"
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(ApiClient)) == 0


async def test_order_and_cancel_products(browser: Any, world: Any, container: Container) -> None:
    await browser.login("ap1user")
    r = await browser.get("/console/portal/orders")
    assert 'id="order-mms-standard"' in r.text and 'id="order-sms-standard"' not in r.text  # already ordered
    r = await browser.post("/console/portal/orders", {"product": "mms-standard"})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok" and "订购成功" in page.text
    assert 'id="order-mms-standard"' not in page.text
    r = await browser.post("/console/portal/orders", {"product": "mms-standard"})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err" and "already ordered" in page.text
    r = await browser.post("/console/portal/orders", {"product": "no-such-product"})
    assert browser.flash(await browser.follow(r))[0] == "err"
    r = await browser.post("/console/portal/orders", {"product": ""})
    assert browser.flash(await browser.follow(r))[0] == "err"
    async with container.uow() as uow:
        order = await uow.session.scalar(
            select(ProductOrder)
            .where(ProductOrder.partner_id == world.ap_id, ProductOrder.active.is_(True))
            .limit(1)
        )
        assert order is not None
        oid = order.id
    r = await browser.post(f"/console/portal/orders/{oid}/cancel", {"reason": "不再需要"})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok"
    async with container.uow() as uow:
        o = await uow.session.get(ProductOrder, oid)
        assert o is not None and o.state == OrderState.CANCELLED and o.note == "不再需要"


@pytest.mark.payments_sandbox
async def test_sandbox_topup_is_idempotent_per_form(
    browser: Any, world: Any, container: Container, assert_ledger_clean: Any
) -> None:
    await browser.login("ap1user")
    form = await browser.get("/console/portal/topup")
    tx = tx_of(form.text, "topup-form")
    assert tx != tx_of(form.text, "transfer-form")
    r = await browser.post("/console/portal/topup", {"amount": "50.00", "transaction_id": tx})
    page = await browser.follow(r)
    assert browser.flash(page) == ("ok", "充值成功：¥50.00")
    assert balance_of(page.text) == "¥150.0000"
    assert "INV-202611-" in page.text
    r = await browser.post(
        "/console/portal/topup", {"amount": "50.00", "transaction_id": tx}
    )  # double submit
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok" and "未重复入账" in page.text
    assert balance_of(page.text) == "¥150.0000"
    fresh = await browser.get("/console/portal/topup")
    assert tx_of(fresh.text, "topup-form") != tx  # each render: a new transaction id
    await assert_ledger_clean()


@pytest.mark.payments_sandbox
@pytest.mark.parametrize("amount", ["abc", "1.234", "-5", "0", "", "1e3", "9999999.00"])
async def test_bad_topup_amount_is_an_error_not_a_500(
    browser: Any, world: Any, container: Container, amount: str
) -> None:
    await browser.login("ap1user")
    r = await browser.post("/console/portal/topup", {"amount": amount, "transaction_id": "web-bad-1"})
    assert r.status_code == 303
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err", amount
    assert balance_of(page.text) == "¥100.0000"
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Payment)) == 1


async def test_bank_transfer_notice_stays_pending(browser: Any, world: Any, container: Container) -> None:
    await browser.login("ap1user")
    form = await browser.get("/console/portal/topup")
    tx = tx_of(form.text, "transfer-form")
    r = await browser.post("/console/portal/transfer", {"amount": "300.00", "transaction_id": tx})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err"  # bank reference required
    r = await browser.post(
        "/console/portal/transfer",
        {"amount": "300.00", "transaction_id": tx, "bank_reference": "ICBC-778899"},
    )
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok" and "待平台确认" in page.text
    assert balance_of(page.text) == "¥100.0000"
    assert "ICBC-778899" in page.text.split('id="pending-transfers"', 1)[1]
    async with container.uow() as uow:
        p = await uow.session.scalar(select(Payment).where(Payment.transaction_id == tx))
        assert p is not None and p.state == PaymentState.PENDING and p.amount == Decimal("300.00")
