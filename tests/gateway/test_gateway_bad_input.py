"""Bad input on the capability API (issue 8 item 8): null where the schema says string is a 400, as any
other non-string is — the OpenAPI document and the API agree."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

URL = "/capabilities/sms/v1/messages"


@pytest.mark.parametrize("field", ["clientCorrelator", "productId"])
async def test_null_for_an_optional_string_is_refused_and_nothing_is_charged(
    client: httpx.AsyncClient, world: Any, kit: Any, field: str
) -> None:
    before = await world.prepaid_total()
    r = await client.post(URL, json={**kit.sms(), field: None}, headers=world.auth)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_ARGUMENT"
    assert field in r.json()["message"]
    assert await world.prepaid_total() == before
