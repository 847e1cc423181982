"""The data plane's fast path: a raw ASGI dispatcher in front of the FastAPI app (`openability.app`).

Profiled (py-spy, charged SMS calls), the stack in front of the capability handlers — FastAPI's
middlewares, the router, Starlette's request_response wrapper, its Request and Response objects — took
about a fifth of a call's CPU, none of it doing anything for these routes: the handlers render their
own errors (runtime.py). So the app's outermost ASGI callable asks `DataPlane.handle` first. It takes
only a request that the routing table would give to a capability route anyway (an exact method + path
match: POST on a collection, GET on one item of it) and answers it in plain ASGI: the handler reads the
scope's raw headers and the body from `receive` itself and returns an `Answer` (status, body bytes, raw
headers), which is sent as two ASGI messages. What the two outer layers that matter for these routes
did is done inline: the x-correlator echo (kernel/web.CorrelatorMiddleware) and, for an exception no
handler took, the app's 500/503 answer (kernel/web.unhandled_error, as ServerErrorMiddleware runs it)
before the exception goes on to the server. Anything else — another method (405 with the app's error
body), a trailing slash (redirect), an unknown capability (404), a root path — goes through the whole
FastAPI app, whose routing table holds the same capability routes (their endpoints wrap the same
handlers: `to_response`). The dispatcher reads no FastAPI internals: FastAPI's own telemetry, if
switched on, does not see the capability calls (they have their own Prometheus metrics,
gateway/metrics.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from openability.kernel import logs
from openability.kernel.web import MAX_CORRELATOR, unhandled_error

RawHeaders = list[tuple[bytes, bytes]]
# A handler's answer: status, body, the raw response headers (content-length and content-type included).
Answer = tuple[int, bytes, RawHeaders]
# (scope, receive, the path's item id or "") -> the answer
Handler = Callable[[Scope, Receive, str], Awaitable[Answer]]

_CONTENT_TYPE_JSON = (b"content-type", b"application/json")
# Content-Length values of the usual body sizes, encoded once.
_LENGTHS = tuple(str(n).encode() for n in range(4096))


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    """A JSON answer with the headers Starlette's `Response(..., media_type="application/json")` would
    send, in its order: the given ones, content-length, content-type."""
    raw = orjson.dumps(body)
    n = len(raw)
    length = (b"content-length", _LENGTHS[n] if n < 4096 else str(n).encode())
    if not headers:
        return status, raw, [length, _CONTENT_TYPE_JSON]
    h = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    h.append(length)
    h.append(_CONTENT_TYPE_JSON)
    return status, raw, h


def to_response(answer: Answer) -> Response:
    """The answer as a Starlette Response (the capability routes of the FastAPI routing table)."""
    status, body, headers = answer
    resp = Response(body, status_code=status)
    resp.raw_headers = list(headers)
    return resp


class DataPlane:
    def __init__(self) -> None:
        self._post: dict[str, Handler] = {}  # exact path -> handler
        self._get: dict[str, Handler] = {}  # path prefix ending in "/" -> handler of prefix + "{id}"

    def add_post(self, path: str, handler: Handler) -> None:
        self._post[path] = handler

    def add_get_item(self, prefix: str, handler: Handler) -> None:
        """`prefix` + one non-empty path segment (Starlette's default `{id}` convertor: `[^/]+`)."""
        if not prefix.endswith("/"):
            raise ValueError(f"an item prefix ends with '/': {prefix!r}")
        self._get[prefix] = handler

    async def handle(self, app: Any, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve the request if it is a capability call; False (nothing touched) otherwise. `app` is
        what `request.app` is for the error renderer (the FastAPI app, as Starlette would set it)."""
        path: str = scope["path"]
        if not path.startswith("/capabilities/") or scope.get("root_path"):
            return False
        method = scope["method"]
        item = ""
        if method == "POST":
            handler = self._post.get(path)
        elif method == "GET":
            cut = path.rfind("/") + 1
            item = path[cut:]
            handler = self._get.get(path[:cut]) if item else None
        else:
            return False
        if handler is None:
            return False
        corr: bytes | None = None
        for k, v in scope["headers"]:
            if k == b"x-correlator":
                corr = v[:MAX_CORRELATOR]
                break
        token = None if corr is None else logs.correlator.set(corr.decode("latin-1"))
        try:
            status, body, headers = await handler(scope, receive, item)
        except Exception as exc:
            # What ServerErrorMiddleware does: the app's answer, then the error goes on to the server.
            scope["app"] = app
            resp = await unhandled_error(Request(scope), exc)
            await resp(scope, receive, send)
            raise
        finally:
            if token is not None:
                logs.correlator.reset(token)
        if corr is not None:
            headers = [*headers, (b"x-correlator", corr)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
