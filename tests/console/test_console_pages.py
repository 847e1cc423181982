"""Who may see a console page (the OperatorPage / PartnerPage dependencies and the one handler that
answers a refusal), the sections other domains add to the operator's partner page, the catalog list's
current price, and the new-version form starting "now"."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select
from starlette.responses import PlainTextResponse, Response

from openability.bootstrap import Container
from openability.catalog.models import PricePlan
from openability.console import pagekit
from openability.console.pagekit import OperatorPage, PartnerPage
from openability.kernel.uow import Actor

OPS_PAGES = [
    ("GET", "/console/ops/partners"),  # partners
    ("GET", "/console/ops/catalog"),  # catalog
    ("POST", "/console/ops/catalog/sms-standard/versions"),
    ("GET", "/console/ops/payments"),  # billing
    ("GET", "/console/ops/tickets"),  # tickets
    ("POST", "/console/ops/calendar/confirm"),
]
PORTAL_PAGES = [
    ("GET", "/console/portal"),  # billing
    ("POST", "/console/portal/topup"),
    ("GET", "/console/portal/orders"),  # catalog
    ("GET", "/console/portal/usage"),  # charging
    ("GET", "/console/portal/clients"),  # partners
    ("GET", "/console/portal/tickets"),  # tickets
    ("POST", "/console/portal/tickets/tkt_x/attachments"),
]


async def _send(browser: Any, method: str, url: str) -> httpx.Response:
    if method == "GET":
        return await browser.get(url)
    return await browser.post(url, {"x": "1"})


async def test_anonymous_visitors_are_sent_to_login_with_the_page_to_come_back_to(
    browser: Any, world: Any
) -> None:
    for method, url in OPS_PAGES + PORTAL_PAGES:
        r = await _send(browser, method, url)
        assert r.status_code == 303, (url, r.status_code)
        assert r.headers["location"] == f"/console/login?next={url}", url


async def test_visitors_on_the_wrong_side_are_sent_to_their_own_home(browser: Any, world: Any) -> None:
    await browser.login("ap1user")
    for method, url in OPS_PAGES:
        r = await _send(browser, method, url)
        assert r.status_code == 303 and r.headers["location"] == "/console/portal", url
    await browser.login("agent")
    for method, url in PORTAL_PAGES:
        r = await _send(browser, method, url)
        assert r.status_code == 303 and r.headers["location"] == "/console/ops/partners", url


def _bare_app(actor: Actor | None) -> FastAPI:
    """An app with only the console handler installed and two pages, one of each kind."""

    async def authenticate(_request: Request) -> Actor | None:
        return actor

    app = FastAPI()
    app.state.container = SimpleNamespace(authenticator=authenticate)
    pagekit.install(app)

    @app.get("/console/ops/thing")
    async def ops_thing(actor: OperatorPage) -> Response:
        return PlainTextResponse(f"ops:{actor.id}")

    @app.get("/console/portal/thing")
    async def portal_thing(actor: PartnerPage) -> Response:
        return PlainTextResponse(f"portal:{pagekit.partner_id_of(actor)}")

    return app


@pytest.mark.parametrize(
    ("actor", "ops", "portal"),
    [
        (None, "/console/login?next=/console/ops/thing", "/console/login?next=/console/portal/thing"),
        (Actor(type="operator", id="op_1", roles=frozenset({"admin"})), "", "/console/ops/partners"),
        (Actor(type="partner_user", id="pu_1", partner_id="prt_1"), "/console/portal", ""),
        # an API client's token is no console session: to the login page
        (
            Actor(type="api_client", id="cli_1", partner_id="prt_1"),
            "/console/portal",
            "/console/login?next=/console/portal/thing",
        ),
    ],
)
async def test_page_dependencies_refuse_through_the_installed_handler(
    actor: Actor | None, ops: str, portal: str
) -> None:
    transport = httpx.ASGITransport(app=_bare_app(actor))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for url, where, body in (
            ("/console/ops/thing", ops, f"ops:{actor.id if actor else ''}"),
            ("/console/portal/thing", portal, f"portal:{actor.partner_id if actor else ''}"),
        ):
            r = await client.get(url)
            if where:
                assert r.status_code == 303 and r.headers["location"] == where, url
            else:
                assert r.status_code == 200 and r.text == body, url


async def test_partner_page_shows_the_sections_of_billing_and_catalog(browser: Any, world: Any) -> None:
    await browser.login("root")
    r = await browser.get(f"/console/ops/partners/{world.ap_id}?lang=en")
    assert r.status_code == 200
    text = r.text
    # balance (billing), orders (catalog), payments (billing), then the partner's own users and clients
    order = [text.index(f'id="{i}"') for i in ("balance-available", "partner-orders", "partner-payments")]
    order += [text.index('id="partner-users"'), text.index('id="partner-clients"')]
    assert order == sorted(order)
    assert 'id="balance-available">¥100.0000' in text
    payments = text.split('id="partner-payments"', 1)[1].split("</table>", 1)[0]
    assert "¥100.00" in payments and "confirmed" in payments


def _row(html: str, code: str) -> str:
    m = re.search(rf'<tr id="product-{re.escape(code)}">(.*?)</tr>', html, re.S)
    assert m, code
    return m.group(1)


async def test_catalog_list_shows_the_current_version_and_list_price(
    browser: Any, world: Any, container: Container
) -> None:
    await browser.login("pmanager")
    r = await browser.get("/console/ops/catalog?lang=zh")
    assert "当前价格版本" in r.text and "目录价（首档）" in r.text
    row = _row(r.text, "sms-standard")
    assert "v1" in row and "¥0.0500" in row  # the national list band's first tier
    assert "¥0.3000" in _row(r.text, "mms-standard")
    # a product without a price version says so
    r = await browser.post(
        "/console/ops/catalog/products",
        {
            "code": "sms-bulk",
            "capability": "sms",
            "name_zh": "批量短信",
            "name_en": "Bulk SMS",
            "unit": "segment",
        },
    )
    assert r.status_code == 303
    r = await browser.get("/console/ops/catalog?lang=en")
    assert "Current price version" in r.text and "List price (first tier)" in r.text
    assert "none in force" in _row(r.text, "sms-bulk")
    # a version valid from now replaces v1 in the list at once
    page = await browser.get("/console/ops/catalog/sms-standard")
    tiers = re.search(r'<textarea id="tiers" name="tiers"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert tiers
    import html

    dearer = html.unescape(tiers.group(1)).replace('"0.0500"', '"0.0520"')
    r = await browser.post("/console/ops/catalog/sms-standard/versions", {"start": "now", "tiers": dearer})
    assert r.status_code == 303, r.text[:300]
    row = _row((await browser.get("/console/ops/catalog")).text, "sms-standard")
    assert "v2" in row and "¥0.0520" in row


async def test_new_version_form_starts_now_by_default(
    browser: Any, world: Any, container: Container, clock: Any
) -> None:
    await browser.login("pmanager")
    page = await browser.get("/console/ops/catalog/sms-standard")
    assert re.search(r'id="start-now"\s+checked', page.text)
    assert not re.search(r'id="start-at"\s+checked', page.text)
    tiers = re.search(r'<textarea id="tiers" name="tiers"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert tiers
    import html

    tiers_json = html.unescape(tiers.group(1))
    # "at" with a moment in the past is refused, and the form comes back with "at" chosen
    r = await browser.post(
        "/console/ops/catalog/sms-standard/versions",
        {"start": "at", "valid_from": "2026-11-02T09:00", "tiers": tiers_json},
    )
    assert r.status_code == 400 and "past" in r.text
    assert re.search(r'id="start-at"\s+checked', r.text)
    # the form as rendered (start=now, and the suggested later moment left in the date field)
    valid_from = re.search(r'id="valid_from" name="valid_from" value="([^"]+)"', page.text)
    assert valid_from
    r = await browser.post(
        "/console/ops/catalog/sms-standard/versions",
        {"start": "now", "valid_from": valid_from.group(1), "tiers": tiers_json, "note": "即时调价"},
    )
    page = await browser.follow(r)
    assert browser.flash(page)[0] == "ok" and 'id="version-2"' in page.text
    v2_section = page.text.split('id="version-2"', 1)[1].split("</section>", 1)[0]
    assert "当前生效" in v2_section  # in force at once
    async with container.uow() as uow:
        plans = (await uow.session.scalars(select(PricePlan).order_by(PricePlan.version))).all()
        sms = [p for p in plans if p.note in ("即时调价",)]
        assert len(sms) == 1
        v1 = next(p for p in plans if p.product_id == sms[0].product_id and p.version == 1)
    now = clock.now()
    assert _utc(sms[0].valid_from) == now and _utc(v1.valid_to) == now


def _utc(dt: datetime | None) -> datetime:
    assert dt is not None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
