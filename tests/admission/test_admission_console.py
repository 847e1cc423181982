"""The console's admission pages: the public sign-up, the applicant's wizard (details, uploads, the
automatic checks, submission), the reviewer's queue and review page with the documents beside the
checklist, the contract, and the admission panel of the operator's partner page."""

from __future__ import annotations

import re

import httpx
from admission_support import CERTS, PDF, Console, credit_code
from sqlalchemy import select

from openability.bootstrap import Container
from openability.partners import identity

APP_URL = re.compile(r"/console/portal/admission/(apl_[0-9a-z]+)")


async def sign_up(c: Console, n: int = 1) -> str:
    c.client.cookies.clear()
    page = await c.get("/console/apply")
    assert page.status_code == 200 and 'id="apply-form"' in page.text
    token = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert token
    form = {
        "csrf": token.group(1),
        "name": f"控制台集成{n}有限公司",
        "credit_code": credit_code(40 + n),
        "contact_name": "吴十",
        "contact_email": f"console{n}@example.com",
        "contact_phone": "13900139000",
        "username": f"console{n}",
        "password": "Secret123",
        "password2": "Secret123",
    }
    r = await c.client.post("/console/apply", data=form)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/portal/admission"), r.text
    c.use_session(r.cookies["oa_session"])
    r = await c.follow(r)
    assert r.status_code == 303
    m = APP_URL.search(r.headers["location"])
    assert m
    return m.group(1)


async def upload(c: Console, url: str, kind: str, data: bytes = PDF, **fields: str) -> httpx.Response:
    form = {"kind": kind, **fields}
    return await c.post(f"{url}/documents", form, files={"file": ("材料.pdf", data, "application/pdf")})


async def test_r_admit_05_an_applicant_fills_uploads_and_submits_and_a_reviewer_approves_in_the_console(
    console: Console, container: Container
) -> None:
    c = console
    app_id = await sign_up(c)
    url = f"/console/portal/admission/{app_id}"
    page = await c.get(url)
    assert 'data-code="CERTIFICATE_MISSING"' in page.text and 'id="submit-application" disabled' in page.text
    r = await c.post(
        f"{url}/fields",
        {
            "registered_capital": "2000000.00",
            "product_kind": "standard",
            "scope": "national",
            "billing_mode": "prepaid",
            "intended_products": "sms-standard",
        },
    )
    assert c.flash(await c.follow(r))[0] == "ok"
    # a wrong type is refused with its reason, nothing stored
    r = await upload(
        c,
        url,
        "business_licence",
        b"GIF89a....",
        number="N1",
        issuer="局",
        valid_from="2020-01-01",
        valid_to="2030-01-01",
    )
    assert c.flash(await c.follow(r)) == (
        "err",
        "only PDF, PNG and JPEG files are accepted (judged by the file&#39;s content)",
    )
    for kind in CERTS:
        r = await upload(
            c,
            url,
            kind,
            number=f"{kind}-1",
            issuer="上海市市场监督管理局",
            valid_from="2020-01-01",
            valid_to="2030-12-31",
        )
        assert c.flash(await c.follow(r))[0] == "ok"
    r = await upload(c, url, "business_plan")
    page = await c.follow(r)
    assert 'id="checks-ok"' in page.text and "data-code=" not in page.text
    r = await c.post(f"{url}/submit")
    page = await c.follow(r)
    assert c.flash(page)[0] == "ok" and 'id="application-state">已提交' in page.text

    async with container.uow() as uow:
        await identity.create_operator(uow, "reviewer", "Secret123", ["reviewer"], display_name="审核员孙")
    await c.login("reviewer")
    queue = await c.get("/console/ops/admission")
    assert app_id in queue.text and "控制台集成1有限公司" in queue.text
    review = await c.get(f"/console/ops/admission/{app_id}")
    assert 'id="document-preview"' in review.text and 'id="decision-form"' in review.text
    doc = re.search(rf"/console/ops/admission/{app_id}/documents/(doc_[0-9a-z]+)\?inline=1", review.text)
    assert doc
    inline = await c.get(f"/console/ops/admission/{app_id}/documents/{doc.group(1)}?inline=1")
    assert inline.content == PDF and inline.headers["content-disposition"].startswith("inline")
    verdicts = {f"verdict_{i}": "pass" for i in ("compliance", "industry_expertise", "service_system")}
    comments = {f"comment_{i}": "符合要求" for i in ("compliance", "industry_expertise", "service_system")}
    r = await c.post(
        f"/console/ops/admission/{app_id}/decision", {"decision": "approve", **verdicts, **comments}
    )
    page = await c.follow(r)
    assert c.flash(page) == ("ok", "审核结果：审核通过") and 'id="contract-form"' in page.text
    assert "审核员孙" in page.text
    r = await c.post(
        f"/console/ops/admission/{app_id}/contract",
        {
            "number": "CON-1",
            "billing_mode": "postpaid",
            "deposit": "30000.00",
            "price_band": "certified",
            "valid_from": "2026-11-02",
            "valid_to": "2027-11-01",
        },
    )
    page = await c.follow(r)
    assert c.flash(page)[0] == "ok" and 'data-code="DEPOSIT_PENDING"' in page.text
    pid = re.search(r"/console/ops/partners/(prt_[0-9a-z]+)", page.text)
    assert pid
    partner = await c.get(f"/console/ops/partners/{pid.group(1)}")
    assert (
        'id="partner-contracts"' in partner.text
        and "CON-1" in partner.text
        and "business_licence-1" in partner.text
    )
    assert 'id="partner-obligations"' in partner.text and "未指定" in partner.text  # no interface contact yet


async def test_no_applicant_sees_another_applicants_pages_or_documents(console: Console) -> None:
    c = console
    first = await sign_up(c, 1)
    r = await upload(c, f"/console/portal/admission/{first}", "business_plan")
    page = await c.follow(r)
    doc = re.search(rf"/console/portal/admission/{first}/documents/(doc_[0-9a-z]+)", page.text)
    assert doc
    await sign_up(c, 2)
    for url in (
        f"/console/portal/admission/{first}",
        f"/console/portal/admission/{first}/documents/{doc.group(1)}",
    ):
        r = await c.get(url)
        assert r.status_code == 404, url
    r = await c.post(f"/console/portal/admission/{first}/submit")
    assert c.flash(await c.follow(r))[0] == "err"


async def test_an_ap_sees_it_needs_no_admission(console: Console, container: Container) -> None:
    from openability.partners import lifecycle
    from openability.partners.models import Partner
    from openability.partners.schemas import RegisterAp

    async with container.uow() as uow:
        await lifecycle.register_ap(
            uow,
            RegisterAp(
                name="某应用有限公司",
                username="apuser",
                password="Secret123",
                contact_name="甲乙",
                contact_email="a@example.com",
                contact_phone="13800138000",
            ),
        )
    await console.login("apuser")
    page = await console.get("/console/portal/admission")
    assert page.status_code == 200 and 'id="no-application"' in page.text
    async with container.uow() as uow:
        assert len((await uow.session.scalars(select(Partner))).all()) == 1
