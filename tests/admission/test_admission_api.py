"""Admission through the API: each automatic check refuses a submission with its reason, the review's
return and rejection, uploads refused (wrong type, too large, a path in the name), and documents no
other partner can read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from admission_support import FULL_CHECKLIST, PDF, Ops, approve, credit_code, register
from sqlalchemy import func, select

from openability.admission.models import Document
from openability.bootstrap import Container
from openability.config import Settings

LIMIT = 4096


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        smsc_enabled=False,
        run_test_smsc=False,
        run_scheduler=False,
        admission_max_document_bytes=LIMIT,
        _env_file=None,
    )


async def _documents(container: Container) -> int:
    async with container.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Document)) or 0)


def _files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "admission"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_r_admit_02_capital_below_the_minimum_refuses_the_submission(
    app_client: httpx.AsyncClient,
) -> None:
    a = await register(app_client, 1, registeredCapital="100.00")
    await a.upload_all()
    r = await a.submit()
    assert r.status_code == 422 and r.json()["code"] == "ADMISSION_CHECKS_FAILED"
    (f,) = r.json()["details"]["failures"]
    assert f["code"] == "CAPITAL_TOO_LOW" and f["rule"] == "R-ADMIT-02"
    assert "CNY 100.00" in f["message"] and "CNY 1,000,000.00" in f["message"]
    assert (await a.view())["state"] == "draft"


async def test_r_admit_02_the_operator_path_reads_the_minimum_too(
    app_client: httpx.AsyncClient, ops: Ops
) -> None:
    r = await app_client.post(
        "/api/v1/partners",
        json={"name": "小资本集成有限公司", "billingMode": "prepaid", "registeredCapital": "100"},
        headers=ops.reviewer,
    )
    assert r.status_code == 422 and r.json()["code"] == "CAPITAL_TOO_LOW", r.text


async def test_r_partner_04_an_applicant_named_with_a_brand_word_is_refused(
    app_client: httpx.AsyncClient,
) -> None:
    r = await app_client.post(
        "/api/v1/applicants",
        json={
            "name": "天翼应用工厂合作伙伴有限公司",
            "username": "brandy",
            "password": "Secret123",
            "contactName": "王",
            "contactEmail": "b@example.com",
            "contactPhone": "13900139000",
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "BRAND_WORD"


async def test_r_exit_03_a_banned_company_cannot_submit(app_client: httpx.AsyncClient, ops: Ops) -> None:
    r = await app_client.post(
        "/api/v1/exit-bans",
        json={"creditCode": credit_code(7), "reason": "2026 上半年考核不合格"},
        headers=ops.reviewer,
    )
    assert r.status_code == 201 and r.json()["until"] == "2027-11-02", r.text
    listed = await app_client.get("/api/v1/exit-bans", params={"active": "true"}, headers=ops.reviewer)
    assert [b["id"] for b in listed.json()["items"]] == [r.json()["id"]]
    a = await register(app_client, 7)
    await a.upload_all()
    r = await a.submit()
    (f,) = r.json()["details"]["failures"]
    assert f["code"] == "EXIT_BANNED" and f["rule"] == "R-EXIT-03" and "2027-11-02" in f["message"]
    # bans are recorded by reviewers only
    r = await app_client.post(
        "/api/v1/exit-bans", json={"creditCode": credit_code(8), "reason": "x"}, headers=a.headers
    )
    assert r.status_code == 403


async def test_r_admit_05_returned_for_more_materials_then_resubmitted(
    app_client: httpx.AsyncClient, ops: Ops
) -> None:
    c = app_client
    a = await register(c, 1)
    await a.upload_all()
    assert (await a.submit()).status_code == 200
    url = f"/api/v1/applications/{a.application_id}/decision"
    r = await c.post(url, json={"decision": "return"}, headers=ops.reviewer)
    assert r.status_code == 400 and r.json()["code"] == "REASON_REQUIRED"
    r = await c.post(url, json={"decision": "return", "reason": "请补充内容授权书"}, headers=ops.reviewer)
    assert r.status_code == 200 and r.json()["state"] == "returned"
    view = await a.view()
    assert view["decisionReason"] == "请补充内容授权书"
    # the applicant adds what was asked and submits again
    r = await c.patch(
        f"/api/v1/applications/{a.application_id}",
        json={"needsResourceAuthorization": True},
        headers=a.headers,
    )
    assert r.status_code == 200
    assert [x["code"] for x in (await a.view())["checks"]] == ["RESOURCE_AUTHORIZATION_MISSING"]
    assert (await a.upload("resource_authorization", valid_from="", valid_to="")).status_code == 201
    r = await a.submit()
    assert r.status_code == 200 and r.json()["state"] == "submitted", r.text


async def test_r_admit_05_a_rejection_is_final_and_a_new_application_may_follow(
    app_client: httpx.AsyncClient, ops: Ops
) -> None:
    c = app_client
    a = await register(c, 1)
    await a.upload_all()
    assert (await a.submit()).status_code == 200
    r = await c.post(
        f"/api/v1/applications/{a.application_id}/decision",
        json={"decision": "reject", "reason": "业务不符合信息服务管理规定"},
        headers=ops.reviewer,
    )
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert (await a.submit()).status_code == 409
    r = await c.post("/api/v1/applications", json={"intendedProducts": ["voice-notify"]}, headers=a.headers)
    assert r.status_code == 201 and r.json()["state"] == "draft", r.text
    r = await c.post("/api/v1/applications", json={}, headers=a.headers)
    assert r.status_code == 409 and r.json()["code"] == "APPLICATION_OPEN"


async def test_r_admit_04_only_reviewers_decide_and_the_applicant_sees_where_it_stands(
    app_client: httpx.AsyncClient, ops: Ops
) -> None:
    c = app_client
    a = await register(c, 1)
    await a.upload_all()
    assert (await a.submit()).status_code == 200
    url = f"/api/v1/applications/{a.application_id}"
    r = await c.post(
        f"{url}/decision", json={"decision": "approve", "checklist": FULL_CHECKLIST}, headers=a.headers
    )
    assert r.status_code == 403
    r = await c.post(
        f"{url}/decision", json={"decision": "approve", "checklist": FULL_CHECKLIST[:2]}, headers=ops.reviewer
    )
    assert r.status_code == 422 and r.json()["details"]["gaps"] == ["service_system: not judged"]
    failed = [{**FULL_CHECKLIST[2], "passed": False}]
    r = await c.post(f"{url}/checklist", json={"items": failed}, headers=ops.reviewer)
    assert r.status_code == 200
    r = await c.post(f"{url}/decision", json={"decision": "approve"}, headers=ops.reviewer)
    # the refused decision recorded nothing: only the separately recorded judgement stands
    assert r.json()["details"]["gaps"] == [
        "compliance: not judged",
        "industry_expertise: not judged",
        "service_system: judged not passed",
    ]
    await approve(c, ops, a.application_id)
    assert (await a.view())["state"] == "approved"
    mine = await c.get("/api/v1/applications", headers=a.headers)
    assert [x["state"] for x in mine.json()["items"]] == ["approved"]


async def test_uploads_of_a_wrong_type_an_oversized_file_or_a_path_in_the_name_are_refused(
    app_client: httpx.AsyncClient, container: Container, settings: Settings
) -> None:
    a = await register(app_client, 1)
    cases = [
        (dict(data=b"<html><script>alert(1)</script>", filename="licence.pdf"), 400, "DOCUMENT_TYPE"),
        (dict(data=b"GIF89a" + b"\x00" * 10), 400, "DOCUMENT_TYPE"),
        (dict(data=PDF + b"x" * LIMIT), 413, "DOCUMENT_TOO_LARGE"),
        (dict(filename="../../../etc/passwd.pdf"), 400, "DOCUMENT_NAME"),
        (dict(filename="..\\..\\win.ini.pdf"), 400, "DOCUMENT_NAME"),
        (dict(number=""), 400, "DOCUMENT_FIELDS"),  # a certificate without its number
    ]
    for kw, status, code in cases:
        r = await a.upload("business_licence", **kw)  # type: ignore[arg-type]
        assert (r.status_code, r.json()["code"]) == (status, code), (kw, r.text)
    assert await _documents(container) == 0 and _files(settings) == []
    # a good one is stored under a generated name; the client's name is metadata
    r = await a.upload("business_licence", filename="营业执照 副本.pdf")
    assert r.status_code == 201
    (stored,) = _files(settings)
    assert stored.name == r.json()["id"] and stored.parent.name == a.partner_id
    assert r.json()["filename"] == "营业执照 副本.pdf" and r.json()["contentType"] == "application/pdf"


async def test_no_partner_reads_another_partners_application_or_documents(
    app_client: httpx.AsyncClient, ops: Ops
) -> None:
    c = app_client
    a = await register(c, 1)
    b = await register(c, 2)
    r = await a.upload("business_licence")
    doc = r.json()
    own = await c.get(f"/api/v1/applications/{a.application_id}/documents/{doc['id']}", headers=a.headers)
    assert own.status_code == 200 and own.content == PDF
    assert (
        own.headers["content-type"] == "application/pdf"
        and own.headers["x-content-type-options"] == "nosniff"
    )
    staff = await c.get(
        f"/api/v1/applications/{a.application_id}/documents/{doc['id']}", headers=ops.reviewer
    )
    assert staff.status_code == 200
    for url in (
        f"/api/v1/applications/{a.application_id}",
        f"/api/v1/applications/{a.application_id}/documents/{doc['id']}",
        f"/api/v1/applications/{b.application_id}/documents/{doc['id']}",  # B's own application, A's document
    ):
        r = await c.get(url, headers=b.headers)
        assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND", url
    r = await b.upload("business_licence", application_id=a.application_id)
    assert r.status_code == 404
    listed = await c.get("/api/v1/applications", params={"partner_id": a.partner_id}, headers=b.headers)
    assert listed.status_code == 404


async def test_r_admit_05_an_applicant_is_activated_by_admission_only(
    app_client: httpx.AsyncClient, ops: Ops
) -> None:
    a = await register(app_client, 1)
    r = await app_client.post(
        f"/api/v1/partners/{a.partner_id}/activate", json={"reason": "开通"}, headers=ops.reviewer
    )
    assert r.status_code == 422 and r.json()["code"] == "APPLICANT_NOT_ADMITTED"


async def _active_si(container: Container, n: int) -> tuple[str, str]:
    """An active SI admitted by an operator directly, with an order and an API client."""
    from openability.catalog import service as catalog
    from openability.partners import lifecycle, oauth
    from openability.partners.schemas import CreateSi

    async with container.uow() as uow:
        si = await lifecycle.create_si(
            uow,
            CreateSi(
                name=f"老牌集成{n}有限公司", billing_mode="prepaid", credit_code=credit_code(n), activate=True
            ),
        )
        pid = si.id
    async with container.uow() as uow:
        await catalog.place_order(uow, pid, "sms-standard")
        client, _ = await oauth.create_api_client(uow, pid, "app", ["sms"])
        return pid, client.id


async def test_a_terminate_whose_flag_is_not_a_json_boolean_is_refused_and_changes_nothing(
    app_client: httpx.AsyncClient, container: Container, ops: Ops
) -> None:
    """`failedAssessment` decides a one-year ban: 0, 1 or "true" is not read as a boolean (the fuzz
    tests found `0` accepted as false, answered 200 and the partner terminated)."""
    from openability.catalog.seed import seed_catalog

    async with container.uow() as uow:
        await seed_catalog(uow)
    pid, _client_id = await _active_si(container, 8)
    for flag in (0, 1, "true"):
        r = await app_client.post(
            f"/api/v1/partners/{pid}/terminate",
            json={"reason": "考核", "failedAssessment": flag},
            headers=ops.reviewer,
        )
        assert (r.status_code, r.json()["details"][0]["field"]) == (400, "failedAssessment"), r.text
    p = (await app_client.get(f"/api/v1/partners/{pid}", headers=ops.reviewer)).json()
    assert p["status"] == "active"
    bans = (await app_client.get("/api/v1/exit-bans", headers=ops.reviewer)).json()["items"]
    assert bans == []


async def test_r_exit_03_terminated_for_failing_assessment_the_company_cannot_apply_for_a_year(
    app_client: httpx.AsyncClient, container: Container, ops: Ops
) -> None:
    from openability.catalog.seed import seed_catalog

    async with container.uow() as uow:
        await seed_catalog(uow)
    pid, client_id = await _active_si(container, 9)
    r = await app_client.post(
        f"/api/v1/partners/{pid}/terminate",
        json={"reason": "2026 年下半年考核不合格", "failedAssessment": True},
        headers=ops.reviewer,
    )
    assert r.status_code == 200 and r.json()["ordersCancelled"] == 1, r.text
    p = (await app_client.get(f"/api/v1/partners/{pid}", headers=ops.reviewer)).json()
    assert p["status"] == "exited"
    clients = (await app_client.get(f"/api/v1/partners/{pid}/clients", headers=ops.reviewer)).json()["items"]
    assert [c["active"] for c in clients if c["clientId"] == client_id] == [False]
    bans = (await app_client.get("/api/v1/exit-bans", headers=ops.reviewer)).json()["items"]
    assert [(b["creditCode"], b["until"]) for b in bans] == [(credit_code(9), "2027-11-02")]
    # the same company applies again under another name: refused by its credit code
    a = await register(app_client, 9, name="新名字集成有限公司")
    await a.upload_all()
    r = await a.submit()
    assert [f["code"] for f in r.json()["details"]["failures"]] == ["EXIT_BANNED"]


async def test_a_contract_in_force_is_renewed(app_client: httpx.AsyncClient, ops: Ops) -> None:
    c = app_client
    a = await register(c, 1, billingMode="postpaid")
    await a.upload_all()
    assert (await a.submit()).status_code == 200
    await approve(c, ops, a.application_id)
    body = {
        "number": "SI-R-1",
        "billingMode": "postpaid",
        "deposit": "10000.00",
        "validFrom": "2026-11-02",
        "validTo": "2027-11-01",
    }
    old = await c.post(f"/api/v1/applications/{a.application_id}/contract", json=body, headers=ops.reviewer)
    assert old.status_code == 201
    r = await c.post(
        f"/api/v1/contracts/{old.json()['id']}/renew",
        json={"number": "SI-R-2", "validTo": "2028-11-01"},
        headers=ops.reviewer,
    )
    assert r.status_code == 409 and r.json()["code"] == "INVALID_STATE"  # not in force before activation
    pay = await c.post(
        "/api/v1/payments",
        json={
            "transactionId": "dep-1",
            "amount": "10000.00",
            "method": "bank_transfer",
            "purpose": "deposit",
        },
        headers=a.headers,
    )
    assert (
        await c.post(f"/api/v1/payments/{pay.json()['id']}/confirm", headers=ops.clerk)
    ).status_code == 200
    r = await c.post(
        f"/api/v1/contracts/{old.json()['id']}/renew",
        json={"number": "SI-R-2", "validTo": "2028-11-01", "priceBand": "close"},
        headers=ops.reviewer,
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert (new["state"], new["validFrom"], new["billingMode"], new["renewedFromId"]) == (
        "inForce",
        "2027-11-01",
        "postpaid",
        old.json()["id"],
    )
    contracts = (await c.get("/api/v1/contracts", headers=a.headers)).json()["items"]
    assert {(x["number"], x["state"]) for x in contracts} == {("SI-R-1", "superseded"), ("SI-R-2", "inForce")}
