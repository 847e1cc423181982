"""The partner portal's obligations page and profile (issue 10 item 8): an admitted SI designates and
changes its interface contact with the handover (R-OBLIG-01), files change notices (R-OBLIG-02, a late
one refused with its reason), submits the reports requested from it (R-OBLIG-03) and files publicity
material (R-OBLIG-04); its profile shows its contract, certificates and status. Another partner reaches
none of it (404); a partner user who is not the admin may not file (403)."""

from __future__ import annotations

import re

import httpx
from admission_support import PDF, PNG, Console, Ops, admitted
from sqlalchemy import select

from openability.admission.models import (
    ChangeNotice,
    Document,
    InterfaceContact,
    PublicityFiling,
    ReportRequest,
)
from openability.bootstrap import Container
from openability.kernel.clock import FrozenClock
from openability.kernel.uow import SYSTEM
from openability.partners import identity

PORTAL = "/console/portal/obligations"


async def rows(container: Container, model: type, partner_id: str) -> list:  # type: ignore[type-arg]
    async with container.uow() as uow:
        got = await uow.session.scalars(select(model).where(model.partner_id == partner_id))  # type: ignore[attr-defined]
        return list(got.all())


async def test_r_oblig_01_the_portal_designates_the_contact_then_files_a_change_in_advance_and_its_handover(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console
) -> None:
    a = await admitted(app_client, ops, 1)
    c = console
    await c.login(a.username)
    page = await c.get(PORTAL)
    assert page.status_code == 200 and 'id="contact-form"' in page.text and "未指定" in page.text
    r = await c.post(
        f"{PORTAL}/contact", {"name": "接口人甲", "phone": "13900139001", "email": "j@example.com"}
    )
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "接口人已指定：接口人甲")
    assert 'id="current-contact">接口人甲' in page.text and 'name="effective_at"' in page.text
    change = {"name": "接口人乙", "phone": "13900139002", "reason": "甲调岗"}
    # effective in 12 hours (Beijing time 22:00 the same day): not filed in advance
    r = await c.post(f"{PORTAL}/contact", {**change, "effective_at": "2026-11-02T22:00"})
    page = await c.follow(r)
    kind, text = c.flash(page)
    assert kind == "err" and "at least 1 day(s) before (R-OBLIG-01)" in text
    assert [x.state for x in await rows(container, InterfaceContact, a.partner_id)] == ["current"]
    r = await c.post(f"{PORTAL}/contact", {**change, "effective_at": "2026-11-06T09:00"})
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "接口人变更已提交，待交接：接口人乙")
    assert 'id="pending-change">接口人乙' in page.text and "2026-11-06 09:00" in page.text
    m = re.search(r'id="handover-form-(ctc_[0-9a-z]+)"', page.text)
    assert m
    r = await c.post(f"{PORTAL}/contact-changes/{m.group(1)}/handover", {"note": "已交接客户清单并完成培训"})
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "交接已记录，现任接口人：接口人乙")
    assert {(x.name, x.state) for x in await rows(container, InterfaceContact, a.partner_id)} == {
        ("接口人甲", "former"),
        ("接口人乙", "current"),
    }


async def test_r_oblig_02_a_change_notice_too_close_is_refused_with_its_reason_and_an_early_one_is_filed(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console
) -> None:
    a = await admitted(app_client, ops, 1)
    c = console
    await c.login(a.username)
    page = await c.get(PORTAL)
    assert 'id="notice-form"' in page.text and "至少提前 5 天告知" in page.text
    notice = {"kind": "bank_account", "summary": "结算账户改为招商银行"}
    r = await c.post(f"{PORTAL}/notices", {**notice, "effective_at": "2026-11-05T10:00"})  # 3 days ahead
    page = await c.follow(r)
    assert c.flash(page) == (
        "err",
        "the bank-account change takes effect in 3.0 day(s): it must be notified at least 5 day(s) before "
        "(R-OBLIG-02)",
    )
    assert await rows(container, ChangeNotice, a.partner_id) == []
    r = await c.post(f"{PORTAL}/notices", {**notice, "effective_at": "2026-11-09T10:00"})  # 7 days ahead
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "变更告知已提交")
    [n] = await rows(container, ChangeNotice, a.partner_id)
    assert n.kind == "bank_account" and n.summary == "结算账户改为招商银行"
    assert (
        'id="change-notices"' in page.text
        and "结算账户改为招商银行" in page.text
        and "银行账户变更" in page.text
    )


async def test_r_oblig_03_the_portal_lists_the_reports_with_due_dates_marks_the_overdue_and_submits_one(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console, clock: FrozenClock
) -> None:
    a = await admitted(app_client, ops, 1)
    reports = await rows(container, ReportRequest, a.partner_id)
    assert reports  # the standing reports requested at activation
    first = min(reports, key=lambda r: r.due_at)
    c = console
    await c.login(a.username)
    page = await c.get(PORTAL)
    assert f'id="report-{first.id}"' in page.text and f'id="report-form-{first.id}"' in page.text
    assert "已逾期" not in page.text
    clock.set(first.due_at)
    clock.advance(hours=1)
    await c.login(a.username)
    page = await c.get(PORTAL)
    row = re.search(rf'<tr id="report-{first.id}" class="bad">.*?</tr>', page.text, re.S)
    assert row and "已逾期" in row.group(0)
    r = await c.post(
        f"{PORTAL}/reports/{first.id}/submit",
        {"note": "本期检查已完成"},
        files={"file": ("检查报告.pdf", PDF, "application/pdf")},
    )
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "报告已提交")
    async with container.uow() as uow:
        done = await uow.session.get(ReportRequest, first.id)
        assert done is not None and done.state == "submitted" and done.note == "本期检查已完成"
        doc = await uow.session.scalar(select(Document).where(Document.owner_id == first.id))
        assert doc is not None and doc.owner_type == "report"
    row = re.search(rf'<tr id="report-{first.id}" class="">.*?</tr>', page.text, re.S)
    assert row and "逾期提交" in row.group(0) and "检查报告.pdf" in row.group(0)
    got = await c.get(f"{PORTAL}/reports/{first.id}/file")
    assert (
        got.status_code == 200 and got.content == PDF and got.headers["x-content-type-options"] == "nosniff"
    )
    # a note alone is a submission too; nothing at all is refused
    other = next(r for r in reports if r.id != first.id)
    r = await c.post(
        f"{PORTAL}/reports/{other.id}/submit",
        {"note": ""},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert c.flash(await c.follow(r))[0] == "err"


async def test_r_oblig_04_publicity_is_filed_with_its_file_and_shows_its_approval_state(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console
) -> None:
    a = await admitted(app_client, ops, 1)
    c = console
    await c.login(a.username)
    r = await c.post(
        f"{PORTAL}/publicity",
        {"title": "双十一短信营销海报", "channel": "微信公众号"},
        files={"file": ("海报.png", PNG, "image/png")},
    )
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "宣传材料已报备，待审核")
    [p] = await rows(container, PublicityFiling, a.partner_id)
    assert p.state == "filed" and p.channel == "微信公众号"
    row = re.search(rf'<tr id="publicity-{p.id}">.*?</tr>', page.text, re.S)
    assert row and "待审核" in row.group(0) and "海报.png" in row.group(0)
    got = await c.get(f"{PORTAL}/publicity/{p.id}/file")
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    r = await app_client.post(
        f"/api/v1/publicity/{p.id}/decision",
        json={"approve": False, "comment": "品牌标识使用不规范"},
        headers=ops.reviewer,
    )
    assert r.status_code == 200, r.text
    page = await c.get(PORTAL)
    row = re.search(rf'<tr id="publicity-{p.id}">.*?</tr>', page.text, re.S)
    assert row and "未通过" in row.group(0) and "品牌标识使用不规范" in row.group(0)
    # no file: refused, nothing filed
    r = await c.post(
        f"{PORTAL}/publicity", {"title": "无文件"}, files={"file": ("", b"", "application/octet-stream")}
    )
    assert c.flash(await c.follow(r)) == ("err", "请选择宣传材料文件")
    assert len(await rows(container, PublicityFiling, a.partner_id)) == 1


async def test_the_profile_shows_the_contract_the_certificates_with_their_expiry_and_the_status(
    app_client: httpx.AsyncClient, ops: Ops, console: Console
) -> None:
    a = await admitted(app_client, ops, 1, valid_to="2026-11-20")  # certificates expiring within 30 days
    await console.login(a.username)
    page = await console.get("/console/portal/profile")
    assert page.status_code == 200
    assert 'id="partner-status">已开通' in page.text
    contract = re.search(r'<table class="kv" id="current-contract">.*?</table>', page.text, re.S)
    assert contract
    for shown in ("SI-1", "生效中", "全国", "预付费", "0.00", "2026-11-01 ~ 2027-10-31", "认证型"):
        assert shown in contract.group(0), shown
    certs = re.search(r'<table id="profile-certificates">.*?</table>', page.text, re.S)
    assert certs
    assert certs.group(0).count('data-status="expiring"') == 4 and "2026-11-20" in certs.group(0)
    assert "营业执照" in certs.group(0) and "business_licence-1" in certs.group(0)


async def test_another_partner_gets_404_and_a_non_admin_user_403(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console
) -> None:
    a = await admitted(app_client, ops, 1)
    b = await admitted(app_client, ops, 2)
    c = console
    await c.login(a.username)
    await c.post(f"{PORTAL}/contact", {"name": "接口人甲", "phone": "13900139001"})
    await c.post(
        f"{PORTAL}/contact",
        {"name": "接口人乙", "phone": "13900139002", "reason": "调岗", "effective_at": "2026-11-09T10:00"},
    )
    await c.post(f"{PORTAL}/publicity", {"title": "海报"}, files={"file": ("海报.png", PNG, "image/png")})
    [change] = [x for x in await rows(container, InterfaceContact, a.partner_id) if x.state == "requested"]
    [filing] = await rows(container, PublicityFiling, a.partner_id)
    report = (await rows(container, ReportRequest, a.partner_id))[0]
    r = await c.post(
        f"{PORTAL}/reports/{report.id}/submit",
        {"note": "已提交"},
        files={"file": ("r.pdf", PDF, "application/pdf")},
    )
    assert r.status_code == 303

    await c.login(b.username)
    page = await c.get(PORTAL)
    assert page.status_code == 200 and "接口人甲" not in page.text and report.id not in page.text
    for url in (f"{PORTAL}/reports/{report.id}/file", f"{PORTAL}/publicity/{filing.id}/file"):
        assert (await c.get(url)).status_code == 404, url
    other = (await rows(container, ReportRequest, a.partner_id))[1]
    for url, data in (
        (f"{PORTAL}/reports/{other.id}/submit", {"note": "冒名提交"}),
        (f"{PORTAL}/contact-changes/{change.id}/handover", {"note": "冒名交接"}),
    ):
        r = await c.post(url, data)
        assert r.status_code == 404 and 'id="page-error"' in r.text, url
    async with container.uow() as uow:
        assert (await uow.session.get(ReportRequest, other.id)).state == "open"  # type: ignore[union-attr]
        assert (await uow.session.get(InterfaceContact, change.id)).state == "requested"  # type: ignore[union-attr]

    # a developer of the first partner sees the page but files nothing
    async with container.uow(SYSTEM) as uow:
        await identity.create_partner_user(uow, a.partner_id, "dev1", "Secret123", role="developer")
    await c.login("dev1")
    page = await c.get(PORTAL)
    assert page.status_code == 200 and 'id="read-only"' in page.text and 'id="notice-form"' not in page.text
    r = await c.post(
        f"{PORTAL}/notices",
        {"kind": "product_upgrade", "summary": "升级", "effective_at": "2026-11-20T10:00"},
    )
    assert r.status_code == 403 and 'id="page-error"' in r.text
    assert await rows(container, ChangeNotice, a.partner_id) == []
