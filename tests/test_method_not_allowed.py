"""Every route answers a method it does not take with 405 and an `Allow` header naming the ones it
does (RFC 9110 §15.5.6), management and capability routes alike (issue 8 item 8)."""

from __future__ import annotations

import re

import httpx

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


async def test_405_carries_allow_on_every_path(app_client: httpx.AsyncClient) -> None:
    doc = (await app_client.get("/openapi.json")).json()
    templates = [(_pattern(p), {m.upper() for m in ops}) for p, ops in doc["paths"].items()]
    checked = 0
    for path, ops in doc["paths"].items():
        concrete = path.replace("{", "x").replace("}", "")  # any value for path parameters
        # every method some route takes at this concrete path (/partners/register is also
        # /partners/{partner_id}): a method none of them takes must be a 405
        taken = set().union(*(methods for pat, methods in templates if pat.match(concrete)))
        other = next((m for m in METHODS if m not in taken), None)
        if other is None:
            continue
        r = await app_client.request(other, concrete)
        assert r.status_code == 405, (other, path, r.status_code)
        got = {m.strip() for m in r.headers["allow"].split(",")}
        assert {m.upper() for m in ops} <= got | {"HEAD"}, (path, got)
        checked += 1
    assert checked > 60
