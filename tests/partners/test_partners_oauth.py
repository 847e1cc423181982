"""POST /oauth/token: RFC 6749 client-credentials grant, errors in RFC and CAMARA form."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select

from openability.bootstrap import Container
from openability.kernel.audit import AuditEntry
from openability.kernel.clock import FrozenClock
from openability.partners import identity, lifecycle, oauth
from openability.partners.models import AccessToken, Partner, PartnerUser
from openability.partners.tokens import hash_token
from openability.partners.types import PartnerStatus

Client = httpx.AsyncClient
MakeAp = Callable[..., Awaitable[tuple[Partner, PartnerUser]]]
URL = "/oauth/token"


async def new_client(
    container: Container, make_ap: MakeAp, scopes: list[str] | None = None
) -> tuple[str, str, str]:
    partner, user = await make_ap(1)
    async with container.uow(identity.partner_user_actor(user)) as uow:
        c, secret = await oauth.create_api_client(uow, partner.id, "app", scopes or ["sms", "voice"])
    return partner.id, c.id, secret


def oauth_err(r: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == error and body["error_description"]
    assert body["status"] == status and body["code"] == error.upper() and body["message"]
    assert r.headers["cache-control"] == "no-store"
    return body


def basic(cid: str, secret: str) -> dict[str, str]:
    raw = f"{quote(cid, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def test_client_credentials_in_body(
    app_client: Client, container: Container, make_ap: MakeAp, clock: FrozenClock
) -> None:
    partner_id, cid, secret = await new_client(container, make_ap)
    r = await app_client.post(
        URL, data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "sms voice"
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    async with container.uow() as uow:
        row = await uow.session.get(AccessToken, hash_token(body["access_token"]))
        assert row is not None and row.kind == "client" and row.partner_id == partner_id
        audit = await uow.session.scalar(select(AuditEntry).where(AuditEntry.action == "client.token_issued"))
        assert audit is not None and audit.actor_type == "api_client" and audit.actor_id == cid
        assert body["access_token"] not in str(audit.after)


async def test_client_credentials_basic_and_scope(
    app_client: Client, container: Container, make_ap: MakeAp
) -> None:
    _, cid, secret = await new_client(container, make_ap)
    r = await app_client.post(
        URL, data={"grant_type": "client_credentials", "scope": "voice"}, headers=basic(cid, secret)
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "voice"
    oauth_err(
        await app_client.post(
            URL, data={"grant_type": "client_credentials", "scope": "mms"}, headers=basic(cid, secret)
        ),
        400,
        "invalid_scope",
    )
    oauth_err(
        await app_client.post(
            URL, data={"grant_type": "client_credentials", "scope": "fax"}, headers=basic(cid, secret)
        ),
        400,
        "invalid_scope",
    )


async def test_wrong_secret_unknown_client(app_client: Client, container: Container, make_ap: MakeAp) -> None:
    _, cid, secret = await new_client(container, make_ap)
    g = {"grant_type": "client_credentials"}
    r = await app_client.post(URL, data={**g, "client_id": cid, "client_secret": secret + "x"})
    oauth_err(r, 401, "invalid_client")
    assert r.headers["www-authenticate"].startswith("Basic")
    oauth_err(
        await app_client.post(URL, data={**g, "client_id": "cli_nobody", "client_secret": secret}),
        401,
        "invalid_client",
    )
    oauth_err(await app_client.post(URL, data={**g, "client_id": cid}), 401, "invalid_client")
    oauth_err(await app_client.post(URL, data=g, headers=basic(cid, "nope")), 401, "invalid_client")
    oauth_err(
        await app_client.post(URL, data=g, headers={"Authorization": "Basic !!!"}), 401, "invalid_client"
    )


async def test_bad_requests(app_client: Client, container: Container, make_ap: MakeAp) -> None:
    _, cid, secret = await new_client(container, make_ap)
    creds = {"client_id": cid, "client_secret": secret}
    oauth_err(
        await app_client.post(URL, data={**creds, "grant_type": "password"}), 400, "unsupported_grant_type"
    )
    oauth_err(await app_client.post(URL, data=creds), 400, "invalid_request")
    oauth_err(
        await app_client.post(URL, json={**creds, "grant_type": "client_credentials"}), 400, "invalid_request"
    )
    oauth_err(
        await app_client.post(
            URL,
            content=f"grant_type=client_credentials&grant_type=client_credentials&client_id={cid}",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    oauth_err(
        await app_client.post(
            URL, data={**creds, "grant_type": "client_credentials"}, headers=basic(cid, secret)
        ),
        400,
        "invalid_request",
    )


async def test_revoked_client_refused(
    app_client: Client, container: Container, make_ap: MakeAp, login_headers: Any
) -> None:
    partner_id, cid, secret = await new_client(container, make_ap)
    h = await login_headers("ap1admin")
    r = await app_client.delete(f"/api/v1/partners/{partner_id}/clients/{cid}", headers=h)
    assert r.status_code == 200
    oauth_err(
        await app_client.post(URL, data={"grant_type": "client_credentials"}, headers=basic(cid, secret)),
        401,
        "invalid_client",
    )


async def test_suspended_partner_still_gets_tokens_exited_does_not(
    app_client: Client, container: Container, make_ap: MakeAp
) -> None:
    # Suspension is enforced by the gateway per call (R-BILL-09); exit revokes credentials (R-EXIT-01).
    partner_id, cid, secret = await new_client(container, make_ap)
    async with container.uow() as uow:
        await lifecycle.set_partner_status(uow, partner_id, PartnerStatus.SUSPENDED, "unpaid")
    r = await app_client.post(URL, data={"grant_type": "client_credentials"}, headers=basic(cid, secret))
    assert r.status_code == 200
    async with container.uow() as uow:
        await lifecycle.set_partner_status(uow, partner_id, PartnerStatus.EXITED, "failed assessment")
    oauth_err(
        await app_client.post(URL, data={"grant_type": "client_credentials"}, headers=basic(cid, secret)),
        401,
        "invalid_client",
    )
