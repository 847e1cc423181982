"""ASGI application factory. Each domain contributes routers and start-up hooks here."""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from openability import __version__
from openability.bootstrap import Container, build_container
from openability.kernel.web import CorrelatorMiddleware, RequestBodyLimits, install_error_handlers

if TYPE_CHECKING:
    from openability.gateway.dataplane import DataPlane

log = logging.getLogger(__name__)

# Domain modules that expose `install(app, container)`; missing ones are skipped so the
# platform grows domain by domain. Order matters only for start-up hooks.
DOMAIN_INSTALLERS = (
    "openability.partners.api",
    "openability.catalog.api",
    "openability.billing.api",
    "openability.ledger.api",
    "openability.charging.api",
    "openability.gateway.api",
    "openability.tickets.api",
    "openability.console.views",
    "openability.jobs.api",
)


class App(FastAPI):
    """FastAPI with the data plane's fast path in front (gateway/dataplane.py): capability calls go
    straight to their handlers instead of through the middleware stack and routing table; every other
    request, and the lifespan, is FastAPI's as usual."""

    data_plane: DataPlane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dp = self.data_plane
        if dp is not None and scope["type"] == "http" and await dp.handle(scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def create_app(container: Container | None = None, *, manage_container: bool = True) -> FastAPI:
    container = container or build_container()
    startups: list[Callable[[], Awaitable[None]]] = []
    shutdowns: list[Callable[[], Awaitable[None]]] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for fn in startups:
            await fn()
        # What start-up built (modules, routes, mappers, caches: ~140k objects) lives as long as the
        # process: moved out of the collector's sight, it is not rescanned by every full collection,
        # which under load took ~90 ms each and ~5% of the server's CPU (benchmarks.md).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            for fn in reversed(shutdowns):
                try:
                    await fn()
                except Exception:  # keep shutting the rest down
                    log.exception("shutdown hook failed")
            if manage_container:
                await container.dispose()

    app = App(
        title="openability",
        version=__version__,
        description="Telecom capability exposure: management API (/api/v1) and capability API (/capabilities)",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.on_startup = startups
    app.state.on_shutdown = shutdowns
    install_error_handlers(app)
    app.add_middleware(
        RequestBodyLimits,
        json_limit=container.settings.max_json_body_bytes,
        form_limit=container.settings.max_form_body_bytes,
        upload_limit=container.settings.max_upload_body_bytes,
    )
    app.add_middleware(CorrelatorMiddleware)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    for modname in DOMAIN_INSTALLERS:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                continue
            raise
        mod.install(app, container)
    return app
