"""Inputs the OpenAPI fuzzer (tests/fuzz) found answering 500, pinned here so they stay 4xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

# One past the largest signed 64-bit integer: SQLite's driver raised OverflowError binding it (PostgreSQL's
# bigint OFFSET overflows the same way), so `GET /api/v1/orders?offset=9223372036854775808` was a 500.
TOO_FAR = 2**63


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/products"])
async def test_offset_beyond_64_bits_is_400_not_500(api: httpx.AsyncClient, auth: Any, path: str) -> None:
    r = await api.get(path, headers=auth.operator, params={"offset": TOO_FAR, "limit": 1})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "INVALID_ARGUMENT" and body["message"].startswith("query.offset:")


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/products"])
async def test_largest_offset_is_an_empty_page(api: httpx.AsyncClient, auth: Any, path: str) -> None:
    r = await api.get(path, headers=auth.operator, params={"offset": TOO_FAR - 1, "limit": 1})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [] and r.json()["offset"] == TOO_FAR - 1
