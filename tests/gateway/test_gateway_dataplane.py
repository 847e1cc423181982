"""The data plane's fast path (gateway/dataplane.py): capability calls skip FastAPI's middleware stack,
and every answer is the one the routing table gives — same status, body, headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from openability.gateway.dataplane import DataPlane

URL = "/capabilities/sms/v1/messages"


class _Counting:
    """Wraps the app's middleware stack to count the requests that went through it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await self.inner(scope, receive, send)


def _shape(r: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """Status, body with the ids that differ per call blanked, and the headers that matter."""
    try:
        body: Any = r.json()
    except ValueError:
        body = r.text
    if isinstance(body, dict):
        body = {k: ("<id>" if k in ("requestId", "messages") else v) for k, v in body.items()}
    keep = ("content-type", "x-correlator", "www-authenticate", "location", "allow", "retry-after")
    return r.status_code, body, {k: v for k, v in r.headers.items() if k in keep}


async def test_fast_path_serves_capability_calls_without_the_middleware_stack(
    app_and_client: tuple[Any, httpx.AsyncClient], world: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    app, client = app_and_client
    assert isinstance(app.data_plane, DataPlane)
    await client.get("/healthz")  # the stack is built
    counting = app.api.middleware_stack = _Counting(app.api.middleware_stack)
    r = await client.post(URL, json=kit.sms(), headers={**world.auth, "x-correlator": "c-1"})
    assert r.status_code == 201 and r.headers["x-correlator"] == "c-1"
    mid = r.json()["messages"][0]["messageId"]
    r = await client.get(f"{URL}/{mid}", headers=world.auth)
    assert r.status_code == 200 and r.json()["messageId"] == mid
    assert counting.calls == 0
    # Anything that is not exactly a capability route's method and path goes through the app.
    await client.put(URL, json=kit.sms(), headers=world.auth)
    await client.post(URL + "/", json=kit.sms(), headers=world.auth)
    await client.get(URL + "/", headers=world.auth)
    await client.get("/capabilities/fax/v1/messages/x", headers=world.auth)
    assert counting.calls == 4
    await assert_ledger_clean()


async def test_fast_path_answers_as_the_routing_table_does(
    app_and_client: tuple[Any, httpx.AsyncClient], world: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    app, client = app_and_client
    dp = app.data_plane
    first = await client.post(URL, json=kit.sms(), headers=world.auth)
    mid = first.json()["messages"][0]["messageId"]
    corr = {"x-correlator": "abc-1"}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", URL, {"json": kit.sms(), "headers": {**world.auth, **corr}}),
        ("POST", URL, {"json": kit.sms(), "headers": corr}),  # 401
        ("POST", URL, {"content": b"{", "headers": {**world.auth, "content-type": "application/json"}}),
        ("POST", URL, {"content": b"x", "headers": {**world.auth, "content-type": "text/plain"}}),
        ("GET", f"{URL}/{mid}", {"headers": {**world.auth, **corr}}),
        ("GET", f"{URL}/nope", {"headers": world.auth}),  # 404 from the handler
        ("GET", URL, {"headers": corr}),  # 405 from the routing table
        ("PUT", f"{URL}/{mid}", {"headers": world.auth}),
        ("HEAD", f"{URL}/{mid}", {"headers": world.auth}),
        ("POST", URL + "/", {"json": kit.sms(), "headers": world.auth}),
        ("GET", f"{URL}/{mid}/x", {"headers": world.auth}),
        ("POST", "/capabilities/fax/v1/messages", {"json": {}, "headers": corr}),
        ("POST", "/capabilities/voice/v1/notifications/x", {"json": {}, "headers": world.auth}),
    ]
    for method, path, kw in requests:
        app.data_plane = dp
        fast = await client.request(method, path, **kw)
        app.data_plane = None
        slow = await client.request(method, path, **kw)
        assert _shape(fast) == _shape(slow), (method, path)
    app.data_plane = dp
    await assert_ledger_clean()


async def test_unexpected_error_is_the_apps_500(
    app_and_client: tuple[Any, httpx.AsyncClient], world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = app_and_client
    dp = app.data_plane

    async def broken(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("openability.gateway.runtime.message_status", broken)
    answers = []
    for plane in (dp, None):
        app.data_plane = plane
        r = await client.get(f"{URL}/m1", headers={**world.auth, "x-correlator": "z"})
        answers.append(_shape(r))
    app.data_plane = dp
    assert answers[0] == answers[1]
    assert answers[0][0] == 500 and answers[0][1]["code"] == "INTERNAL"
