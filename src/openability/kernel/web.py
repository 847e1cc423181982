"""HTTP edge helpers shared by every domain: container access, the acting principal, errors, correlator."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openability.kernel.errors import AppError, PermissionDenied, Unauthenticated
from openability.kernel.uow import Actor, UnitOfWork

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

# The largest row offset SQLite and PostgreSQL take (signed 64-bit); a larger one fails in the database
# driver, so list routes bound `offset` with it to answer 400 instead.
MAX_OFFSET = 2**63 - 1


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def _default(o: Any) -> Any:
    from decimal import Decimal

    if isinstance(o, Decimal):
        return str(o)
    raise TypeError


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


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


async def unhandled_error(_: Request, exc: Exception) -> Response:
    """The 500 answer of every route (the data plane's too): logged, no detail leaked."""
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "INTERNAL", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return error_response(exc.status, exc.code, exc.message, exc.details or None)

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"field": "", "problem": "invalid request"}
        msg = f"{first['field']}: {first['problem']}" if first["field"] else str(first["problem"])
        return error_response(400, "INVALID_ARGUMENT", msg, details)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        codes = {
            404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
        }
        return error_response(exc.status_code, codes.get(exc.status_code, "ERROR"), str(exc.detail))

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unhandled_error)


class CorrelatorMiddleware:
    """Echo the x-correlator request header on the response (CAMARA). Plain ASGI: no per-call overhead
    beyond a header scan."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        corr: bytes | None = None
        for k, v in scope["headers"]:
            if k == b"x-correlator":
                corr = v[:80]
                break
        if corr is None:
            await self.app(scope, receive, send)
            return

        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlator", corr)]
            await send(message)

        await self.app(scope, receive, send_with)
