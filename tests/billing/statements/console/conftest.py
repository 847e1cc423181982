"""The billing console pages over the statements world (tests/billing/statements/conftest.py: real
gateway usage, jobs on a moved clock): operators and partner users who log in through the console's
login form, each in a browser-like client of its own (cookie session, CSRF token on forms). The
management API's `X-Test-Actor` header keeps working beside the real sessions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import Request

from openability.bootstrap import Container
from openability.console.csrf import csrf_token_for
from openability.console.web import SESSION_COOKIE
from openability.kernel.uow import Actor
from openability.partners import identity, passwords
from openability.partners.auth import TokenAuthenticator
from support_direct_partners import fake_authenticator

PASSWORD = "Secret123"
FLASH = re.compile(r'<div class="flash (ok|err)"[^>]*>(.*?)</div>', re.S)
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')
OPERATORS = (("root", ["admin"]), ("clerk", ["billing_clerk"]), ("agent", ["service_agent"]))


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    passwords.use_fast_hashing(True)
    yield
    passwords.use_fast_hashing(False)


class Console:
    """One user's browser: its own cookie jar on the shared app."""

    def __init__(self, client: httpx.AsyncClient, container: Container) -> None:
        self.client = client
        self.container = container
        self.csrf = ""

    async def login(self, username: str) -> Console:
        form = await self.client.get("/console/login")  # the double-submit cookie of the login form
        m = CSRF_FIELD.search(form.text)
        assert m, form.text[:300]
        r = await self.client.post(
            "/console/login", data={"username": username, "password": PASSWORD, "csrf": m.group(1)}
        )
        assert r.status_code == 303, r.text[:300]
        token = r.cookies.get(SESSION_COOKIE)
        assert token
        self.client.cookies.set(SESSION_COOKIE, token)
        self.csrf = csrf_token_for(self.container.settings.secret_key, token)
        return self

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, **kw)

    async def post(
        self, url: str, data: dict[str, Any] | None = None, *, files: Any = None, csrf: bool = True
    ) -> httpx.Response:
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf", self.csrf)
        return await self.client.post(url, data=body, files=files)

    async def follow(self, r: httpx.Response) -> httpx.Response:
        assert r.status_code == 303, (r.status_code, r.text[:300])
        return await self.client.get(r.headers["location"])

    @staticmethod
    def flash(r: httpx.Response) -> tuple[str, str]:
        m = FLASH.search(r.text)
        return (m.group(1), m.group(2).strip()) if m else ("", "")


Login = Callable[[str], Awaitable[Console]]


@pytest.fixture
async def login(month: Any, client: httpx.AsyncClient, container: Container) -> AsyncIterator[Login]:
    """`await login(username)`: a Console logged in as that user (operators root, clerk and agent exist;
    partner users are made with `partner_user`)."""
    real = TokenAuthenticator(container)

    async def either(request: Request) -> Actor | None:
        if request.headers.get("x-test-actor"):
            return await fake_authenticator(request)
        return await real(request)

    container.authenticator = either
    async with container.uow() as uow:
        for username, roles in OPERATORS:
            await identity.create_operator(uow, username, PASSWORD, roles, display_name=username)
    opened: list[httpx.AsyncClient] = []

    async def open_(username: str) -> Console:
        c = httpx.AsyncClient(transport=client._transport, base_url="http://test")
        opened.append(c)
        return await Console(c, container).login(username)

    yield open_
    for c in opened:
        await c.aclose()


@pytest.fixture
def partner_user(container: Container) -> Callable[[Any, str], Awaitable[None]]:
    """`await partner_user(world, username)`: a user of the world's partner."""

    async def make(world: Any, username: str) -> None:
        async with container.uow() as uow:
            await identity.create_partner_user(uow, world.partner_id, username, PASSWORD)

    return make
