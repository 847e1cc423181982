"""The platform under granian's RSGI interface (gateway/rsgi.py) answers as under uvicorn: a charged SMS
call (R-CHARGE-01: rated, the balance charged, a CDR), its status query, the data plane's errors, and
the FastAPI side (management API, a 405, a static file streamed in chunks) — the same status, body
shape and x-correlator echo, against real servers on one database per server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bench import http_bench, world
from openability.charging.models import UsageRecord

PORTS = itertools.count(18340)  # this suite's port range: 18300-18399
SMS = "/capabilities/sms/v1/messages"
BODY = {"to": ["+8613800138000"], "text": "rsgi"}


def _shape(value: Any) -> Any:
    """The JSON value with its leaves replaced by their type names (ids and times differ by run)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def _answer(r: httpx.Response) -> dict[str, Any]:
    ctype = r.headers.get("content-type", "")
    keep = ("content-type", "x-correlator", "www-authenticate", "allow", "retry-after", "location")
    return {
        "status": r.status_code,
        "headers": {h: r.headers.get(h) for h in keep},
        "body": _shape(r.json()) if ctype.startswith("application/json") else len(r.content),
    }


def _chunks() -> Iterator[bytes]:
    # No Content-Length: a chunked request body, which the bridge streams to the handler.
    yield b'{"to": ["+8613800138000"],'
    yield b' "text": "chunked"}'


def _exercise(server: str, backend: str, workdir: Path) -> tuple[dict[str, Any], int]:
    """The answers of one server to the same requests, and the CDRs it wrote."""
    with world.fresh_database(backend, workdir) as url:
        data = workdir / f"{server}-{backend}"

        async def seed() -> str:
            c = world.container_for(url, data)
            try:
                return (await world.seed_account(c)).token
            finally:
                await c.dispose()

        token = asyncio.run(seed())
        auth = {"Authorization": f"Bearer {token}"}
        bench = http_bench.BenchServer(url, data, server=server)
        bench.port = next(PORTS)
        bench.base = f"http://127.0.0.1:{bench.port}"
        out: dict[str, Any] = {}
        with bench, httpx.Client(base_url=bench.base, timeout=30.0) as http:
            r = http.post(SMS, json=BODY, headers={**auth, "x-correlator": "rsgi-1"})
            out["charged"] = _answer(r)
            assert r.status_code == 201, r.text
            message_id = r.json()["messages"][0]["messageId"]
            r = http.get(f"{SMS}/{message_id}", headers={**auth, "x-correlator": "rsgi-2"})
            out["status"] = _answer(r)
            assert r.json()["messageId"] == message_id
            out["chunked"] = _answer(
                http.post(SMS, content=_chunks(), headers={**auth, "Content-Type": "application/json"})
            )
            out["unauthenticated"] = _answer(http.post(SMS, json=BODY, headers={"x-correlator": "c3"}))
            out["not_json"] = _answer(
                http.post(SMS, content=b"x", headers={**auth, "Content-Type": "text/plain"})
            )
            out["wrong_method"] = _answer(http.put(SMS, json=BODY, headers={"x-correlator": "c4"}))
            out["api_unauthenticated"] = _answer(http.get("/api/v1/partners", headers={"x-correlator": "c5"}))
            out["livez"] = _answer(http.get("/livez", headers={"x-correlator": "c6"}))
            static = http.get("/console/static/favicon.svg")
            out["static"] = {"status": static.status_code, "type": static.headers.get("content-type")}
            out["static_bytes"] = static.content
            out["not_found"] = _answer(http.get("/nowhere", headers={"x-correlator": "c7"}))

        async def cdrs() -> int:
            c = world.container_for(url, data)
            try:
                async with c.uow() as uow:
                    return int((await uow.session.execute(select(func.count(UsageRecord.id)))).scalar_one())
            finally:
                await c.dispose()

        return out, asyncio.run(cdrs())


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", world.backends())
def test_rsgi_answers_as_uvicorn(backend: str, tmp_path: Path) -> None:
    uvicorn, uvicorn_cdrs = _exercise("uvicorn", backend, tmp_path)
    rsgi, rsgi_cdrs = _exercise("granian-rsgi", backend, tmp_path)
    assert rsgi == uvicorn
    # What the comparison stands on: a charged call, its correlator echoed, the errors as the app renders them.
    assert rsgi["charged"]["status"] == 201 and rsgi["charged"]["headers"]["x-correlator"] == "rsgi-1"
    assert rsgi["status"]["status"] == 200 and rsgi["status"]["headers"]["x-correlator"] == "rsgi-2"
    assert rsgi["chunked"]["status"] == 201
    assert (
        rsgi["unauthenticated"]["status"] == 401
        and rsgi["unauthenticated"]["headers"]["x-correlator"] == "c3"
    )
    assert rsgi["not_json"]["status"] == 415
    assert rsgi["wrong_method"]["status"] == 405 and rsgi["wrong_method"]["headers"]["allow"]
    assert rsgi["api_unauthenticated"]["status"] == 401
    assert rsgi["livez"]["status"] == 200 and rsgi["livez"]["headers"]["x-correlator"] == "c6"
    assert rsgi["static"]["status"] == 200 and len(rsgi["static_bytes"]) > 0
    assert rsgi["not_found"]["status"] == 404
    assert rsgi_cdrs == uvicorn_cdrs == 2  # both charged calls (plain and chunked) rated and recorded
