"""The raw ASGI fast path (gateway/dataplane.py) gives the error answers the FastAPI routing table gives
for the same request (same status, body, headers), and reads a body sent in several ASGI messages."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from openability.kernel.web import SECURITY_HEADERS

URL = "/capabilities/sms/v1/messages"


# The app's security headers are for pages and the console API, not the data plane (kernel/web.py).
SKIP = {"date"} | {k.decode() for k, _ in SECURITY_HEADERS}


def _shape(r: httpx.Response) -> tuple[int, Any, list[tuple[str, str]]]:
    return r.status_code, r.json(), sorted((k, v) for k, v in r.headers.items() if k not in SKIP)


async def test_error_answers_are_the_routing_tables(
    app_and_client: tuple[Any, httpx.AsyncClient], world: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    app, client = app_and_client
    dp = app.data_plane
    auth = {**world.auth, "x-correlator": "raw-1"}
    big = b'{"to": ["+8613800138000"], "text": "' + b"x" * (70 * 1024) + b'"}'
    cases: list[dict[str, Any]] = [
        {"json": {**kit.sms(), "clientCorrelator": None}, "headers": auth},
        {"json": {**kit.sms(), "txt": "typo"}, "headers": auth},
        {"json": {**kit.sms(), "to": "+8613800138000"}, "headers": auth},
        {"json": [], "headers": auth},
        {"content": big, "headers": {**auth, "content-type": "application/json"}},
        {"json": kit.sms(), "headers": {**auth, "Idempotency-Key": "has space"}},
        {"json": {**kit.sms(), "clientCorrelator": "a"}, "headers": {**auth, "Idempotency-Key": "b"}},
        {"json": kit.sms(), "headers": {"Authorization": "Basic x"}},
        {"json": kit.sms(), "headers": {"Authorization": "Bearer nope", "x-correlator": "c"}},
        {"content": b"{}", "headers": {**auth, "content-type": "application/json; charset=latin-1"}},
        {"content": b"{}", "headers": auth},  # no content-type
    ]
    for kw in cases:
        app.data_plane = dp
        fast = await client.post(URL, **kw)
        app.data_plane = None
        slow = await client.post(URL, **kw)
        assert fast.status_code >= 400, kw
        assert _shape(fast) == _shape(slow), kw
    app.data_plane = dp
    await assert_ledger_clean()


async def test_a_body_in_several_messages_is_read_whole(
    app_and_client: tuple[Any, httpx.AsyncClient], world: Any, kit: Any
) -> None:
    app, _ = app_and_client
    body = orjson.dumps(kit.sms())
    chunks = [body[:5], b"", body[5:20], body[20:]]
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    scope = kit.asgi_post(URL, world.auth, (b"content-type", b"application/json"))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 201
    assert orjson.loads(sent[1]["body"])["messages"][0]["status"] == "submitted"
