"""CSRF on the console's own forms: login (double-submit cookie, no session yet) and logout (the
session's token, which base.html carries on every page of a logged-in user)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from openability.bootstrap import Container
from openability.console.csrf import ANON_COOKIE
from openability.console.web import SESSION_COOKIE
from openability.partners.models import AccessToken

PASSWORD = "Secret123"


async def _live_sessions(container: Container) -> int:
    async with container.uow() as uow:
        q = select(func.count()).select_from(AccessToken).where(AccessToken.revoked_at.is_(None))
        return int(await uow.session.scalar(q) or 0)


async def test_login_form_sets_a_short_lived_httponly_lax_cookie(browser: Any, world: Any) -> None:
    r = await browser.get("/console/login")
    assert r.status_code == 200
    set_cookie = r.headers["set-cookie"].lower()
    assert set_cookie.startswith(f"{ANON_COOKIE}=")
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "max-age=3600" in set_cookie
    token = browser.form_token(r.text)
    assert r.cookies.get(ANON_COOKIE) == token
    # a second tab gets the same token, so both forms stay valid
    again = await browser.get("/console/login?next=/console/portal")
    assert browser.form_token(again.text) == token


async def test_login_without_a_matching_token_is_refused_and_logs_nobody_in(
    browser: Any, world: Any, container: Container
) -> None:
    client = browser.client
    before = await _live_sessions(container)
    creds = {"username": "ap1user", "password": PASSWORD}
    client.cookies.clear()
    # no cookie, no field (a forged cross-site post)
    r = await client.post("/console/login", data=creds)
    assert r.status_code == 400 and 'role="alert"' in r.text and SESSION_COOKIE not in r.cookies
    assert 'value="ap1user"' in r.text and PASSWORD not in r.text  # the form comes back, filled in
    fresh = browser.form_token(r.text)
    assert r.cookies.get(ANON_COOKIE) == fresh  # ... with a token that now works
    # cookie but a wrong field, and cookie but no field
    for extra in ({"csrf": "x" * 43}, {"csrf": "不是令牌"}, {}):
        r = await client.post("/console/login", data=creds | extra)
        assert r.status_code == 400 and SESSION_COOKIE not in r.cookies, extra
    # a field copied from a page but no cookie (the attacker cannot set it)
    client.cookies.clear()
    r = await client.post("/console/login", data=creds | {"csrf": fresh})
    assert r.status_code == 400 and SESSION_COOKIE not in r.cookies
    assert await _live_sessions(container) == before
    # the real form works, and the login drops the used token
    r = await browser.login("ap1user")
    assert r.headers["location"] == "/console/portal"
    assert await _live_sessions(container) == before + 1
    assert f'{ANON_COOKIE}=""' in r.headers["set-cookie"]


async def test_logout_needs_the_sessions_token(browser: Any, world: Any, container: Container) -> None:
    await browser.login("ap1user")
    home = await browser.get("/console/portal")
    assert 'id="logout-form"' in home.text
    assert browser.form_token(home.text) == browser.csrf  # base.html carries the session's token
    for data in ({}, {"csrf": "0" * 40}):
        r = await browser.client.post("/console/logout", data=data)
        assert r.status_code == 403 and 'id="page-error"' in r.text
        assert 'id="logout-form"' in r.text  # still logged in: the error page shows who
    assert (await browser.get("/api/v1/me")).status_code == 200
    live = await _live_sessions(container)
    # the form as rendered logs out
    r = await browser.post("/console/logout")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert await _live_sessions(container) == live - 1
    assert (await browser.get("/api/v1/me")).status_code == 401
    # an ops page carries the same kind of token in its logout form
    await browser.login("root")
    ops = await browser.get("/console/ops/partners")
    assert browser.form_token(ops.text) == browser.csrf
