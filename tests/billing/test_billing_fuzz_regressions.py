"""Inputs the OpenAPI fuzzer (tests/fuzz) found answering 500, pinned here so they stay 4xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from openability.bootstrap import Container
from openability.partners.models import Partner
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus

# One past the largest signed 64-bit integer: SQLite's driver raised OverflowError binding it (PostgreSQL's
# bigint OFFSET overflows the same way), so `GET /api/v1/invoices?offset=9223372036854775808` was a 500.
TOO_FAR = 2**63
LISTS = ["/api/v1/invoices", "/api/v1/payments", "/api/v1/usage/records"]


@pytest.mark.parametrize("path", LISTS)
async def test_offset_beyond_64_bits_is_400_not_500(api: httpx.AsyncClient, auth: Any, path: str) -> None:
    r = await api.get(path, headers=auth.operator, params={"offset": TOO_FAR, "limit": 1})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "INVALID_ARGUMENT" and body["message"].startswith("query.offset:")


@pytest.mark.parametrize("path", LISTS)
async def test_largest_offset_is_an_empty_page(api: httpx.AsyncClient, auth: Any, path: str) -> None:
    r = await api.get(path, headers=auth.operator, params={"offset": TOO_FAR - 1, "limit": 1})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []


# `GET /api/v1/usage?format=csv&partner_id=Ā` (an operator's free-text filter) put the id into the
# Content-Disposition header, which cannot carry non-latin-1 text: UnicodeEncodeError, a 500. Unknown
# ids now answer 404 before any header is built; the filename still keeps only id characters, checked
# here with partners stored under such ids.
@pytest.mark.parametrize(
    ("partner_id", "filename"),
    [
        ("Ā", "usage-2026-11-_.csv"),
        ('a"b\r\nX: y', "usage-2026-11-a_b__X__y.csv"),
        ("ptn_1-a", "usage-2026-11-ptn_1-a.csv"),
    ],
)
async def test_usage_csv_filename_keeps_only_id_characters(
    api: httpx.AsyncClient, auth: Any, container: Container, partner_id: str, filename: str
) -> None:
    params = {"month": "2026-11", "format": "csv", "partner_id": partner_id}
    r = await api.get("/api/v1/usage", headers=auth.operator, params=params)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND", r.text
    async with container.uow() as uow:
        uow.session.add(
            Partner(
                id=partner_id,
                kind=PartnerKind.AP,
                name=f"odd id {filename}",
                billing_mode=BillingMode.PREPAID,
                status=PartnerStatus.ACTIVE,
                created_at=uow.now,
                updated_at=uow.now,
            )
        )
    r = await api.get("/api/v1/usage", headers=auth.operator, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == f'attachment; filename="{filename}"'
