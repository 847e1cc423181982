"""R-PARTNER-04 over HTTP: brand words written in traditional characters, full-width forms, with inserted
spaces or punctuation, or in another case are refused like the simplified spelling, on AP registration
and on a rename, and nothing is written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openability.bootstrap import Container
from openability.partners.models import Partner, PartnerUser

Client = httpx.AsyncClient
MakeAp = Callable[..., Awaitable[tuple[Partner, PartnerUser]]]
Login = Callable[..., Awaitable[dict[str, str]]]

DISGUISED = [
    ("上海電信公司合作商", "电信公司"),
    ("天翼應用工廠合作商", "天翼应用工厂"),
    ("天翼应用工廠代理", "天翼应用工厂"),
    ("電 信・公 司科技", "电信公司"),
    ("ＸＹ電信（公司）", "电信公司"),
    ("天翼 应用－工厂 合作", "天翼应用工厂"),
]


def brand_word_error(r: httpx.Response, word: str) -> None:
    assert r.status_code == 422, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == 422 and body["code"] == "BRAND_WORD", body
    assert f"protected brand word {word!r}" in body["message"], body


async def partner_names(container: Container) -> list[str]:
    async with container.uow() as uow:
        return [p.name for p in (await uow.session.scalars(select(Partner))).all()]


@pytest.mark.parametrize(("name", "word"), DISGUISED)
async def test_r_partner_04_register_ap_with_disguised_brand_word_refused(
    app_client: Client, ap_data: Any, container: Container, name: str, word: str
) -> None:
    brand_word_error(await app_client.post("/api/v1/partners/register", json=ap_data(1, name=name)), word)
    assert await partner_names(container) == []


async def test_r_partner_04_register_ap_with_traditional_brand_word_in_a_branch_refused(
    app_client: Client, ap_data: Any, container: Container
) -> None:
    r = await app_client.post(
        "/api/v1/partners/register", json=ap_data(1, branches=["杭州分公司", "蘇州電信公司分部"])
    )
    brand_word_error(r, "电信公司")
    assert await partner_names(container) == []


async def test_r_partner_04_register_ap_with_latin_brand_word_in_another_case_refused(
    app_client: Client, ap_data: Any, container: Container
) -> None:
    container.settings.brand_words = [*container.settings.brand_words, "Telecom"]
    brand_word_error(
        await app_client.post("/api/v1/partners/register", json=ap_data(1, name="Acme ＴＥＬＥ-com Ltd")),
        "Telecom",
    )
    assert await partner_names(container) == []
    # A name without any protected word still registers.
    r = await app_client.post("/api/v1/partners/register", json=ap_data(1, name="Acme 電訊軟件"))
    assert r.status_code == 201, r.text
    assert await partner_names(container) == ["Acme 電訊軟件"]


async def test_r_partner_04_rename_to_traditional_brand_word_refused(
    app_client: Client, make_ap: MakeAp, login_headers: Login, container: Container
) -> None:
    p1, _ = await make_ap(1)
    h1 = await login_headers("ap1admin")
    r = await app_client.patch(f"/api/v1/partners/{p1.id}", json={"name": "星河電信公司"}, headers=h1)
    brand_word_error(r, "电信公司")
    r = await app_client.patch(
        f"/api/v1/partners/{p1.id}", json={"branches": ["天翼應用工廠南京"]}, headers=h1
    )
    brand_word_error(r, "天翼应用工厂")
    assert await partner_names(container) == ["星河软件1有限公司"]
