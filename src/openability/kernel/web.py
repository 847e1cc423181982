"""HTTP edge helpers shared by every domain: container access, the acting principal, errors, request body
limits and media types, correlator."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Query, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openability.kernel import logs
from openability.kernel.access import MAX_LIMIT, MAX_OFFSET
from openability.kernel.errors import (
    AppError,
    ClientClosed,
    ErrorDetails,
    Internal,
    InvalidArgument,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    UnsupportedMediaType,
    error_body,
    error_headers,
)
from openability.kernel.outage import OUTAGE_CLASSES, is_outage, unavailable
from openability.kernel.uow import Actor, UnitOfWork

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

# List paging parameters of every list route (bounds: kernel.access). A larger offset than the databases
# take would fail in the driver: bounded here, it answers 400 instead.
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def _default(o: Any) -> Any:
    from decimal import Decimal

    if isinstance(o, Decimal):
        return str(o)
    raise TypeError


def error_response(
    status: int,
    code: str,
    message: str,
    details: ErrorDetails | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, code, message, details), status_code=status, headers=headers)


def app_error_response(exc: AppError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=error_headers(exc) or None)


class RequestRefused(StarletteHTTPException):
    """Carries an AppError out of the request body's reading: FastAPI turns any other exception raised
    while it reads a body into a 400 "There was an error parsing the body", but lets HTTPException
    through to the handlers, where `install_error_handlers` renders the AppError."""

    def __init__(self, error: AppError) -> None:
        super().__init__(error.status, error.message)
        self.error = error


def client_address(request: Request) -> str | None:
    """The caller's address as the server saw it (behind a proxy: the proxy's; uvicorn's
    --forwarded-allow-ips makes it the client's from X-Forwarded-For)."""
    return request.client.host if request.client is not None else None


def container_of(request: Request) -> Platform:
    c: Platform = request.app.state.container
    return c


async def current_actor_optional(request: Request) -> Actor | None:
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    auth = container_of(request).authenticator
    if auth is None:
        return None
    actor = await auth(request)
    request.state.actor = actor
    return actor


async def current_actor(request: Request) -> Actor:
    actor = await current_actor_optional(request)
    if actor is None:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
    return actor


def require_operator(*roles: str) -> Callable[[Request], Awaitable[Actor]]:
    async def dep(request: Request) -> Actor:
        actor = await current_actor(request)
        if not actor.is_operator:
            raise PermissionDenied("operator only")
        if roles and not actor.has_role(*roles):
            raise PermissionDenied(f"needs one of the roles: {', '.join(roles)}")
        return actor

    return dep


CurrentActor = Annotated[Actor, Depends(current_actor)]


def uow_for(request: Request, actor: Actor) -> UnitOfWork:
    return container_of(request).uow(actor, correlator=request.headers.get("x-correlator"))


async def unhandled_error(request: Request, exc: Exception) -> Response:
    """The answer of every route (the data plane's too) to an exception no handler took: 503 with
    Retry-After when a dependency is down (kernel/outage.py), else 500; logged with the correlator, no
    detail leaked. Runs in ServerErrorMiddleware, outside CorrelatorMiddleware: the correlator is bound
    again here, so the log line carries it and the answer echoes it like any other."""
    corr = request.headers.get("x-correlator")
    corr = corr[:MAX_CORRELATOR] if corr is not None else None
    token = logs.correlator.set(corr) if corr is not None else None
    outage = is_outage(exc)
    try:
        if outage:
            log.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
        else:
            log.exception("unhandled error", exc_info=exc)
    finally:
        if token is not None:
            logs.correlator.reset(token)
    error: AppError = unavailable() if outage else Internal()
    headers = error_headers(error) | ({"x-correlator": corr} if corr is not None else {})
    return JSONResponse(error.body(), status_code=error.status, headers=headers or None)


def _documented_methods(app: FastAPI, path: str) -> set[str]:
    """The methods of the resource at `path`: those the OpenAPI document gives the most specific
    templates that match it (fewest parameters: `/partners/register` before `/partners/{id}`, as a
    client reads the document)."""
    best: tuple[int, set[str]] = (1 << 30, set())
    for template, ops in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), path):
            params = template.count("{")
            if params < best[0]:
                best = (params, set())
            if params == best[0]:
                best[1].update(m.upper() for m in ops)
    return best[1]


def _method_not_allowed(allowed: set[str]) -> Response:
    return error_response(
        405, "METHOD_NOT_ALLOWED", "Method Not Allowed", headers={"Allow": ", ".join(sorted(allowed))}
    )


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return app_error_response(exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        if any(e.get("loc", ("",))[0] == "path" for e in errors):
            # a path that only a parameterised route took (POST /tickets/{id}/history reaching
            # /tickets/{id}/{action}): the resource there does not take this method
            allowed = _documented_methods(app, request.url.path)
            if allowed and request.method not in allowed:
                return _method_not_allowed(allowed)
        if errors and errors[0].get("type") == "json_invalid":
            return _json_invalid(errors[0], exc.body)
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
            for e in errors
        ]
        first = details[0] if details else {"field": "", "problem": "invalid request"}
        msg = f"{first['field']}: {first['problem']}" if first["field"] else str(first["problem"])
        return error_response(400, "INVALID_ARGUMENT", msg, details)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc, RequestRefused):
            return app_error_response(exc.error)
        if isinstance(exc.__cause__, ClientDisconnect):
            # FastAPI's 400 "error parsing the body" for a client that left while its body was read
            return app_error_response(ClientClosed())
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path; the resource's
            # methods are those of every route at that path (RFC 9110: Allow lists all of them).
            headers = dict(headers or {})
            listed = {m.strip() for m in headers.get("Allow", "").split(",") if m.strip()}
            headers["Allow"] = ", ".join(sorted(_documented_methods(app, request.url.path) or listed))
        codes = {
            404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            413: PayloadTooLarge.code,
            415: UnsupportedMediaType.code,
        }
        return error_response(
            exc.status_code, codes.get(exc.status_code, "ERROR"), str(exc.detail), headers=headers
        )

    async def client_closed(_: Request, exc: Exception) -> Response:
        # A route reading its own body (a form) when the client left: quiet, not a 500.
        return app_error_response(ClientClosed())

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(ClientDisconnect, client_closed)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

    async def outage(request: Request, exc: Exception) -> Response:
        if not is_outage(exc):
            raise exc  # a bug, not an outage: the 500 handler answers it
        return await unhandled_error(request, exc)

    for cls in OUTAGE_CLASSES:
        app.add_exception_handler(cls, outage)
    app.add_exception_handler(Exception, unhandled_error)


def _json_invalid(error: Any, doc: Any) -> Response:
    """FastAPI's json_invalid error has the offset (loc[1]) and the decoder's words (ctx.error);
    the answer says where in lines and columns, as an editor would show it."""
    problem = str((error.get("ctx") or {}).get("error") or "invalid JSON")
    loc = error.get("loc", ())
    pos = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    text = doc.decode("utf-8", "replace") if isinstance(doc, bytes | bytearray) else doc
    detail: dict[str, Any] = {"field": "", "problem": problem}
    where = ""
    if pos is not None and isinstance(text, str):
        line = text.count("\n", 0, pos) + 1
        column = pos - text.rfind("\n", 0, pos)
        detail.update(line=line, column=column)
        where = f" at line {line}, column {column}"
    message = f"the request body is not valid JSON: {problem}{where}"
    return error_response(400, "INVALID_ARGUMENT", message, [detail])


# ---- request bodies of the management API, console and /oauth/token --------------------------------


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _is_form(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/x-www-form-urlencoded", "multipart/form-data")


def _size_words(n: int) -> str:
    mb = 1024 * 1024
    return f"{n // mb} MB" if n % mb == 0 else f"{n // 1024} KB"


class RequestBodyLimits:
    """Request body limits and media types of every route but the capability data plane (whose
    handlers enforce their own, gateway/runtime.py), decided by what the matched route declares:

    - a JSON body (a FastAPI route with a body model): Content-Type must be application/json (or
      +json), else 415; at most `json_limit` bytes;
    - a form with a file (File parameters: ticket attachment uploads): at most `upload_limit` bytes;
    - anything else (forms the console and /oauth/token read themselves, Form-only routes, routes
      without a body): a form body at most `form_limit` bytes (percent-encoding makes a Chinese
      character 9 bytes, against 3 in JSON, so the console's longest texts need more than JSON's
      limit), any other body at most `json_limit`; the route judges the media type.

    The limit is checked against Content-Length before a byte is read and counted while the body
    streams in (chunked bodies), so an oversized body is refused without being buffered. The check
    runs when the route first reads the body: the router has matched it by then (scope["route"]), so
    the route's own declaration is used, and nothing runs for requests whose route reads no body."""

    def __init__(self, app: ASGIApp, *, json_limit: int, form_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.form_limit = form_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/capabilities/"):
            await self.app(scope, receive, send)
            return
        if _has_nul_in_url(scope):
            # A NUL cannot be stored (PostgreSQL refuses it in text) and is never meaningful in an id
            # or a filter: refused here, before any route or database sees it.
            await app_error_response(_nul_refused("the URL"))(scope, receive, send)
            return
        checked = False
        size = 0
        limit = self.json_limit
        nul: _NulScanner | None = None

        async def guarded_receive() -> Message:
            nonlocal checked, size, limit, nul
            if not checked:
                checked = True
                limit = self._check_start(scope)
                if limit != self.upload_limit:  # uploaded files may hold NUL bytes
                    nul = _NulScanner(form=_is_form(_header(scope, b"content-type")))
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise RequestRefused(_too_large(limit))
                if nul is not None and nul.found(chunk):
                    raise RequestRefused(_nul_refused("the request body"))
            return message

        await self.app(scope, guarded_receive, send)

    def _check_start(self, scope: Scope) -> int:
        """The body limit for this request's route; raises 415/413 on what the headers already tell."""
        content_type: str | None = None
        content_length: int | None = None
        chunked = False
        for k, v in scope["headers"]:
            if k == b"content-type":
                content_type = v.decode("latin-1")
            elif k == b"content-length":
                try:
                    content_length = int(v)
                except ValueError:
                    content_length = None
            elif k == b"transfer-encoding":
                chunked = True
        route = scope.get("route")
        wants_json = False
        if isinstance(route, APIRoute) and route.body_field is not None:
            if not isinstance(route.body_field.field_info, params.Form):
                wants_json = True
                limit = self.json_limit
            elif any(isinstance(f.field_info, params.File) for f in route.dependant.body_params):
                limit = self.upload_limit
            else:
                limit = self.form_limit
        else:
            limit = self.form_limit if _is_form(content_type or "") else self.json_limit
        has_body = bool(content_length) or (content_length is None and chunked)
        if wants_json and has_body and not _is_json(content_type or ""):
            got = content_type.split(";", 1)[0].strip() if content_type else "no Content-Type"
            raise RequestRefused(
                UnsupportedMediaType(f"the request body must be application/json (got {got})")
            )
        if content_length is not None and content_length > limit:
            raise RequestRefused(_too_large(limit))
        return limit


def _nul_refused(where: str) -> InvalidArgument:
    return InvalidArgument(f"{where} contains a NUL character (\\u0000 or %00), which no field accepts")


def _has_nul_in_url(scope: Scope) -> bool:
    qs: bytes = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"\x00" in qs or b"%00" in qs.lower()


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return ""


class _NulScanner:
    """Finds a NUL in a body as it streams in: a raw 0x00 byte; in a form, %00; in JSON, the \\u0000
    escape (not preceded by an escaping backslash); also when it is split across two chunks."""

    def __init__(self, *, form: bool) -> None:
        self._form = form
        self._tail = b""

    def found(self, chunk: bytes) -> bool:
        data = self._tail + chunk
        self._tail = data[-16:]
        if b"\x00" in chunk:
            return True
        if self._form:
            return b"%00" in data
        start = 0
        while (i := data.find(b"u0000", start)) != -1:
            j = i
            while j > 0 and data[j - 1] == 0x5C:  # backslash
                j -= 1
            if (i - j) % 2 == 1:  # an odd run of backslashes: the escape itself
                return True
            start = i + 1
        return False


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {_size_words(limit)}", details={"maxBytes": limit}
    )


# The longest x-correlator echoed and logged (CAMARA allows 256 characters; 80 is plenty for an id).
MAX_CORRELATOR = 80


class CorrelatorMiddleware:
    """Echo the x-correlator request header on the response (CAMARA) and bind it for the logs of the
    request (kernel/logs.py). Plain ASGI: no per-call overhead beyond a header scan."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        corr: bytes | None = None
        for k, v in scope["headers"]:
            if k == b"x-correlator":
                corr = v[:MAX_CORRELATOR]
                break
        if corr is None:
            await self.app(scope, receive, send)
            return

        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlator", corr)]
            await send(message)

        token = logs.correlator.set(corr.decode("latin-1"))
        try:
            await self.app(scope, receive, send_with)
        finally:
            logs.correlator.reset(token)


# Every page and API answer (not the data plane's: machine clients, and the hot path stays lean).
# Scripts only from the platform's own origin (the console's are static files: no inline script or
# handler, no eval); framing, plugins, foreign form targets and <base> are refused. Styles are not
# restricted (a few style attributes remain).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP answer the app gives (a route's own value wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in have]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with)
