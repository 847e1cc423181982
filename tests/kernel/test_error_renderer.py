"""One renderer of error bodies and headers (kernel/errors.py), used by the management API's handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from openability.kernel.errors import (
    AppError,
    Busy,
    Internal,
    InvalidArgument,
    NotFound,
    TooManyRequests,
    Unauthenticated,
    error_body,
    error_headers,
)
from openability.kernel.web import CorrelatorMiddleware, install_error_handlers


def test_error_body_is_the_camara_shape_with_details_only_when_given() -> None:
    assert error_body(404, "NOT_FOUND", "no such partner") == {
        "status": 404,
        "code": "NOT_FOUND",
        "message": "no such partner",
    }
    assert error_body(400, "INVALID_ARGUMENT", "bad", {}) == {
        "status": 400,
        "code": "INVALID_ARGUMENT",
        "message": "bad",
    }
    assert error_body(400, "INVALID_ARGUMENT", "bad", [{"field": "to", "problem": "not E.164"}])[
        "details"
    ] == [{"field": "to", "problem": "not E.164"}]


def test_app_error_body_is_rendered_by_error_body() -> None:
    exc = NotFound("no such ticket", code="TICKET_NOT_FOUND", details={"id": "t1"})
    assert exc.body() == error_body(404, "TICKET_NOT_FOUND", "no such ticket", {"id": "t1"})
    assert Internal().body() == {"status": 500, "code": "INTERNAL", "message": "internal error"}


def test_error_headers_bearer_challenge_on_401() -> None:
    assert error_headers(Unauthenticated("authentication required")) == {
        "WWW-Authenticate": 'Bearer realm="openability"'
    }
    expired = Unauthenticated("the access token has expired", bearer_error="invalid_token")
    assert error_headers(expired) == {"WWW-Authenticate": 'Bearer realm="openability", error="invalid_token"'}


@pytest.mark.parametrize(
    ("exc", "retry_after"),
    [
        (TooManyRequests("slow down", details={"retryAfter": 3}), "3"),
        (TooManyRequests("slow down", details={"retryAfter": 0.2}), "1"),  # whole seconds, rounded up
        (TooManyRequests("slow down", details={"retryAfter": 2.5}), "3"),
        (TooManyRequests("slow down"), "1"),
        (Busy("the database is unavailable"), "1"),
        (Busy("the database is unavailable", details={"retryAfter": 0}), "1"),  # never 0
        (Busy("the database is unavailable", details={"retryAfter": "soon"}), "1"),
    ],
)
def test_error_headers_retry_after_on_429_and_503(exc: AppError, retry_after: str) -> None:
    assert error_headers(exc) == {"Retry-After": retry_after}


def test_other_errors_have_no_extra_headers() -> None:
    assert error_headers(InvalidArgument("bad")) == {}
    assert error_headers(NotFound("gone")) == {}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(CorrelatorMiddleware)

    @app.get("/busy")
    async def busy() -> None:
        raise Busy("the idempotency store is unavailable, retry later", details={"retryAfter": 2})

    @app.get("/who")
    async def who() -> None:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail that must not reach the client")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_handlers_send_the_renderers_headers(client: httpx.AsyncClient) -> None:
    r = await client.get("/busy")
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert (
        r.json()
        == Busy("the idempotency store is unavailable, retry later", details={"retryAfter": 2}).body()
    )
    r = await client.get("/who")
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="openability"'


async def test_500_body_is_the_internal_error_and_echoes_the_correlator(client: httpx.AsyncClient) -> None:
    r = await client.get("/boom", headers={"x-correlator": "corr-500"})
    assert r.status_code == 500
    assert r.json() == {"status": 500, "code": "INTERNAL", "message": "internal error"}
    assert r.headers["x-correlator"] == "corr-500"


async def test_management_api_401_carries_a_bearer_challenge(app_client: httpx.AsyncClient) -> None:
    r = await app_client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHENTICATED"
    assert r.headers["www-authenticate"] == 'Bearer realm="openability"'
