"""The operator's obligation pages (issue 10 items 5, 6 and 8): a reviewer requests a report and sees the
overdue ones across SIs (R-OBLIG-03), decides publicity (R-OBLIG-04), records a contact handover
(R-OBLIG-01), records an exit ban (R-EXIT-03), terminates an SI behind a confirmation (R-EXIT-01) and
rejects an approved application whose contract negotiation failed (R-ADMIT-05). An operator without the
reviewer role sees the pages and is answered 403 to each action, nothing changed."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from admission_support import PNG, Console, Ops, admitted, approve, register
from sqlalchemy import select

from openability.admission.models import (
    Application,
    Contract,
    ExitBan,
    InterfaceContact,
    PublicityFiling,
    ReportRequest,
)
from openability.admission.types import ApplicationState, ContractState
from openability.bootstrap import Container
from openability.kernel.clock import FrozenClock
from openability.partners.models import Partner
from openability.partners.types import PartnerStatus

OPS = "/console/ops/obligations"


async def test_r_oblig_03_a_reviewer_requests_a_report_and_sees_the_overdue_ones_across_sis(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console, clock: FrozenClock
) -> None:
    a = await admitted(app_client, ops, 1)
    b = await admitted(app_client, ops, 2)
    c = console
    await c.login("rev")
    page = await c.get(f"{OPS}/partners/{a.partner_id}")
    assert page.status_code == 200 and 'id="report-request-form"' in page.text
    r = await c.post(
        f"{OPS}/partners/{a.partner_id}/reports",
        {"kind": "customer_development", "title": "第四季度客户发展报告", "due_at": "2026-11-10"},
    )
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "已要求提交报告")
    async with container.uow() as uow:
        asked = await uow.session.scalar(
            select(ReportRequest).where(ReportRequest.title == "第四季度客户发展报告")
        )
        assert asked is not None and asked.partner_id == a.partner_id and asked.recurrence_months is None
    assert "2026-11-10 23:59" in page.text  # due at the end of that day, Beijing time
    overview = await c.get(OPS)
    assert f'id="overdue-{asked.id}"' not in overview.text
    clock.advance(days=9)
    await c.login("rev")
    overview = await c.get(OPS)
    assert f'id="overdue-{asked.id}"' in overview.text and "星河系统集成1有限公司" in overview.text
    assert "星河系统集成2有限公司" not in overview.text  # the other SI owes nothing overdue yet
    assert b.partner_id
    # a past due date is refused with its reason
    r = await c.post(
        f"{OPS}/partners/{a.partner_id}/reports", {"kind": "other", "title": "补充", "due_at": "2026-11-01"}
    )
    assert c.flash(await c.follow(r)) == ("err", "the due date is in the past")


async def test_r_oblig_04_a_reviewer_approves_or_rejects_publicity_with_the_reason(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console
) -> None:
    a = await admitted(app_client, ops, 1)
    ids = []
    for title in ("海报一", "海报二"):
        r = await app_client.post(
            f"/api/v1/partners/{a.partner_id}/publicity",
            data={"title": title},
            files={"file": ("p.png", PNG, "image/png")},
            headers=a.headers,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    c = console
    await c.login("rev")
    overview = await c.get(OPS)
    assert all(f'id="filing-{i}"' in overview.text for i in ids)
    got = await c.get(f"{OPS}/publicity/{ids[0]}/file")
    assert got.status_code == 200 and got.content == PNG
    base = f"{OPS}/partners/{a.partner_id}"
    page = await c.get(base)
    assert f'id="publicity-decide-{ids[0]}"' in page.text
    url = f"{OPS}/publicity/{ids[0]}/decision?back={base}"
    r = await c.post(url, {"decision": "reject", "comment": ""})
    assert c.flash(await c.follow(r)) == ("err", "comment is required")
    r = await c.post(url, {"decision": "reject", "comment": "未标注合作伙伴身份"})
    assert r.headers["location"].startswith(base)
    assert c.flash(await c.follow(r)) == ("ok", "宣传材料：未通过")
    r = await c.post(f"{OPS}/publicity/{ids[1]}/decision", {"decision": "approve"})
    assert r.headers["location"].startswith(OPS + "?") or r.headers["location"].split("?")[0] == OPS
    async with container.uow() as uow:
        got_rows = {p.id: p for p in (await uow.session.scalars(select(PublicityFiling))).all()}
    assert (got_rows[ids[0]].state, got_rows[ids[0]].comment) == ("rejected", "未标注合作伙伴身份")
    assert got_rows[ids[1]].state == "approved"
    assert (
        'id="waiting-publicity"' in (page := await c.get(OPS)).text
        and f'id="filing-{ids[0]}"' not in page.text
    )


async def test_r_oblig_01_a_reviewer_records_the_handover_of_a_contact_change(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console, clock: FrozenClock
) -> None:
    a = await admitted(app_client, ops, 1)
    url = f"/api/v1/partners/{a.partner_id}/contact-changes"
    r = await app_client.post(url, json={"name": "接口人甲", "phone": "13900139001"}, headers=a.headers)
    assert r.status_code == 201
    effective = (clock.now() + timedelta(days=3)).isoformat()
    r = await app_client.post(
        url,
        json={"name": "接口人乙", "phone": "13900139002", "reason": "甲调岗", "effectiveAt": effective},
        headers=a.headers,
    )
    assert r.status_code == 201
    change_id = r.json()["id"]
    c = console
    await c.login("rev")
    assert f'id="change-{change_id}"' in (await c.get(OPS)).text
    base = f"{OPS}/partners/{a.partner_id}"
    page = await c.get(base)
    assert f'id="handover-form-{change_id}"' in page.text
    r = await c.post(f"{OPS}/contact-changes/{change_id}/handover?back={base}", {"note": "已交接并培训"})
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "交接已记录，现任接口人：接口人乙")
    async with container.uow() as uow:
        row = await uow.session.get(InterfaceContact, change_id)
        assert row is not None and row.state == "current" and row.handover_note == "已交接并培训"


async def test_r_exit_03_a_reviewer_records_an_exit_ban_and_sees_it_listed(
    container: Container, ops: Ops, console: Console
) -> None:
    c = console
    await c.login("rev")
    r = await c.post(
        f"{OPS}/bans",
        {
            "company_name": "某违规集成有限公司",
            "business_category": "物流",
            "since": "2026-11-01",
            "reason": "考核不合格",
        },
    )
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "已记录退出限制，至 2027-11-01")
    async with container.uow() as uow:
        [ban] = (await uow.session.scalars(select(ExitBan))).all()
    assert (ban.company_name, ban.business_category, str(ban.until)) == (
        "某违规集成有限公司",
        "industry:物流",
        "2027-11-01",
    )
    row = re.search(rf'<tr id="ban-{ban.id}">.*?</tr>', page.text, re.S)
    assert row and "考核不合格" in row.group(0) and "industry:物流" in row.group(0)
    r = await c.post(f"{OPS}/bans", {"reason": "无对象"})
    assert c.flash(await c.follow(r)) == (
        "err",
        "a ban names the company: creditCode, companyName or partnerId",
    )


async def test_r_exit_01_termination_needs_the_confirmation_then_exits_the_si_and_ends_its_contract(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console
) -> None:
    a = await admitted(app_client, ops, 1)
    r = await app_client.post(
        f"/api/v1/partners/{a.partner_id}/clients", json={"name": "app", "scopes": ["sms"]}, headers=a.headers
    )
    assert r.status_code == 201, r.text
    client_id = r.json()["clientId"]
    c = console
    await c.login("rev")
    assert 'id="terminate-link"' in (await c.get(f"{OPS}/partners/{a.partner_id}")).text
    url = f"{OPS}/partners/{a.partner_id}/terminate"
    page = await c.get(url)
    assert page.status_code == 200 and 'id="terminate-warning"' in page.text and "SI-1" in page.text
    r = await c.post(url, {"reason": "考核不合格"})  # the box not ticked
    assert r.headers["location"].startswith(url)
    assert c.flash(await c.follow(r)) == ("err", "请勾选确认终止合作")
    async with container.uow() as uow:
        assert (await uow.session.get(Partner, a.partner_id)).status == PartnerStatus.ACTIVE  # type: ignore[union-attr]
    r = await c.post(url, {"reason": "考核不合格", "failed_assessment": "on", "confirm": "yes"})
    assert r.headers["location"].startswith(f"/console/ops/partners/{a.partner_id}")
    assert c.flash(await c.follow(r)) == ("ok", "合作已终止，已取消 0 个订购")
    async with container.uow() as uow:
        assert (await uow.session.get(Partner, a.partner_id)).status == PartnerStatus.EXITED  # type: ignore[union-attr]
        [contract] = (
            await uow.session.scalars(select(Contract).where(Contract.partner_id == a.partner_id))
        ).all()
        assert contract.state == ContractState.TERMINATED and contract.end_reason == "考核不合格"
        [ban] = (await uow.session.scalars(select(ExitBan))).all()
        assert ban.partner_id == a.partner_id
    # its API client revoked with the exit
    clients = (await app_client.get(f"/api/v1/partners/{a.partner_id}/clients", headers=ops.reviewer)).json()
    assert [x["active"] for x in clients["items"] if x["clientId"] == client_id] == [False]


async def test_r_admit_05_an_approved_application_whose_contract_failed_is_rejected_from_its_page(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console
) -> None:
    a = await register(app_client, 1)
    await a.upload_all()
    assert (await a.submit()).status_code == 200
    await approve(app_client, ops, a.application_id)
    c = console
    await c.login("rev")
    url = f"/console/ops/admission/{a.application_id}"
    page = await c.get(url)
    assert 'id="reject-approved-form"' in page.text and 'id="contract-form"' in page.text
    r = await c.post(f"{url}/decision", {"decision": "reject", "reason": ""})
    assert c.flash(await c.follow(r))[0] == "err"
    r = await c.post(f"{url}/decision", {"decision": "reject", "reason": "保证金金额未能谈妥"})
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "审核结果：未通过") and 'id="reject-approved-form"' not in page.text
    async with container.uow() as uow:
        app = await uow.session.get(Application, a.application_id)
        assert app is not None and app.state == ApplicationState.REJECTED
        assert app.decision_reason == "保证金金额未能谈妥"


async def test_an_operator_without_the_reviewer_role_sees_the_pages_and_is_refused_each_action(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, console: Console
) -> None:
    a = await admitted(app_client, ops, 1)
    r = await app_client.post(
        f"/api/v1/partners/{a.partner_id}/publicity",
        data={"title": "海报"},
        files={"file": ("p.png", PNG, "image/png")},
        headers=a.headers,
    )
    filing = r.json()["id"]
    c = console
    await c.login("clerk")
    base = f"{OPS}/partners/{a.partner_id}"
    for url in (OPS, base, f"{base}/terminate"):
        page = await c.get(url)
        assert page.status_code == 200, url
        assert '<form method="post" action="/console/ops/obligations' not in page.text, url
    for url, data in (
        (f"{base}/reports", {"kind": "other", "title": "越权", "due_at": "2026-12-01"}),
        (f"{OPS}/publicity/{filing}/decision", {"decision": "approve"}),
        (f"{OPS}/bans", {"company_name": "某公司", "reason": "越权"}),
        (f"{base}/terminate", {"reason": "越权", "confirm": "yes"}),
        (f"{base}/terminate", {"reason": "越权"}),
    ):
        r = await c.post(url, data)
        assert r.status_code == 403 and 'id="page-error"' in r.text, url
    async with container.uow() as uow:
        assert (await uow.session.scalar(select(ReportRequest).where(ReportRequest.title == "越权"))) is None
        assert (await uow.session.get(PublicityFiling, filing)).state == "filed"  # type: ignore[union-attr]
        assert (await uow.session.scalars(select(ExitBan))).all() == []
        assert (await uow.session.get(Partner, a.partner_id)).status == PartnerStatus.ACTIVE  # type: ignore[union-attr]
    assert (await c.get(f"{OPS}/partners/prt_unknown")).status_code == 404
