"""Operator pages: partners (list, filters, paging, detail, status changes, new SI), catalog
(products, price versions with tier tables, new version, new product) and bank-transfer
confirmation. Partner users never see them."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.billing import service as billing
from openability.billing.models import Payment
from openability.billing.types import PaymentMethod, PaymentState
from openability.bootstrap import Container
from openability.catalog.models import PricePlan, Product
from openability.catalog.types import ProductStatus
from openability.kernel.audit import AuditEntry
from openability.kernel.uow import Actor
from openability.ledger import service as ledger
from openability.ledger.types import AccountType
from openability.partners.models import Partner
from openability.partners.types import PartnerKind, PartnerStatus


def ops_pages(world: Any) -> list[tuple[str, str, str]]:
    return [
        ("/console/ops/partners", "合作伙伴", "Partners"),
        (f"/console/ops/partners/{world.ap_id}", "余额", "Balances"),
        ("/console/ops/partners/new-si", "新建系统集成商", "New service integrator"),
        ("/console/ops/catalog", "产品目录", "Catalog"),
        ("/console/ops/catalog/sms-standard", "价格版本", "Price versions"),
        ("/console/ops/payments", "收款确认", "Payments"),
    ]


async def audit_rows(container: Container, action: str) -> list[AuditEntry]:
    async with container.uow() as uow:
        return list((await uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def pending_transfer(container: Container, partner_id: str, tx: str, amount: str) -> str:
    async with container.uow(Actor(type="partner_user", id="pu_x", partner_id=partner_id)) as uow:
        p, _ = await billing.create_payment(
            uow, partner_id, tx, Decimal(amount), PaymentMethod.BANK_TRANSFER, bank_reference=f"REF-{tx}"
        )
        return p.id


async def test_every_ops_page_renders_in_zh_and_en(browser: Any, world: Any) -> None:
    await browser.login("root")
    for url, zh, en in ops_pages(world):
        r = await browser.get(url + "?lang=zh")  # the previous page's English switch sticks (cookie)
        assert r.status_code == 200, (url, r.text[:300])
        assert zh in r.text, url
        r = await browser.get(url + "?lang=en")
        assert r.status_code == 200 and en in r.text, url


async def test_partner_users_cannot_see_ops_pages(browser: Any, world: Any, container: Container) -> None:
    await browser.login("ap1user")
    for url, _zh, _en in ops_pages(world):
        r = await browser.get(url)
        assert r.status_code == 303 and r.headers["location"] == "/console/portal", url
    r = await browser.post(
        f"/console/ops/partners/{world.ap2_id}/status", {"status": "suspended", "reason": "x"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/portal"
    pid = await pending_transfer(container, world.ap_id, "self-confirm", "10.00")
    r = await browser.post(f"/console/ops/payments/{pid}/confirm")
    assert r.headers["location"] == "/console/portal"
    async with container.uow() as uow:
        p2 = await uow.session.get(Partner, world.ap2_id)
        pay = await uow.session.get(Payment, pid)
        assert p2 is not None and p2.status == PartnerStatus.ACTIVE
        assert pay is not None and pay.state == PaymentState.PENDING
    browser.client.cookies.clear()
    anonymous = await browser.get("/console/ops/catalog")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/login?next=")


async def test_partner_list_filters_and_pages(browser: Any, world: Any) -> None:
    await browser.login("root")
    r = await browser.get("/console/ops/partners?kind=AP&limit=1")
    assert r.status_code == 200
    rows = re.findall(r'href="/console/ops/partners/(prt_[^"]+)"', r.text)
    assert len(rows) == 1 and 'id="next-page"' in r.text and 'id="prev-page"' not in r.text
    nxt = re.search(r'href="([^"]+)" id="next-page"', r.text)
    assert nxt
    r2 = await browser.get(nxt.group(1).replace("&amp;", "&"))
    rows2 = re.findall(r'href="/console/ops/partners/(prt_[^"]+)"', r2.text)
    assert len(rows2) == 1 and rows2 != rows and 'id="prev-page"' in r2.text
    r = await browser.get("/console/ops/partners?kind=SI")
    assert "没有符合条件的合作伙伴" in r.text
    # junk query values never give a 500
    r = await browser.get("/console/ops/partners?kind=XX&status=zzz&offset=-3&limit=abc")
    assert r.status_code == 200 and len(re.findall(r'href="/console/ops/partners/prt_', r.text)) == 2


async def test_suspend_and_activate_are_audited(browser: Any, world: Any, container: Container) -> None:
    await browser.login("reviewer")
    url = f"/console/ops/partners/{world.ap_id}"
    r = await browser.post(f"{url}/status", {"status": "suspended", "reason": "  "})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err" and 'id="suspend"' in page.text
    r = await browser.post(f"{url}/status", {"status": "exited", "reason": "no"})
    assert browser.flash(await browser.follow(r))[0] == "err"
    r = await browser.post(f"{url}/status", {"status": "suspended", "reason": "欠费未缴"})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok"
    assert (
        'id="partner-status">已暂停' in page.text and "欠费未缴" in page.text and 'id="activate"' in page.text
    )
    rows = await audit_rows(container, "partner.suspended")
    assert len(rows) == 1 and rows[0].actor_id == world.ops["reviewer"] and rows[0].note == "欠费未缴"
    r = await browser.post(f"{url}/status", {"status": "active", "reason": "已缴清"})
    page = await browser.follow(r)
    assert 'id="partner-status">正常' in page.text
    assert len(await audit_rows(container, "partner.activated")) == 1


async def test_status_change_needs_the_role(browser: Any, world: Any, container: Container) -> None:
    await browser.login("agent")
    url = f"/console/ops/partners/{world.ap_id}"
    page = await browser.get(url)
    assert 'id="status-form"' not in page.text
    r = await browser.post(f"{url}/status", {"status": "suspended", "reason": "test"})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err" and "reviewer" in page.text
    async with container.uow() as uow:
        p = await uow.session.get(Partner, world.ap_id)
        assert p is not None and p.status == PartnerStatus.ACTIVE


async def test_partner_detail_shows_data_and_unknown_id_is_404(browser: Any, world: Any) -> None:
    await browser.login("root")
    r = await browser.get(f"/console/ops/partners/{world.ap_id}")
    assert "星河软件有限公司" in r.text and 'id="balance-available">¥100.0000' in r.text
    assert "sms-standard" in r.text.split('id="partner-orders"', 1)[1]
    assert "ap1user" in r.text.split('id="partner-users"', 1)[1]
    r = await browser.get("/console/ops/partners/prt_nope")
    assert r.status_code == 404 and 'id="page-error"' in r.text


async def test_create_si_form(browser: Any, world: Any, container: Container) -> None:
    await browser.login("reviewer")
    form = {
        "name": "示例集成有限公司",
        "billing_mode": "postpaid",
        "scope": "local",
        "product_kind": "standard",
        "tier": "close",
        "contact_name": "李四",
        "registered_capital": "2000000",
        "admin_username": "si-admin",
        "admin_password": "Secret123",
    }
    bad = await browser.post("/console/ops/partners/new-si", form | {"name": "天翼应用工厂合作伙伴"})
    assert bad.status_code == 400 and "brand word" in bad.text and 'value="天翼应用工厂合作伙伴"' in bad.text
    bad = await browser.post("/console/ops/partners/new-si", form | {"registered_capital": "lots"})
    assert bad.status_code == 400 and browser.flash(bad)[0] == "err"
    bad = await browser.post("/console/ops/partners/new-si", form | {"billing_mode": "both"})
    assert bad.status_code == 400
    bad = await browser.post("/console/ops/partners/new-si", form | {"admin_password": ""})
    assert bad.status_code == 400
    r = await browser.post("/console/ops/partners/new-si", form)
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok" and "示例集成有限公司" in page.text and "si-admin" in page.text
    async with container.uow() as uow:
        sis = (await uow.session.scalars(select(Partner).where(Partner.kind == PartnerKind.SI))).all()
        assert len(sis) == 1 and sis[0].status == PartnerStatus.PENDING and sis[0].tier is not None
    assert len(await audit_rows(container, "partner.created")) == 1
    # an AP-side operator without the reviewer role
    await browser.login("agent")
    r = await browser.post("/console/ops/partners/new-si", form | {"name": "另一家集成有限公司"})
    assert r.status_code == 400 and "reviewer" in r.text


async def test_product_page_shows_tier_tables(browser: Any, world: Any) -> None:
    await browser.login("agent")  # any operator may read the catalog
    r = await browser.get("/console/ops/catalog")
    assert "sms-standard" in r.text and 'id="product-form"' not in r.text
    r = await browser.get("/console/ops/catalog/sms-standard")
    assert 'id="version-1"' in r.text and 'id="tiers-v1-national"' in r.text
    table = r.text.split('id="tiers-v1-national"', 1)[1].split("</table>", 1)[0]
    for band in ("目录价", "认证型", "紧密型", "战略型"):
        assert band in table
    assert 'id="version-form"' not in r.text
    r = await browser.get("/console/ops/catalog/nope")
    assert r.status_code == 404


async def test_new_price_version(browser: Any, world: Any, container: Container) -> None:
    await browser.login("pmanager")
    page = await browser.get("/console/ops/catalog/sms-standard")
    tiers = re.search(r'<textarea id="tiers" name="tiers"[^>]*>(.*?)</textarea>', page.text, re.S)
    valid_from = re.search(r'id="valid_from" name="valid_from" value="([^"]+)"', page.text)
    assert tiers and valid_from and valid_from.group(1) == "2026-11-03T00:00"
    import html

    tiers_json = html.unescape(tiers.group(1))
    assert '"national"' in tiers_json
    # bad JSON: the form comes back with the draft and an error
    r = await browser.post(
        "/console/ops/catalog/sms-standard/versions", {"valid_from": valid_from.group(1), "tiers": "{oops"}
    )
    assert r.status_code == 400 and "not valid JSON" in r.text and "{oops" in r.text
    r = await browser.post(
        "/console/ops/catalog/sms-standard/versions", {"valid_from": "2020-01-01T00:00", "tiers": tiers_json}
    )
    assert r.status_code == 422 or r.status_code == 400
    assert "past" in r.text
    r = await browser.post(
        "/console/ops/catalog/sms-standard/versions", {"valid_from": "yesterday", "tiers": tiers_json}
    )
    assert r.status_code == 400
    cheaper = tiers_json.replace('"0.0400"', "0.0390")  # a bare number is read as its text, never a float
    r = await browser.post(
        "/console/ops/catalog/sms-standard/versions",
        {"valid_from": "2026-12-01T00:00", "tiers": cheaper, "note": "十二月调价"},
    )
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok" and 'id="version-2"' in page.text and "十二月调价" in page.text
    async with container.uow() as uow:
        plans = (await uow.session.scalars(select(PricePlan).order_by(PricePlan.version))).all()
        v2 = [p for p in plans if p.version == 2]
        assert len(v2) == 1 and v2[0].valid_from.isoformat() == "2026-11-30T16:00:00+00:00"
    assert len(await audit_rows(container, "price_plan.created")) >= 1
    # a reviewer may not price products
    await browser.login("reviewer")
    r = await browser.post(
        "/console/ops/catalog/sms-standard/versions", {"valid_from": "2027-01-01T00:00", "tiers": tiers_json}
    )
    assert r.status_code == 400 and "product_manager" in r.text


async def test_create_product(browser: Any, world: Any, container: Container) -> None:
    await browser.login("pmanager")
    base = {
        "code": "sms-bulk",
        "capability": "sms",
        "name_zh": "批量短信",
        "name_en": "Bulk SMS",
        "unit": "segment",
        "audience": "SI",
        "rate_limit_per_second": "500",
        "status": "draft",
    }
    for bad in (
        {"code": "Bad Code"},
        {"rate_limit_per_second": "fast"},
        {"unit": "litre"},
        {"capability": "fax"},
    ):
        r = await browser.post("/console/ops/catalog/products", base | bad)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/ops/catalog?error="), bad
    r = await browser.post("/console/ops/catalog/products", base)
    assert r.headers["location"].startswith("/console/ops/catalog/sms-bulk?flash=")
    page = await browser.follow(r)
    assert "批量短信" in page.text and 'id="no-versions"' in page.text
    async with container.uow() as uow:
        p = await uow.session.scalar(select(Product).where(Product.code == "sms-bulk"))
        assert p is not None and p.status == ProductStatus.DRAFT and p.rate_limit_per_second == 500
    r = await browser.post("/console/ops/catalog/products", base)
    assert browser.flash(await browser.follow(r))[0] == "err"


@pytest.mark.parametrize("who", ["clerk", "root"])
async def test_confirm_bank_transfer(
    browser: Any, world: Any, container: Container, assert_ledger_clean: Any, who: str
) -> None:
    pid = await pending_transfer(container, world.ap_id, "bank-1", "300.00")
    await browser.login(who)
    page = await browser.get("/console/ops/payments")
    assert (
        f'id="confirm-{pid}"' in page.text and "REF-bank-1" in page.text and "星河软件有限公司" in page.text
    )
    r = await browser.post(f"/console/ops/payments/{pid}/confirm")
    page = await browser.follow(r)
    assert browser.flash(page) == ("ok", "已确认到账 ¥300.00")
    assert f'id="confirm-{pid}"' not in page.text
    async with container.uow() as uow:
        b = await ledger.balances(uow.session, world.ap_id)
        assert b[AccountType.PREPAID_AVAILABLE] == Decimal("400.0000")
    rows = await audit_rows(container, "payment.confirmed")
    assert any(r.entity_id == pid and r.actor_id == world.ops[who] for r in rows)
    # confirming again changes nothing
    r = await browser.post(f"/console/ops/payments/{pid}/confirm")
    assert browser.flash(await browser.follow(r))[0] == "ok"
    async with container.uow() as uow:
        b = await ledger.balances(uow.session, world.ap_id)
        assert b[AccountType.PREPAID_AVAILABLE] == Decimal("400.0000")
    await assert_ledger_clean()


async def test_reject_bank_transfer_and_roles(
    browser: Any, world: Any, container: Container, assert_ledger_clean: Any
) -> None:
    pid = await pending_transfer(container, world.ap_id, "bank-2", "80.00")
    await browser.login("agent")
    page = await browser.get("/console/ops/payments")
    assert "REF-bank-2" in page.text and f'id="confirm-{pid}"' not in page.text
    r = await browser.post(f"/console/ops/payments/{pid}/confirm")
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "err" and "billing_clerk" in page.text
    await browser.login("clerk")
    r = await browser.post(f"/console/ops/payments/{pid}/reject", {"reason": ""})
    assert browser.flash(await browser.follow(r))[0] == "err"
    r = await browser.post(f"/console/ops/payments/{pid}/reject", {"reason": "未收到款项"})
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok"
    page = await browser.get("/console/ops/payments?state=rejected")
    assert "未收到款项" in page.text
    page = await browser.get("/console/ops/payments?state=bogus&offset=x")
    assert page.status_code == 200
    async with container.uow() as uow:
        pay = await uow.session.get(Payment, pid)
        assert pay is not None and pay.state == PaymentState.REJECTED
        n = await uow.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "payment.rejected")
        )
        assert n == 1
    r = await browser.post(f"/console/ops/payments/{pid}/confirm")
    assert browser.flash(await browser.follow(r))[0] == "err"
    await assert_ledger_clean()
