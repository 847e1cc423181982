"""Helpers of the admission tests (imported by name: `from admission_support import …`): operators with
API tokens, an applicant driven through the API (register, log in, upload, submit), a console user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from openability.bootstrap import Container
from openability.console.pagekit import csrf_token_for
from openability.console.web import SESSION_COOKIE
from openability.partners import identity
from openability.partners.rules import credit_code_check_char

PASSWORD = "Secret123"
PDF = b"%PDF-1.4\n% admission test\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
CERTS = ("business_licence", "bank_account_permit", "tax_registration", "org_code_certificate")


def credit_code(n: int) -> str:
    body = f"91310000MA1K{n:05d}"
    return body + credit_code_check_char(body)


@dataclass
class Ops:
    reviewer: dict[str, str]
    clerk: dict[str, str]
    admin: dict[str, str]
    reviewer_id: str


async def _token(container: Container, username: str, roles: list[str], name: str) -> tuple[str, str]:
    async with container.uow() as uow:
        op = await identity.create_operator(uow, username, PASSWORD, roles, display_name=name)
        oid = op.id
    async with container.uow() as uow:
        return oid, await identity.create_operator_token(uow, username, "tests")


async def make_ops(container: Container) -> Ops:
    rid, rev = await _token(container, "rev", ["reviewer"], "审核员王")
    _, clerk = await _token(container, "clerk", ["billing_clerk"], "财务李")
    _, admin = await _token(container, "root", ["admin"], "管理员")
    h = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    return Ops(h(rev), h(clerk), h(admin), rid)


def applicant_body(n: int = 1, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"星河系统集成{n}有限公司",
        "username": f"applicant{n}",
        "password": PASSWORD,
        "contactName": "陈七",
        "contactEmail": f"applicant{n}@example.com",
        "contactPhone": "13900139000",
        "creditCode": credit_code(n),
        "registeredCapital": "5000000.00",
        "productKind": "standard",
        "scope": "national",
        "intendedProducts": ["sms-standard"],
        "billingMode": "prepaid",
        "legalRepresentative": "陈七",
        "address": "上海市浦东新区",
    }
    body.update(over)
    return body


@dataclass
class Applicant:
    client: httpx.AsyncClient
    partner_id: str
    application_id: str
    headers: dict[str, str]
    username: str = ""

    async def login(self) -> None:
        """A fresh login (a login lasts 12 hours: after the clock moved days ahead, log in again)."""
        r = await self.client.post(
            "/api/v1/auth/login", json={"username": self.username, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def upload(
        self,
        kind: str,
        *,
        data: bytes = PDF,
        filename: str = "证照.pdf",
        number: str = "N-1",
        issuer: str = "上海市市场监督管理局",
        valid_from: str = "2020-01-01",
        valid_to: str = "2030-12-31",
        application_id: str | None = None,
    ) -> httpx.Response:
        form = {"kind": kind, "number": number, "issuer": issuer}
        if valid_from:
            form["validFrom"] = valid_from
        if valid_to:
            form["validTo"] = valid_to
        return await self.client.post(
            f"/api/v1/applications/{application_id or self.application_id}/documents",
            data=form,
            files={"file": (filename, data, "application/pdf")},
            headers=self.headers,
        )

    async def upload_all(self, *, valid_to: str = "2030-12-31") -> None:
        for kind in CERTS:
            r = await self.upload(kind, number=f"{kind}-1", valid_to=valid_to)
            assert r.status_code == 201, r.text
        r = await self.upload("business_plan", number="", issuer="", valid_from="", valid_to="")
        assert r.status_code == 201, r.text

    async def submit(self) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/applications/{self.application_id}/submit", headers=self.headers
        )

    async def view(self) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/applications/{self.application_id}", headers=self.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())


async def register(client: httpx.AsyncClient, n: int = 1, **over: Any) -> Applicant:
    body = applicant_body(n, **over)
    r = await client.post("/api/v1/applicants", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    a = Applicant(client, out["partnerId"], out["application"]["id"], {}, body["username"])
    await a.login()
    return a


FULL_CHECKLIST = [
    {"item": "compliance", "passed": True, "comment": "业务符合信息服务管理规定"},
    {"item": "industry_expertise", "passed": True, "comment": "团队有十年行业经验"},
    {"item": "service_system", "passed": True, "comment": "售前售中售后体系完整"},
]


async def approve(client: httpx.AsyncClient, ops: Ops, application_id: str) -> None:
    r = await client.post(
        f"/api/v1/applications/{application_id}/decision",
        json={"decision": "approve", "checklist": FULL_CHECKLIST},
        headers=ops.reviewer,
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved"


CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')
FLASH = re.compile(r'<div class="flash (ok|err)"[^>]*>(.*?)</div>', re.S)


class Console:
    """The app client as one console user at a time (session cookie, the session's CSRF token)."""

    def __init__(self, client: httpx.AsyncClient, container: Container) -> None:
        self.client = client
        self.container = container
        self.csrf = ""

    def use_session(self, token: str) -> None:
        self.client.cookies.set(SESSION_COOKIE, token)
        self.csrf = csrf_token_for(self.container.settings.secret_key, token)

    async def login(self, username: str, password: str = PASSWORD) -> None:
        self.client.cookies.clear()
        form = await self.client.get("/console/login")
        m = CSRF_FIELD.search(form.text)
        assert m
        r = await self.client.post(
            "/console/login", data={"username": username, "password": password, "csrf": m.group(1)}
        )
        assert r.status_code == 303, r.text
        self.use_session(r.cookies[SESSION_COOKIE])

    async def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        return await self.client.post(url, data={"csrf": self.csrf, **(data or {})}, **kw)

    async def get(self, url: str) -> httpx.Response:
        return await self.client.get(url)

    async def follow(self, r: httpx.Response) -> httpx.Response:
        assert r.status_code == 303, (r.status_code, r.text[:300])
        return await self.client.get(r.headers["location"])

    @staticmethod
    def flash(r: httpx.Response) -> tuple[str, str]:
        m = FLASH.search(r.text)
        return (m.group(1), m.group(2).strip()) if m else ("", "")


async def admitted(client: httpx.AsyncClient, ops: Ops, n: int, *, valid_to: str = "2030-12-31") -> Applicant:
    """An SI admitted through the API: registered, documented, submitted, approved, contracted (prepaid)
    and activated by its confirmed first payment."""
    a = await register(client, n)
    await a.upload_all(valid_to=valid_to)
    r = await a.submit()
    assert r.status_code == 200, r.text
    await approve(client, ops, a.application_id)
    body = {"number": f"SI-{n}", "billingMode": "prepaid", "validFrom": "2026-11-01", "validTo": "2027-10-31"}
    r = await client.post(
        f"/api/v1/applications/{a.application_id}/contract", json=body, headers=ops.reviewer
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/payments",
        json={"transactionId": f"first-{n}", "amount": "100.00", "method": "bank_transfer"},
        headers=a.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/payments/{r.json()['id']}/confirm", headers=ops.clerk)
    assert r.status_code == 200, r.text
    assert (await a.view())["state"] == "active"
    return a
