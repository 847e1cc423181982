"""The platform as an RSGI application (granian's own Rust-to-Python interface, `granian --interface
rsgi`), measured against uvicorn's ASGI (docs/benchmarks.md "granian RSGI").

    granian --interface rsgi --factory openability.app:create_rsgi_app

RSGI hands the application a scope object (str headers, the percent-decoded path) and a protocol
object that reads the body (`await protocol()`, or chunk by chunk) and answers in one call
(`response_bytes`) instead of ASGI's receive/send messages. `RsgiApp` is a small RSGI->ASGI bridge in
front of the one ASGI entry point, `PlatformApp` (app.py): the capability calls still go to the data
plane's raw ASGI handlers first (gateway/dataplane.py), everything else to FastAPI, so both servers run
the same code past the bridge. The bridge is HTTP only (the platform serves no websocket): the request
body is read whole when the client sent its Content-Length (the usual case: one Rust-side read), else
streamed chunk by chunk so the handlers' size limits hold before it is all in memory; a response of one
body message goes out in one `response_bytes` call, a streamed one through `response_stream`.

The lifespan: granian calls `__rsgi_init__(loop)` before it serves and `__rsgi_del__(loop)` after, with
the worker's event loop not running yet (no longer); they run the FastAPI app's lifespan context (what
an ASGI server's lifespan "startup"/"shutdown" messages run) on that loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger(__name__)

_ASGI = {"version": "3.0", "spec_version": "2.3"}
_DISCONNECT: Message = {"type": "http.disconnect"}
_PLAIN_500 = [("content-type", "text/plain; charset=utf-8")]


class LifespanASGI(Protocol):
    """An ASGI app with its lifespan context (app.PlatformApp: the gateway does not import app.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...
    def lifespan(self) -> AbstractAsyncContextManager[Any]: ...


class RsgiHeaders(Protocol):
    def items(self) -> list[tuple[str, str]]: ...


class RsgiScope(Protocol):
    proto: str
    http_version: str
    server: str
    client: str
    scheme: str
    method: str
    path: str
    query_string: str

    @property
    def headers(self) -> RsgiHeaders: ...


class RsgiStream(Protocol):
    async def send_bytes(self, data: bytes) -> None: ...


class RsgiHTTP(Protocol):
    """granian's RSGIHTTPProtocol (granian/_granian.pyi), the calls the bridge makes."""

    async def __call__(self) -> bytes: ...
    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def client_disconnect(self) -> None: ...
    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...
    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> RsgiStream: ...


def _address(addr: str) -> tuple[str, int] | None:
    """RSGI's "host:port" (IPv6 hosts in brackets or not) as ASGI's (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def asgi_scope(scope: RsgiScope) -> Scope:
    """The ASGI HTTP scope of an RSGI scope (what uvicorn would pass, less `raw_path`: RSGI gives the
    decoded path only; ASGI makes `raw_path` optional)."""
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": scope.http_version,
        "server": _address(scope.server),
        "client": _address(scope.client),
        "scheme": scope.scheme,
        "method": scope.method,
        "root_path": "",
        "path": scope.path,
        "query_string": scope.query_string.encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in scope.headers.items()],
        "state": {},
    }


class _Exchange:
    """One request's ASGI `receive` and `send` on an RSGI protocol."""

    __slots__ = ("_chunks", "_headers", "_protocol", "_read", "_status", "_stream", "_whole", "started")

    def __init__(self, protocol: RsgiHTTP, whole_body: bool) -> None:
        self._protocol = protocol
        self._whole = whole_body
        self._read = False  # the whole body was handed over
        self._chunks: AsyncIterator[bytes] | None = None
        self._status = 200
        self._headers: list[tuple[str, str]] = []
        self._stream: RsgiStream | None = None
        self.started = False  # an answer went out (or began to)

    async def receive(self) -> Message:
        if self._read:
            await self._protocol.client_disconnect()  # as an ASGI server: wait until the client leaves
            return _DISCONNECT
        if self._whole:
            self._read = True
            return {"type": "http.request", "body": await self._protocol(), "more_body": False}
        if self._chunks is None:
            self._chunks = self._protocol.__aiter__()
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]]
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        stream = self._stream
        if stream is None:
            self.started = True
            if not more:
                self._protocol.response_bytes(self._status, self._headers, body)
                return
            stream = self._stream = self._protocol.response_stream(self._status, self._headers)
        if body:
            await stream.send_bytes(body)


class RsgiApp:
    """`PlatformApp` (capability calls to the data plane, the rest to FastAPI) served over RSGI."""

    def __init__(self, platform_app: LifespanASGI) -> None:
        self.platform_app = platform_app
        self._lifespan: AbstractAsyncContextManager[Any] | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        lifespan = self.platform_app.lifespan()
        loop.run_until_complete(lifespan.__aenter__())
        self._lifespan = lifespan

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            loop.run_until_complete(lifespan.__aexit__(None, None, None))

    async def __rsgi__(self, scope: RsgiScope, protocol: RsgiHTTP) -> None:
        if scope.proto != "http":
            raise RuntimeError(f"RSGI {scope.proto!r} is not served (HTTP only: run granian with --no-ws)")
        asgi = asgi_scope(scope)
        whole = False
        for k, _ in asgi["headers"]:
            if k == b"content-length":
                whole = True
                break
        exchange = _Exchange(protocol, whole)
        try:
            await self.platform_app(asgi, exchange.receive, exchange.send)
        except Exception:
            if not exchange.started:  # what uvicorn answers when the app fails before answering
                protocol.response_bytes(500, _PLAIN_500, b"Internal Server Error")
            raise
        if not exchange.started:
            log.error("the application returned without answering %s %s", scope.method, scope.path)
            protocol.response_bytes(500, _PLAIN_500, b"Internal Server Error")
