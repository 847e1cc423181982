"""Console page fixtures: a small world made with the real services (catalog seed, operators with
different roles, an AP with an order and a confirmed 100.00 bank-transfer top-up) and a browser-like client that
logs in through POST /console/login, keeps the session cookie and adds the CSRF token to forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from openability.billing import service as billing
from openability.billing.types import PaymentMethod
from openability.bootstrap import Container
from openability.catalog import service as catalog
from openability.catalog.seed import seed_catalog
from openability.console.pagekit import csrf_token_for
from openability.console.web import SESSION_COOKIE
from openability.partners import identity, lifecycle, passwords
from openability.partners.schemas import RegisterAp

PASSWORD = "Secret123"
FLASH = re.compile(r'<div class="flash (ok|err)"[^>]*>(.*?)</div>', re.S)
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


def form_token(html: str) -> str:
    """The CSRF token a rendered form carries (the first one on the page)."""
    m = CSRF_FIELD.search(html)
    assert m and m.group(1), "no csrf field on the page"
    return m.group(1)


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    passwords.use_fast_hashing(True)
    yield
    passwords.use_fast_hashing(False)


@dataclass
class World:
    ap_id: str
    ap2_id: str
    ops: dict[str, str]  # username -> operator id


@pytest.fixture
async def world(container: Container) -> World:
    async with container.uow() as uow:
        await seed_catalog(uow)
        ops = {}
        for username, roles in (
            ("root", ["admin"]),
            ("clerk", ["billing_clerk"]),
            ("reviewer", ["reviewer"]),
            ("pmanager", ["product_manager"]),
            ("agent", ["service_agent"]),
        ):
            op = await identity.create_operator(uow, username, PASSWORD, roles, display_name=username)
            ops[username] = op.id
    ids = []
    async with container.uow() as uow:
        for n, name in ((1, "星河软件有限公司"), (2, "远山数据有限公司")):
            p, _u = await lifecycle.register_ap(
                uow,
                RegisterAp(
                    name=name,
                    username=f"ap{n}user",
                    password=PASSWORD,
                    contact_name="张三",
                    contact_email=f"ap{n}@example.com",
                    contact_phone="13800138000",
                ),
            )
            ids.append(p.id)
    async with container.uow() as uow:
        await catalog.place_order(uow, ids[0], "sms-standard")
    async with container.uow() as uow:
        # Real funds: a bank transfer the platform confirmed (sandbox payments are off, as in production).
        pay, _ = await billing.create_payment(
            uow,
            ids[0],
            "seed-topup-1",
            Decimal("100.00"),
            PaymentMethod.BANK_TRANSFER,
            bank_reference="ICBC-1",
        )
        await billing.confirm_payment(uow, pay.id)
    return World(ap_id=ids[0], ap2_id=ids[1], ops=ops)


class Browser:
    """The app client as one logged-in user at a time."""

    def __init__(self, client: httpx.AsyncClient, container: Container) -> None:
        self.client = client
        self.container = container
        self.csrf = ""

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        self.client.cookies.clear()
        form = await self.client.get("/console/login")  # sets the double-submit cookie oa_csrf
        data = {"username": username, "password": password, "csrf": form_token(form.text)}
        r = await self.client.post("/console/login", data=data)
        assert r.status_code == 303, r.text
        token = r.cookies.get(SESSION_COOKIE)
        assert token
        self.client.cookies.set(SESSION_COOKIE, token)
        self.csrf = csrf_token_for(self.container.settings.secret_key, token)
        return r

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, **kw)

    async def post(
        self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True
    ) -> httpx.Response:
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf", self.csrf)
        return await self.client.post(url, data=body)

    async def follow(self, r: httpx.Response) -> httpx.Response:
        assert r.status_code == 303, (r.status_code, r.text[:500])
        return await self.client.get(r.headers["location"])

    form_token = staticmethod(form_token)

    @staticmethod
    def flash(r: httpx.Response) -> tuple[str, str]:
        """(kind, text) of the page's flash message, ("", "") if none."""
        m = FLASH.search(r.text)
        return (m.group(1), m.group(2).strip()) if m else ("", "")


@pytest.fixture
def browser(app_client: httpx.AsyncClient, container: Container) -> Browser:
    return Browser(app_client, container)
