"""A client that disconnects while its request body is being read is not a 500: not in the logs, not in
the data plane's metrics (counted as CLIENT_CLOSED), not in the answer (499, which nobody receives).
Driven at the ASGI level: the server hands the app `http.disconnect` in the middle of the body."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY

SMS = "/capabilities/sms/v1/messages"


@pytest.fixture
def app(app_and_client: tuple[Any, Any]) -> Any:
    return app_and_client[0]


async def _cut_off(app: Any, kit: Any, path: str, headers: dict[str, str], first_part: bytes) -> int:
    """POST `first_part` of a body announced longer, then the client is gone. Returns the status the
    app answered (the server would drop it)."""
    length = (b"content-length", str(len(first_part) + 100).encode())
    scope = kit.asgi_post(path, headers, length)
    messages = [{"type": "http.request", "body": first_part, "more_body": True}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def _calls(outcome: str) -> float:
    v = REGISTRY.get_sample_value(
        "openability_gateway_calls_total", {"capability": "sms", "outcome": outcome}
    )
    return v or 0.0


async def test_a_capability_call_cut_off_in_its_body_is_client_closed_not_internal(
    app: Any, world: Any, fakes: Any, kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    closed, internal = _calls("CLIENT_CLOSED"), _calls("INTERNAL")
    with caplog.at_level(logging.INFO):
        status = await _cut_off(
            app, kit, SMS, {"content-type": "application/json", **world.auth}, b'{"to": ["+86138'
        )
    assert status == 499
    assert _calls("CLIENT_CLOSED") == closed + 1 and _calls("INTERNAL") == internal
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert fakes.sent == 0  # nothing sent, nothing charged


@pytest.mark.parametrize(
    ("path", "ctype", "part"),
    [
        ("/oauth/token", "application/x-www-form-urlencoded", b"grant_type=client_cre"),  # reads its form
        ("/api/v1/partners/register", "application/json", b'{"name": "Li'),  # FastAPI reads the body
    ],
)
async def test_a_management_request_cut_off_in_its_body_is_not_a_500(
    app: Any, kit: Any, path: str, ctype: str, part: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        status = await _cut_off(app, kit, path, {"content-type": ctype}, part)
    assert status == 499
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
