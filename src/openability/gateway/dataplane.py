"""The data plane's fast path: capability calls skip FastAPI's middleware stack and router.

Profiled (py-spy, charged SMS calls), the stack in front of the capability handlers — FastAPI's
telemetry check and exception-telemetry, body-limit, exception and AsyncExitStack middlewares, the
router and Starlette's request_response wrapper — took about a sixth of a call's CPU, none of it
doing anything for these routes: the handlers render their own errors (runtime.py). The app
(openability.app.App) hands each HTTP request to `DataPlane.handle` first; it takes only a request
that the routing table would give to a capability route anyway (the capability routes are first in
it, so an exact method + path match is theirs) and answers it with the same handler, behind the same
outer layers that matter for these routes: ServerErrorMiddleware with the app's 500 handler
(unexpected exceptions) and the x-correlator echo. Anything else — another method (405 with the
app's error body), a trailing slash (redirect), an unknown capability (404), a root path, FastAPI's
own OpenTelemetry instrumentation switched on — goes through the whole app as before."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from openability.kernel.web import CorrelatorMiddleware

if TYPE_CHECKING:
    from fastapi import FastAPI

Handler = Callable[[Request], Awaitable[Response]]

# How long the "is FastAPI's native telemetry on" answer is reused: asking costs three environment
# lookups per request; a tracer/meter/logger provider is set at start-up, not between two calls.
TELEMETRY_RECHECK_SECONDS = 1.0


class DataPlane:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._post: dict[str, Handler] = {}  # exact path -> handler
        self._get: dict[str, Handler] = {}  # path prefix ending in "/" -> handler of prefix + "{id}"
        self._stack: ASGIApp | None = None
        self._telemetry_checked = -TELEMETRY_RECHECK_SECONDS
        self._telemetry_on = False

    def add_post(self, path: str, handler: Handler) -> None:
        self._post[path] = handler

    def add_get_item(self, prefix: str, handler: Handler) -> None:
        """`prefix` + one non-empty path segment (Starlette's default `{id}` convertor: `[^/]+`)."""
        assert prefix.endswith("/")
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

    def _telemetry(self) -> bool:
        now = time.monotonic()
        if now - self._telemetry_checked >= TELEMETRY_RECHECK_SECONDS:
            native = getattr(self.app, "_native_telemetry", None)
            self._telemetry_on = bool(native is not None and native.enabled())
            self._telemetry_checked = now
        return self._telemetry_on

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve the request if it is a capability call; False (nothing touched) otherwise."""
        if not scope["path"].startswith("/capabilities/"):
            return False
        if scope.get("root_path") or self.app.root_path:
            return False
        m = self._match(scope)
        if m is None or self._telemetry():
            return False
        handler, params = m
        scope["app"] = self.app  # request.app, as Starlette.__call__ sets it
        scope["endpoint"] = handler
        scope["path_params"] = params
        stack = self._stack
        if stack is None:
            stack = self._stack = self._build()
        await stack(scope, receive, send)
        return True

    def _build(self) -> ASGIApp:
        # Same order as the app's stack: ServerErrorMiddleware (the app's Exception handler renders the
        # 500) outside the correlator echo. Built at the first call, after every handler is registered.
        handlers = self.app.exception_handlers
        error_handler = handlers.get(500) or handlers.get(Exception)
        return ServerErrorMiddleware(
            CorrelatorMiddleware(_endpoint), handler=error_handler, debug=self.app.debug
        )


async def _endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    handler: Handler = scope["endpoint"]
    response = await handler(Request(scope, receive, send))
    await response(scope, receive, send)
