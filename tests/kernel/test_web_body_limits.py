"""Request bodies of everything but the capability data plane: JSON up to `max_json_body_bytes` (the
data plane's JSON limit), forms up to `max_form_body_bytes`, file uploads up to
`max_upload_body_bytes`; 415 for a form sent to a JSON route; a JSON syntax error told in lines and
columns (kernel/web.py RequestBodyLimits and install_error_handlers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, File, Form, Request, UploadFile
from pydantic import BaseModel

from openability.bootstrap import Container
from openability.kernel.web import CorrelatorMiddleware, RequestBodyLimits, install_error_handlers

KB = 1024
JSON_LIMIT = 2 * KB
FORM_LIMIT = 4 * KB
UPLOAD_LIMIT = 16 * KB


class TextIn(BaseModel):
    text: str


def small_app() -> FastAPI:
    """The edge as create_app sets it up, with one route of each body kind and small limits."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(
        RequestBodyLimits, json_limit=JSON_LIMIT, form_limit=FORM_LIMIT, upload_limit=UPLOAD_LIMIT
    )
    app.add_middleware(CorrelatorMiddleware)

    @app.post("/json")
    async def json_route(body: TextIn) -> dict[str, int]:
        return {"chars": len(body.text)}

    @app.post("/upload")
    async def upload_route(file: UploadFile = File(...)) -> dict[str, int]:
        return {"size": len(await file.read())}

    @app.post("/form-fields")
    async def form_fields_route(note: str = Form("")) -> dict[str, int]:
        return {"chars": len(note)}

    @app.post("/reads-form-itself")
    async def manual_form_route(request: Request) -> dict[str, int]:
        return {"fields": len(await request.form())}

    @app.post("/reads-body-itself")
    async def manual_body_route(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/capabilities/mms/v1/messages")
    async def capability_route(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


@pytest.fixture
async def small() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=small_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    """A body without Content-Length (httpx sends it chunked)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def json_of_size(n: int) -> bytes:
    body = orjson.dumps({"text": ""})
    return orjson.dumps({"text": "x" * (n - len(body))})


class RawCall:
    """One request straight through the ASGI app, counting the body chunks the app pulls."""

    def __init__(self, app: Any, path: str, headers: list[tuple[bytes, bytes]], parts: list[bytes]):
        self.app, self.path, self.headers, self.parts = app, path, headers, parts
        self.pulled = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.pulled >= len(self.parts):
            return {"type": "http.disconnect"}
        self.pulled += 1
        more = self.pulled < len(self.parts)
        return {"type": "http.request", "body": self.parts[self.pulled - 1], "more_body": more}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def run(self) -> tuple[int, dict[str, Any]]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": self.headers,
            "client": ("127.0.0.1", 5000),
            "server": ("test", 80),
        }
        await self.app(scope, self.receive, self.send)
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        return start["status"], orjson.loads(body)


# ---- the limits, on a small app -------------------------------------------------------------------


async def test_json_body_at_the_limit_passes_one_byte_more_is_413(small: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/json"}
    r = await small.post("/json", content=json_of_size(JSON_LIMIT), headers=headers)
    assert r.status_code == 200, r.text
    r = await small.post("/json", content=json_of_size(JSON_LIMIT + 1), headers=headers)
    assert r.status_code == 413
    assert r.json() == {
        "status": 413,
        "code": "PAYLOAD_TOO_LARGE",
        "message": "the request body is larger than 2 KB",
        "details": {"maxBytes": JSON_LIMIT},
    }


async def test_oversized_content_length_is_refused_before_a_byte_is_read() -> None:
    big = b"x" * (5 * 1024 * 1024)
    call = RawCall(
        small_app(),
        "/json",
        [(b"content-type", b"application/json"), (b"content-length", str(len(big)).encode())],
        [big[i : i + 65536] for i in range(0, len(big), 65536)],
    )
    status, body = await call.run()
    assert status == 413 and body["code"] == "PAYLOAD_TOO_LARGE"
    assert call.pulled == 0


async def test_chunked_body_is_counted_while_streaming_and_stops_at_the_limit() -> None:
    parts = [b'{"text": "'] + [b"x" * 1000] * 5000 + [b'"}']  # ~5 MB, no Content-Length
    call = RawCall(
        small_app(),
        "/json",
        [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        parts,
    )
    status, body = await call.run()
    assert status == 413 and body["code"] == "PAYLOAD_TOO_LARGE"
    assert call.pulled <= JSON_LIMIT // 1000 + 2  # stopped at the limit, not read to the end


async def test_chunked_json_over_http_client_is_413(small: httpx.AsyncClient) -> None:
    r = await small.post(
        "/json", content=chunks(json_of_size(JSON_LIMIT + 500)), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_file_upload_has_its_own_larger_limit(small: httpx.AsyncClient) -> None:
    r = await small.post("/upload", files={"file": ("a.txt", b"y" * (8 * KB), "text/plain")})
    assert r.status_code == 200 and r.json() == {"size": 8 * KB}  # 4x the JSON limit
    r = await small.post("/upload", files={"file": ("a.txt", b"y" * UPLOAD_LIMIT, "text/plain")})
    assert r.status_code == 413
    assert r.json()["message"] == "the request body is larger than 16 KB"


async def test_forms_without_a_file_have_the_form_limit(small: httpx.AsyncClient) -> None:
    for path in ("/form-fields", "/reads-form-itself"):
        r = await small.post(path, data={"note": "n" * (FORM_LIMIT - 100)})  # over the JSON limit
        assert r.status_code == 200, path
        r = await small.post(path, data={"note": "n" * FORM_LIMIT})
        assert r.status_code == 413 and r.json()["details"] == {"maxBytes": FORM_LIMIT}, path


async def test_other_bodies_to_routes_reading_their_own_body_have_the_json_limit(
    small: httpx.AsyncClient,
) -> None:
    r = await small.post("/reads-body-itself", content=b"n" * JSON_LIMIT)
    assert r.status_code == 200 and r.json() == {"size": JSON_LIMIT}
    r = await small.post("/reads-body-itself", content=b"n" * (JSON_LIMIT + 1))
    assert r.status_code == 413 and r.json()["details"] == {"maxBytes": JSON_LIMIT}


async def test_capability_data_plane_paths_keep_their_own_limits(small: httpx.AsyncClient) -> None:
    # MMS takes up to 512 KB (gateway/runtime.py): the management limit must not cut it short.
    r = await small.post("/capabilities/mms/v1/messages", content=b"z" * (8 * JSON_LIMIT))
    assert r.status_code == 200 and r.json() == {"size": 8 * JSON_LIMIT}


# ---- media types, on a small app -------------------------------------------------------------------


async def test_form_body_to_a_json_route_is_415(small: httpx.AsyncClient) -> None:
    for kwargs in (
        {"data": {"text": "hello"}},  # application/x-www-form-urlencoded
        {"files": {"text": ("t.txt", b"hello", "text/plain")}},  # multipart/form-data
        {"content": b"hello", "headers": {"content-type": "text/plain"}},
    ):
        r = await small.post("/json", **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 415, kwargs
        body = r.json()
        assert body["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert body["message"].startswith("the request body must be application/json (got ")


async def test_json_variants_and_form_routes_are_not_refused(small: httpx.AsyncClient) -> None:
    r = await small.post(
        "/json", content=b'{"text": "hi"}', headers={"content-type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 200
    r = await small.post(
        "/json", content=b'{"text": "hi"}', headers={"content-type": "application/merge-patch+json"}
    )
    assert r.status_code == 200
    assert (await small.post("/reads-form-itself", data={"a": "1", "b": "2"})).json() == {"fields": 2}
    assert (await small.post("/form-fields", data={"note": "abc"})).json() == {"chars": 3}


async def test_invalid_json_says_where_in_lines_and_columns(small: httpx.AsyncClient) -> None:
    r = await small.post(
        "/json", content=b'{\n  "text": "a"\n  "more": 1}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "INVALID_ARGUMENT"
    assert body["message"] == (
        "the request body is not valid JSON: Expecting ',' delimiter at line 3, column 3"
    )
    assert body["details"] == [{"field": "", "problem": "Expecting ',' delimiter", "line": 3, "column": 3}]


# ---- the whole app ----------------------------------------------------------------------------------


async def test_5_mb_json_body_to_the_management_api_is_413(app_client: httpx.AsyncClient) -> None:
    big = orjson.dumps({"username": "u" * (5 * 1024 * 1024), "password": "p"})
    r = await app_client.post("/api/v1/auth/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert r.json()["message"] == "the request body is larger than 64 KB"
    r = await app_client.post(
        "/api/v1/auth/login", content=chunks(big, 16 * KB), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_json_limit_is_the_max_json_body_bytes_setting(container: Container) -> None:
    from openability.app import create_app

    container.settings.max_json_body_bytes = 4 * KB
    app = create_app(container, manage_container=False)
    body = json_of_size(5 * KB)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.post(
                "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
            )
    assert r.status_code == 413 and r.json()["details"] == {"maxBytes": 4 * KB}


async def test_form_to_a_json_management_route_is_415(app_client: httpx.AsyncClient) -> None:
    r = await app_client.post("/api/v1/auth/login", data={"username": "a", "password": "b"})
    assert r.status_code == 415
    assert r.json() == {
        "status": 415,
        "code": "UNSUPPORTED_MEDIA_TYPE",
        "message": "the request body must be application/json (got application/x-www-form-urlencoded)",
    }


async def test_form_routes_of_the_app_still_take_forms(app_client: httpx.AsyncClient) -> None:
    # RFC 6749: /oauth/token is form-encoded; the console's forms are forms.
    r = await app_client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await app_client.post("/console/login", data={"username": "a", "password": "b"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    # the longest console text, 10,000 Chinese characters, is 90 KB percent-encoded: still a form
    r = await app_client.post("/console/login", data={"username": "工" * 10_000, "password": "b"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    r = await app_client.post("/console/login", data={"username": "工" * 30_000, "password": "b"})
    assert r.status_code == 413 and r.json()["details"] == {"maxBytes": 256 * KB}


async def test_invalid_json_to_the_management_api_says_where(app_client: httpx.AsyncClient) -> None:
    r = await app_client.post(
        "/api/v1/auth/login",
        content=b'{"username": "a" "password": "b"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["message"] == (
        "the request body is not valid JSON: Expecting ',' delimiter at line 1, column 18"
    )
