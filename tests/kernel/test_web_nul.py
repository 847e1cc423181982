"""A NUL character in a URL or a request body is a 400 on every management route and every backend
(PostgreSQL refuses NUL in text: it used to be a 500 there), before any route or database sees it."""

from __future__ import annotations

import httpx
import pytest

from openability.kernel.web import _NulScanner


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("POST", "/api/v1/auth/login", {"json": {"username": "ad\x00min", "password": "x" * 10}}),
        ("GET", "/api/v1/partners?partner_id=%00", {}),
        ("GET", "/api/v1/usage?partner_id=a%00b", {}),
        ("POST", "/api/v1/products", {"json": {"code": "x", "nameZh": "短\x00信"}}),
        ("POST", "/api/v1/payments/p1/reject", {"json": {"reason": "no\x00pe"}}),
        (
            "POST",
            "/oauth/token",
            {
                "content": b"grant_type=client_credentials&client_id=a%00&client_secret=b",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
        ),
    ],
)
async def test_nul_is_a_400_everywhere(
    app_client: httpx.AsyncClient, method: str, url: str, kwargs: dict
) -> None:  # type: ignore[type-arg]
    r = await app_client.request(method, url, **kwargs)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "INVALID_ARGUMENT" and "NUL" in r.json()["message"]


def test_scanner_finds_the_escape_across_chunks_and_not_an_escaped_backslash() -> None:
    s = _NulScanner(form=False)
    assert not s.found(b'{"a": "x\\')
    assert s.found(b'u0000"}')
    assert not _NulScanner(form=False).found(b'{"a": "\\\\u0000"}')  # a backslash, then the text u0000
    assert _NulScanner(form=False).found(b'{"a": "\\\\\\u0000"}')  # a backslash, then the escape
    assert not _NulScanner(form=False).found(b'{"note": "100%00 done"}')  # %00 is text in JSON
    assert _NulScanner(form=True).found(b"a=b%00c")
