"""Online payments through a provider adapter, against a fake provider server the tests start (uvicorn
on a free port): the platform opens the order at the provider (RSA2-signed for the Alipay protocol,
HMAC-SHA256 for the WeChat Pay one), the provider posts its signed notification to
POST /api/v1/payments/notify/{provider}, and only a notification that verifies and fits its order
credits the partner — once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openability.billing.models import Invoice, Payment
from openability.bootstrap import Container
from openability.config import Settings
from openability.kernel.audit import AuditEntry
from openability.ledger.models import JournalEntry, JournalLine
from openability.ledger.types import EntryKind
from openability.partners.models import Partner
from openability.partners.types import PartnerStatus
from support_fake_providers import FakeProviders, configure, new_key, pem_private, started

D = Decimal
REFUSED = "payment.notification_refused"


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeProviders]:
    async with started(tmp_path) as providers:
        yield providers


@pytest.fixture
def settings(settings: Settings, fake: FakeProviders, tmp_path: Path) -> Settings:
    return configure(settings, fake, tmp_path)


@pytest.fixture
def platform(api: httpx.AsyncClient, fake: FakeProviders) -> httpx.AsyncClient:
    fake.notifier = api  # the provider reaches the platform in-process
    return api


async def order(
    api: httpx.AsyncClient, auth: Any, pid: str, provider: str, amount: str, tx: str = "web-1"
) -> dict[str, Any]:
    body = {"transactionId": tx, "amount": amount, "method": "online", "provider": provider}
    r = await api.post("/api/v1/payments", json=body, headers=auth.partner(pid))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    assert out["state"] == "pending" and out["provider"] == provider and out["invoiceNumber"] is None
    return out


async def available(api: httpx.AsyncClient, auth: Any, pid: str) -> str:
    return str((await api.get(f"/api/v1/accounts/{pid}", headers=auth.operator)).json()["available"])


async def count(container: Container, model: Any, *where: Any) -> int:
    async with container.uow() as uow:
        stmt = select(func.count()).select_from(model)
        for w in where:
            stmt = stmt.where(w)
        return int(await uow.session.scalar(stmt) or 0)


async def state_of(api: httpx.AsyncClient, auth: Any, payment_id: str) -> str:
    return str((await api.get(f"/api/v1/payments/{payment_id}", headers=auth.operator)).json()["state"])


def refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text
    assert r.text != "success"


async def test_r_bill_10_alipay_payment_is_credited_on_the_providers_signed_notification(
    platform: httpx.AsyncClient,
    fake: FakeProviders,
    auth: Any,
    make_partner: Any,
    container: Container,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP", name="在线支付科技有限公司")
    pay = await order(platform, auth, ap.id, "alipay", "100.00")
    # the provider got a signed order for the exact amount, with the platform's notify URL
    o = fake.orders[pay["id"]]
    assert o.amount == "100.00" and fake.refused_requests == []
    assert o.notify_url == "https://pay.platform.example/api/v1/payments/notify/alipay"
    assert pay["payUrl"] == f"https://qr.fake/alipay/{pay['id']}"
    assert await available(platform, auth, ap.id) == "0.0000"  # nothing until the provider confirms

    r = await fake.notify("alipay", fake.alipay_fields(pay["id"]))
    assert r.status_code == 200 and r.text == "success"
    got = (await platform.get(f"/api/v1/payments/{pay['id']}", headers=auth.partner(ap.id))).json()
    assert got["state"] == "confirmed" and got["confirmedBy"] == "provider:alipay"
    assert got["invoiceNumber"] == "INV-202611-000001" and got["payUrl"] is None
    assert await available(platform, auth, ap.id) == "100.0000"
    # R-BILL-10: one balanced TOP_UP entry for the payment
    async with container.uow() as uow:
        entry = await uow.session.get(JournalEntry, got["journalEntryId"])
        assert entry is not None and entry.kind == EntryKind.TOP_UP
        assert (entry.ref_type, entry.ref_id) == ("payment", pay["id"])
        lines = (await uow.session.scalars(select(JournalLine).where(JournalLine.entry_id == entry.id))).all()
    assert sorted(ln.amount for ln in lines) == [D("-100.00"), D("100.00")]
    inv = (await platform.get(f"/api/v1/invoices/{got['invoiceNumber']}", headers=auth.partner(ap.id))).json()
    assert inv["amount"] == "100.00" and inv["title"] == "在线支付科技有限公司"
    await assert_ledger_clean()


async def test_r_bill_10_wechat_payment_is_credited_on_the_providers_signed_notification(
    platform: httpx.AsyncClient,
    fake: FakeProviders,
    auth: Any,
    make_partner: Any,
    container: Container,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP")
    pay = await order(platform, auth, ap.id, "wechatpay", "12.34")
    assert fake.orders[pay["id"]].amount == "1234"  # fen, as WeChat Pay takes it
    assert pay["payUrl"] == f"weixin://wxpay/bizpayurl?pr={pay['id']}"
    r = await fake.notify("wechatpay", fake.wechat_fields(pay["id"]))
    assert r.status_code == 200 and "<return_code><![CDATA[SUCCESS]]>" in r.text
    assert r.headers["content-type"].startswith("application/xml")
    assert await state_of(platform, auth, pay["id"]) == "confirmed"
    assert await available(platform, auth, ap.id) == "12.3400"
    assert await count(container, JournalEntry, JournalEntry.ref_id == pay["id"]) == 1
    await assert_ledger_clean()


async def test_r_bill_01_online_payment_opens_a_pending_prepaid_si_once_the_provider_confirms(
    platform: httpx.AsyncClient,
    fake: FakeProviders,
    auth: Any,
    make_partner: Any,
    container: Container,
    assert_ledger_clean: Any,
) -> None:
    si = await make_partner("SI", status="pending", billing_mode="prepaid")

    async def status() -> PartnerStatus:
        async with container.uow() as uow:
            p = await uow.session.get(Partner, si.id)
            assert p is not None
            return p.status

    pay = await order(platform, auth, si.id, "alipay", "5000.00")
    assert await status() == PartnerStatus.PENDING  # an order is not funds
    refused(
        await fake.notify("alipay", fake.alipay_fields(pay["id"], total_amount="0.01")),
        422,
        "AMOUNT_MISMATCH",
    )
    assert await status() == PartnerStatus.PENDING
    assert (await fake.notify("alipay", fake.alipay_fields(pay["id"]))).text == "success"
    assert await status() == PartnerStatus.ACTIVE
    async with container.uow() as uow:
        audit = await uow.session.scalar(
            select(AuditEntry).where(AuditEntry.action == "partner.activated", AuditEntry.entity_id == si.id)
        )
    assert audit is not None and audit.actor_id == "provider:alipay" and "INV-202611-" in (audit.note or "")
    await assert_ledger_clean()


async def test_the_same_notification_twice_credits_once(
    platform: httpx.AsyncClient,
    fake: FakeProviders,
    auth: Any,
    make_partner: Any,
    container: Container,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP")
    a = await order(platform, auth, ap.id, "alipay", "30.00", tx="a-1")
    w = await order(platform, auth, ap.id, "wechatpay", "20.00", tx="w-1")
    paid = fake.alipay_fields(a["id"])
    for fields in (paid, paid, fake.alipay_fields(a["id"], trade_status="TRADE_FINISHED")):
        r = await fake.notify("alipay", fields)
        assert r.status_code == 200 and r.text == "success"
    wpaid = fake.wechat_fields(w["id"])
    for _ in range(2):
        r = await fake.notify("wechatpay", wpaid)
        assert r.status_code == 200 and "SUCCESS" in r.text
    assert await available(platform, auth, ap.id) == "50.0000"
    assert await count(container, JournalEntry) == 2
    assert await count(container, Invoice) == 2
    # the order creation retried with the same transaction id: the same order, not a second one
    r = await platform.post(
        "/api/v1/payments",
        json={"transactionId": "a-1", "amount": "30.00", "method": "online", "provider": "alipay"},
        headers=auth.partner(ap.id),
    )
    assert r.status_code == 200 and r.json()["id"] == a["id"]
    r = await platform.post(
        "/api/v1/payments",
        json={"transactionId": "a-1", "amount": "30.00", "method": "online", "provider": "wechatpay"},
        headers=auth.partner(ap.id),
    )
    refused(r, 409, "TRANSACTION_ID_REUSED")
    assert len(fake.orders) == 2
    await assert_ledger_clean()


async def test_a_tampered_or_foreign_signature_is_refused_and_audited(
    platform: httpx.AsyncClient,
    fake: FakeProviders,
    auth: Any,
    make_partner: Any,
    container: Container,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP")
    a = await order(platform, auth, ap.id, "alipay", "100.00", tx="a-1")
    w = await order(platform, auth, ap.id, "wechatpay", "100.00", tx="w-1")
    good = fake.alipay_fields(a["id"])
    attempts = [
        ("alipay", good | {"total_amount": "1000.00", "receipt_amount": "1000.00"}),  # changed after signing
        ("alipay", fake.sign_alipay(good, key=new_key())),  # signed by someone else's key
        ("alipay", {k: v for k, v in good.items() if k != "sign"}),  # unsigned
        ("alipay", good | {"sign": good["sign"][:-4] + "AAA="}),  # a broken signature
        ("wechatpay", fake.wechat_fields(w["id"], key="x" * 32)),  # not the merchant's API key
        ("wechatpay", fake.wechat_fields(w["id"]) | {"total_fee": "1"}),
    ]
    for provider, fields in attempts:
        refused(
            await fake.notify(provider, fields, order_id=fields["out_trade_no"]), 400, "INVALID_SIGNATURE"
        )
    for bad in (b"not=a=form&&", b"<xml><a><b/></a></xml>"):
        r = await platform.post(
            "/api/v1/payments/notify/alipay",
            content=bad,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 400
    assert await state_of(platform, auth, a["id"]) == "pending"
    assert await state_of(platform, auth, w["id"]) == "pending"
    assert await available(platform, auth, ap.id) == "0.0000"
    assert await count(container, JournalEntry) == 0
    # each refusal is audited (committed although the answer was a 4xx)
    assert await count(container, AuditEntry, AuditEntry.action == REFUSED) == len(attempts) + 2
    async with container.uow() as uow:
        row = await uow.session.scalar(select(AuditEntry).where(AuditEntry.action == REFUSED).limit(1))
    assert row is not None and row.after is not None and row.after["code"] == "INVALID_SIGNATURE"
    assert row.actor_id == "provider:alipay"
    await assert_ledger_clean()


async def test_an_amount_that_is_not_the_orders_is_refused(
    platform: httpx.AsyncClient,
    fake: FakeProviders,
    auth: Any,
    make_partner: Any,
    container: Container,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP")
    a = await order(platform, auth, ap.id, "alipay", "100.00", tx="a-1")
    w = await order(platform, auth, ap.id, "wechatpay", "100.00", tx="w-1")
    for amount in ("0.01", "99.99", "100.01", "1000.00"):
        fields = fake.alipay_fields(a["id"], total_amount=amount)
        refused(await fake.notify("alipay", fields), 422, "AMOUNT_MISMATCH")
    refused(
        await fake.notify("wechatpay", fake.wechat_fields(w["id"], total_fee="1")), 422, "AMOUNT_MISMATCH"
    )
    assert await available(platform, auth, ap.id) == "0.0000"
    assert await count(container, JournalEntry) == 0
    async with container.uow() as uow:
        rows = (await uow.session.scalars(select(AuditEntry).where(AuditEntry.action == REFUSED))).all()
    assert len(rows) == 5 and {r.entity_id for r in rows} == {a["id"], w["id"]}
    assert all(r.partner_id == ap.id and r.after and r.after["code"] == "AMOUNT_MISMATCH" for r in rows)
    # the right amount still settles it afterwards
    assert (await fake.notify("alipay", fake.alipay_fields(a["id"]))).text == "success"
    assert await available(platform, auth, ap.id) == "100.0000"
    await assert_ledger_clean()


async def test_a_notification_for_another_providers_or_an_unknown_order_is_refused(
    platform: httpx.AsyncClient,
    fake: FakeProviders,
    auth: Any,
    make_partner: Any,
    container: Container,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP")
    a = await order(platform, auth, ap.id, "alipay", "100.00", tx="a-1")
    w = await order(platform, auth, ap.id, "wechatpay", "100.00", tx="w-1")
    # each provider's validly signed word about the other provider's order
    refused(
        await fake.notify("alipay", fake.alipay_fields(w["id"], total_amount="100.00")),
        409,
        "ORDER_PROVIDER_MISMATCH",
    )
    refused(
        await fake.notify("wechatpay", fake.wechat_fields(a["id"], total_fee="10000")),
        409,
        "ORDER_PROVIDER_MISMATCH",
    )
    # a bank transfer's payment id and an id nobody issued are not online orders
    bank = await platform.post(
        "/api/v1/payments",
        json={"transactionId": "bt-1", "amount": "100.00", "method": "bank_transfer"},
        headers=auth.partner(ap.id),
    )
    for unknown in (bank.json()["id"], "pay_nobody"):
        refused(await fake.notify("alipay", fake.alipay_fields(unknown)), 404, "UNKNOWN_PAYMENT_ORDER")
    # addressed to another app or merchant
    refused(
        await fake.notify("alipay", fake.alipay_fields(a["id"], app_id="2021999999999999")),
        403,
        "APP_ID_MISMATCH",
    )
    refused(
        await fake.notify("alipay", fake.alipay_fields(a["id"], seller_id="2088999")),
        403,
        "MERCHANT_MISMATCH",
    )
    # a provider this platform does not use
    r = await platform.post("/api/v1/payments/notify/paypal", data={"a": "b"})
    refused(r, 422, "UNKNOWN_PROVIDER")
    assert await available(platform, auth, ap.id) == "0.0000"
    assert await count(container, JournalEntry) == 0
    assert await count(container, AuditEntry, AuditEntry.action == REFUSED) == 7
    # a provider transaction that paid one order cannot pay another
    assert (await fake.notify("alipay", fake.alipay_fields(a["id"]))).text == "success"
    a2 = await order(platform, auth, ap.id, "alipay", "100.00", tx="a-2")
    reused = fake.alipay_fields(a2["id"], trade_no=fake.orders[a["id"]].trade_no)
    refused(await fake.notify("alipay", reused), 409, "TRANSACTION_ID_REUSED")
    # ...nor a second transaction an order that is settled
    refused(
        await fake.notify("alipay", fake.alipay_fields(a["id"], trade_no="2026other")),
        409,
        "ORDER_ALREADY_SETTLED",
    )
    assert await available(platform, auth, ap.id) == "100.0000"
    await assert_ledger_clean()


async def test_a_closed_order_is_rejected_and_cannot_be_paid_later(
    platform: httpx.AsyncClient, fake: FakeProviders, auth: Any, make_partner: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")
    a = await order(platform, auth, ap.id, "alipay", "10.00")
    waiting = fake.alipay_fields(a["id"], trade_status="WAIT_BUYER_PAY")
    assert (await fake.notify("alipay", waiting)).text == "success"
    assert await state_of(platform, auth, a["id"]) == "pending"
    assert (
        await fake.notify("alipay", fake.alipay_fields(a["id"], trade_status="TRADE_CLOSED"))
    ).text == "success"
    got = (await platform.get(f"/api/v1/payments/{a['id']}", headers=auth.operator)).json()
    assert got["state"] == "rejected" and "closed unpaid" in got["rejectReason"]
    refused(await fake.notify("alipay", fake.alipay_fields(a["id"])), 409, "ORDER_CLOSED")
    assert await available(platform, auth, ap.id) == "0.0000"
    await assert_ledger_clean()


async def test_online_orders_are_confirmed_by_the_provider_only(
    platform: httpx.AsyncClient,
    fake: FakeProviders,
    auth: Any,
    make_partner: Any,
    container: Container,
    settings: Settings,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP")
    h = auth.partner(ap.id)
    a = await order(platform, auth, ap.id, "alipay", "10.00")
    r = await platform.post(f"/api/v1/payments/{a['id']}/confirm", headers=auth.roles("billing_clerk"))
    refused(r, 409, "CONFIRMED_BY_PROVIDER")
    base = {"transactionId": "x-1", "amount": "10.00"}
    refused(
        await platform.post("/api/v1/payments", json=base | {"method": "online"}, headers=h),
        400,
        "PROVIDER_REQUIRED",
    )
    refused(
        await platform.post(
            "/api/v1/payments", json=base | {"method": "online", "provider": "paypal"}, headers=h
        ),
        422,
        "UNKNOWN_PROVIDER",
    )
    r = await platform.post(
        "/api/v1/payments", json=base | {"method": "bank_transfer", "provider": "alipay"}, headers=h
    )
    refused(r, 400, "INVALID_ARGUMENT")
    # the provider unreachable: 502, and nothing written
    settings.alipay_gateway_url = "http://127.0.0.1:9/gateway.do"
    r = await platform.post(
        "/api/v1/payments", json=base | {"method": "online", "provider": "alipay"}, headers=h
    )
    refused(r, 502, "PAYMENT_PROVIDER_UNAVAILABLE")
    # the provider refusing the platform's request (signed with another key): 502 too
    settings.alipay_gateway_url = f"{fake.base_url}/alipay/gateway.do"
    other = Path(str(settings.alipay_private_key_path) + ".other")
    await asyncio.to_thread(other.write_bytes, pem_private(new_key()))
    settings.alipay_private_key_path = other
    r = await platform.post(
        "/api/v1/payments", json=base | {"method": "online", "provider": "alipay"}, headers=h
    )
    refused(r, 502, "PAYMENT_PROVIDER_UNAVAILABLE")
    assert fake.refused_requests == ["alipay"]
    assert await count(container, Payment) == 1
    offered = (await platform.get("/api/v1/payments/providers", headers=h)).json()
    assert offered == {"methods": ["bank_transfer", "online"], "providers": ["alipay", "wechatpay"]}
    await assert_ledger_clean()
