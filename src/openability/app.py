"""ASGI application factory. Each domain contributes routers and start-up hooks here."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from openability import __version__
from openability.bootstrap import Container, build_container
from openability.kernel.web import CorrelatorMiddleware, install_error_handlers

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


def create_app(container: Container | None = None, *, manage_container: bool = True) -> FastAPI:
    container = container or build_container()
    startups: list[Callable[[], Awaitable[None]]] = []
    shutdowns: list[Callable[[], Awaitable[None]]] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for fn in startups:
            await fn()
        try:
            yield
        finally:
            for fn in reversed(shutdowns):
                try:
                    await fn()
                except Exception:  # keep shutting the rest down
                    log.exception("shutdown hook failed")
            if manage_container:
                await container.dispose()

    app = FastAPI(
        title="openability",
        version=__version__,
        description="Telecom capability exposure: management API (/api/v1) and capability API (/capabilities)",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.on_startup = startups
    app.state.on_shutdown = shutdowns
    install_error_handlers(app)
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
