"""An admitted SI's obligations through the API (R-OBLIG-01..04) and the jobs that watch them: reports
flagged overdue and standing ones requested again (R-OBLIG-03), certificates watched before and after
they expire (R-ADMIT-01), on a moved clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from admission_support import PDF, Ops, admitted, register
from sqlalchemy import select

from openability.admission.jobs import certificate_watch, si_reports
from openability.bootstrap import Container
from openability.kernel.clock import FrozenClock
from openability.kernel.notify import Notification


async def kinds(container: Container, recipient: str) -> list[str]:
    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(Notification.kind)
            .where(Notification.recipient_id == recipient)
            .order_by(Notification.created_at)
        )
        return list(rows.all())


def at(clock: FrozenClock, **delta: float) -> str:
    return (clock.now() + timedelta(**delta)).isoformat()


async def test_r_oblig_01_a_contact_change_is_filed_in_advance_and_takes_effect_at_handover(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, clock: FrozenClock
) -> None:
    c = app_client
    a = await admitted(c, ops, 1)
    url = f"/api/v1/partners/{a.partner_id}/contact-changes"
    r = await c.post(url, json={"name": "接口人甲", "phone": "13900139001"}, headers=a.headers)
    assert r.status_code == 201 and r.json()["state"] == "current", r.text  # the first is designated at once
    change = {"name": "接口人乙", "phone": "13900139002", "reason": "甲调岗"}
    r = await c.post(url, json={**change, "effectiveAt": at(clock, hours=12)}, headers=a.headers)
    assert r.status_code == 422 and r.json()["code"] == "CONTACT_CHANGE_TOO_LATE", r.text
    r = await c.post(url, json={**change, "effectiveAt": at(clock, days=3)}, headers=a.headers)
    assert r.status_code == 201 and r.json()["state"] == "requested"
    change_id = r.json()["id"]
    r = await c.post(url, json={**change, "effectiveAt": at(clock, days=4)}, headers=a.headers)
    assert r.status_code == 409 and r.json()["code"] == "CHANGE_PENDING"
    assert "obligation.contact_change" in await kinds(container, ops.reviewer_id)
    r = await c.post(f"/api/v1/contact-changes/{change_id}/handover", json={"note": " "}, headers=a.headers)
    assert r.status_code == 400
    r = await c.post(
        f"/api/v1/contact-changes/{change_id}/handover",
        json={"note": "已交接客户清单并完成培训"},
        headers=a.headers,
    )
    assert r.status_code == 200 and r.json()["state"] == "current" and r.json()["handoverAt"], r.text
    o = (await c.get(f"/api/v1/partners/{a.partner_id}/obligations", headers=a.headers)).json()
    assert {(x["name"], x["state"]) for x in o["contacts"]} == {
        ("接口人甲", "former"),
        ("接口人乙", "current"),
    }


async def test_r_oblig_02_a_change_notice_with_less_than_five_days_lead_is_refused(
    app_client: httpx.AsyncClient, ops: Ops, clock: FrozenClock
) -> None:
    c = app_client
    a = await admitted(c, ops, 1)
    url = f"/api/v1/partners/{a.partner_id}/change-notices"
    body = {"kind": "bank_account", "summary": "结算账户变更为工商银行 6222…"}
    r = await c.post(url, json={**body, "effectiveAt": at(clock, days=4, hours=23)}, headers=a.headers)
    assert r.status_code == 422 and r.json()["code"] == "NOTICE_TOO_LATE"
    assert "at least 5 day(s)" in r.json()["message"] and "R-OBLIG-02" in r.json()["message"]
    r = await c.post(url, json={**body, "effectiveAt": at(clock, days=5)}, headers=a.headers)
    assert r.status_code == 201, r.text
    r = await c.post(
        url,
        json={"kind": "product_upgrade", "summary": "v2 上线", "effectiveAt": at(clock, days=1)},
        headers=a.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "NOTICE_TOO_LATE"
    r = await c.post(
        url, json={**body, "kind": "office_move", "effectiveAt": at(clock, days=9)}, headers=a.headers
    )
    assert r.status_code == 400 and r.json()["code"] == "INVALID_KIND"
    other = await register(c, 2)  # another partner's user cannot file for this one
    r = await c.post(url, json={**body, "effectiveAt": at(clock, days=9)}, headers=other.headers)
    assert r.status_code == 404


async def test_r_oblig_03_reports_have_due_dates_and_overdue_ones_are_tracked(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, clock: FrozenClock
) -> None:
    c = app_client
    a = await admitted(c, ops, 1)
    standing = (await c.get("/api/v1/reports", headers=a.headers)).json()["items"]
    assert sorted(r["kind"] for r in standing) == ["contact_channel", "emergency_plan", "security_check"]
    assert {r["kind"]: r["recurrenceMonths"] for r in standing} == {
        "contact_channel": 3,
        "emergency_plan": 12,
        "security_check": 6,
    }
    url = f"/api/v1/partners/{a.partner_id}/reports"
    body = {"kind": "customer_development", "title": "2026 年 11 月客户发展情况", "dueAt": at(clock, days=7)}
    assert (await c.post(url, json=body, headers=a.headers)).status_code == 403
    r = await c.post(url, json=body, headers=ops.reviewer)
    assert r.status_code == 201 and r.json()["overdue"] is False, r.text
    report_id = r.json()["id"]
    assert "obligation.report_requested" in await kinds(container, a.partner_id)

    clock.advance(days=8)
    await a.login()
    assert await si_reports(container) == "1 report(s) flagged overdue, 0 standing report(s) requested again"
    assert await si_reports(container) == "0 report(s) flagged overdue, 0 standing report(s) requested again"
    overdue = (await c.get("/api/v1/reports", params={"overdue": "true"}, headers=ops.reviewer)).json()[
        "items"
    ]
    assert [x["id"] for x in overdue] == [report_id]
    assert "obligation.report_overdue" in await kinds(container, a.partner_id)
    assert "obligation.report_overdue" in await kinds(container, ops.reviewer_id)
    r = await c.post(
        f"/api/v1/reports/{report_id}/submit",
        data={"note": "见附件"},
        files={"file": ("客户发展.pdf", PDF, "application/pdf")},
        headers=a.headers,
    )
    assert r.status_code == 200 and (r.json()["state"], r.json()["late"], r.json()["overdue"]) == (
        "submitted",
        True,
        False,
    )
    assert (
        await c.post(f"/api/v1/reports/{report_id}/submit", data={"note": "再交"}, headers=a.headers)
    ).status_code == 409

    # a standing report is requested again for its next period once its due time comes
    clock.advance(days=85)  # past the 3-month contact-channel report
    await a.login()
    assert await si_reports(container) == "1 report(s) flagged overdue, 1 standing report(s) requested again"
    rows = (await c.get("/api/v1/reports", headers=a.headers)).json()["items"]
    channel = sorted((r for r in rows if r["kind"] == "contact_channel"), key=lambda r: r["dueAt"])
    assert [r["state"] for r in channel] == ["open", "open"]
    first, second = (datetime.fromisoformat(r["dueAt"]) for r in channel)
    assert second == first.replace(month=first.month + 3)  # the next period: three months on


async def test_r_oblig_04_publicity_is_filed_and_approved_before_publication(
    app_client: httpx.AsyncClient, container: Container, ops: Ops
) -> None:
    c = app_client
    a = await admitted(c, ops, 1)
    r = await c.post(
        f"/api/v1/partners/{a.partner_id}/publicity",
        data={"title": "天翼能力合作发布会新闻稿", "channel": "官网"},
        files={"file": ("新闻稿.pdf", PDF, "application/pdf")},
        headers=a.headers,
    )
    assert r.status_code == 201 and r.json()["state"] == "filed", r.text
    filing = r.json()["id"]
    assert "obligation.publicity" in await kinds(container, ops.reviewer_id)
    url = f"/api/v1/publicity/{filing}/decision"
    assert (await c.post(url, json={"approve": True}, headers=a.headers)).status_code == 403
    r = await c.post(url, json={"approve": False}, headers=ops.reviewer)
    assert r.status_code == 400  # a rejection says why
    r = await c.post(url, json={"approve": True, "comment": "同意发布"}, headers=ops.reviewer)
    assert r.status_code == 200 and r.json()["state"] == "approved"
    assert "obligation.publicity_approved" in await kinds(container, a.partner_id)
    assert (
        await c.post(url, json={"approve": False, "comment": "x"}, headers=ops.reviewer)
    ).status_code == 409
    r = await c.post(
        f"/api/v1/partners/{a.partner_id}/publicity",
        data={"title": "x"},
        files={"file": ("x.exe", b"MZ\x90\x00", "application/pdf")},
        headers=a.headers,
    )
    assert r.status_code == 400 and r.json()["code"] == "DOCUMENT_TYPE"


async def test_r_admit_01_certificates_are_watched_before_and_after_they_expire(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, clock: FrozenClock
) -> None:
    a = await admitted(app_client, ops, 1, valid_to="2027-01-31")
    clock.set(datetime(2026, 12, 20, 2, 0, tzinfo=UTC))  # 42 days before
    assert (
        await certificate_watch(container)
        == "0 expiry notice(s), 0 expired certificate(s) of active SIs reported"
    )
    clock.set(datetime(2027, 1, 5, 2, 0, tzinfo=UTC))  # within 30 days
    assert (
        await certificate_watch(container)
        == "4 expiry notice(s), 0 expired certificate(s) of active SIs reported"
    )
    assert (
        await certificate_watch(container)
        == "0 expiry notice(s), 0 expired certificate(s) of active SIs reported"
    )
    clock.set(datetime(2027, 2, 1, 2, 0, tzinfo=UTC))
    assert (
        await certificate_watch(container)
        == "0 expiry notice(s), 4 expired certificate(s) of active SIs reported"
    )
    assert (await kinds(container, a.partner_id)).count("admission.certificate_expired") == 4
    assert (await kinds(container, ops.reviewer_id)).count("admission.certificate_expired") == 4
    await a.login()
    view: dict[str, Any] = await a.view()
    assert "admission.certificate_expired" in [h["action"] for h in view["history"]]
    # a renewed certificate is accepted on the active SI's application and counts from then on
    r = await a.upload("business_licence", number="BL-2", valid_from="2027-02-01", valid_to="2032-01-31")
    assert r.status_code == 201, r.text
