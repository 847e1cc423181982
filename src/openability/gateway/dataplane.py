"""The data plane's fast path: an ASGI dispatcher in front of the FastAPI app (`openability.app`).

Profiled (py-spy, charged SMS calls), the stack in front of the capability handlers — FastAPI's
middlewares, the router and Starlette's request_response wrapper — took about a sixth of a call's CPU,
none of it doing anything for these routes: the handlers render their own errors (runtime.py). So the
app's outermost ASGI callable asks `DataPlane.handle` first. It takes only a request that the routing
table would give to a capability route anyway (an exact method + path match: POST on a collection, GET
on one item of it) and answers it with the same handler behind the two outer layers that matter for
these routes: ServerErrorMiddleware with the app's 500 renderer (unexpected exceptions) and the
x-correlator echo. Anything else — another method (405 with the app's error body), a trailing slash
(redirect), an unknown capability (404), a root path — goes through the whole FastAPI app, whose routing
table holds the same capability routes. The dispatcher reads no FastAPI internals: FastAPI's own
telemetry, if switched on, does not see the capability calls (they have their own Prometheus metrics,
gateway/metrics.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from openability.kernel.web import CorrelatorMiddleware, unhandled_error

Handler = Callable[[Request], Awaitable[Response]]


class DataPlane:
    def __init__(self) -> None:
        self._post: dict[str, Handler] = {}  # exact path -> handler
        self._get: dict[str, Handler] = {}  # path prefix ending in "/" -> handler of prefix + "{id}"
        # Same order as the app's stack: the 500 renderer outside the correlator echo.
        self._stack: ASGIApp = ServerErrorMiddleware(CorrelatorMiddleware(_endpoint), handler=unhandled_error)

    def add_post(self, path: str, handler: Handler) -> None:
        self._post[path] = handler

    def add_get_item(self, prefix: str, handler: Handler) -> None:
        """`prefix` + one non-empty path segment (Starlette's default `{id}` convertor: `[^/]+`)."""
        if not prefix.endswith("/"):
            raise ValueError(f"an item prefix ends with '/': {prefix!r}")
        self._get[prefix] = handler

    def _match(self, scope: Scope) -> tuple[Handler, dict[str, Any]] | None:
        path: str = scope["path"]
        method = scope["method"]
        if method == "POST":
            h = self._post.get(path)
            return None if h is None else (h, {})
        if method == "GET":
            cut = path.rfind("/") + 1
            item = path[cut:]
            if item:
                h = self._get.get(path[:cut])
                if h is not None:
                    return h, {"id": item}
        return None

    async def handle(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve the request if it is a capability call; False (nothing touched) otherwise. `app` is
        what `request.app` is for the handler (the FastAPI app, as Starlette would set it)."""
        if not scope["path"].startswith("/capabilities/") or scope.get("root_path"):
            return False
        m = self._match(scope)
        if m is None:
            return False
        handler, params = m
        scope["app"] = app
        scope["endpoint"] = handler
        scope["path_params"] = params
        await self._stack(scope, receive, send)
        return True


async def _endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    handler: Handler = scope["endpoint"]
    response = await handler(Request(scope, receive, send))
    await response(scope, receive, send)
