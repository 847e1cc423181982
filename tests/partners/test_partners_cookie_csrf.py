"""The management API takes bearer tokens, or the console's session cookie only together with the CSRF
header on state-changing calls (issue 8 item 7): a cross-site form post that carries the cookie cannot
confirm a payment. The cookies are Secure when the platform is served over HTTPS (setting)."""

from __future__ import annotations

import httpx

from openability.bootstrap import Container
from openability.console.csrf import SESSION_COOKIE, csrf_token_for
from openability.partners import identity


async def _clerk_cookie(container: Container) -> str:
    async with container.uow() as uow:
        await identity.create_operator(uow, "clerk1", "secret123abc", ["billing_clerk"])
    async with container.uow() as uow:
        token, _ = await identity.login(uow, "clerk1", "secret123abc")
    return token


async def test_cookie_alone_cannot_change_state_on_the_api(
    app_client: httpx.AsyncClient, container: Container
) -> None:
    token = await _clerk_cookie(container)
    app_client.cookies.set(SESSION_COOKIE, token)
    # a read with the cookie is fine (the console's own pages do it)
    assert (await app_client.get("/api/v1/payments")).status_code == 200
    r = await app_client.post("/api/v1/payments/pay_unknown/confirm")
    assert r.status_code == 403 and r.json()["code"] == "CSRF_TOKEN_REQUIRED"
    r = await app_client.post("/api/v1/payments/pay_unknown/confirm", headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["code"] == "CSRF_TOKEN_REQUIRED"
    good = csrf_token_for(container.settings.secret_key, token)
    r = await app_client.post("/api/v1/payments/pay_unknown/confirm", headers={"X-CSRF-Token": good})
    assert r.status_code == 404  # past the door: the payment does not exist
    app_client.cookies.clear()
    r = await app_client.post(
        "/api/v1/payments/pay_unknown/confirm", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 404  # a bearer token needs no CSRF header


async def test_session_cookie_is_secure_when_served_over_https(
    app_client: httpx.AsyncClient, container: Container
) -> None:
    await _clerk_cookie(container)
    page = await app_client.get("/console/login")
    assert "secure" not in page.headers["set-cookie"].lower()
    container.settings.session_cookie_secure = True
    page = await app_client.get("/console/login")
    assert "secure" in page.headers["set-cookie"].lower()
    csrf = page.headers["set-cookie"].split("=", 1)[1].split(";", 1)[0]
    # httpx keeps a Secure cookie to itself over http://: hand it over as the browser would over HTTPS
    r = await app_client.post(
        "/console/login",
        data={"username": "clerk1", "password": "secret123abc", "csrf": csrf},
        headers={"Cookie": f"oa_csrf={csrf}"},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303) and "secure" in r.headers["set-cookie"].lower()
