"""Pages and API answers carry the browser hardening headers (issue 8 item 7): no framing
(X-Frame-Options, CSP frame-ancestors), no MIME sniffing, same-origin referrers."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("path", ["/console/login", "/api/v1/me", "/healthz", "/console/static/console.css"])
async def test_hardening_headers_on_every_page(app_client: httpx.AsyncClient, path: str) -> None:
    r = await app_client.get(path)
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
