"""The web application, assembled by explicit imports: FastAPI serves the management API, OAuth, the
console and the OpenAPI document; the data plane's dispatcher (gateway/dataplane.py) answers capability
calls in front of it. `create_app` is the ASGI factory (`uvicorn --factory openability.app:create_app`)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from openability import __version__, bootstrap
from openability.admission import api as admission_api
from openability.admission import obligation_views as admission_obligation_views
from openability.admission import views as admission_views
from openability.billing import api as billing_api
from openability.billing import (
    collection_api,
    collection_views,
    dashboard_views,
    invoice_api,
    invoice_views,
    statement_api,
    statement_views,
)
from openability.billing import views as billing_views
from openability.bootstrap import Container, build_container
from openability.catalog import api as catalog_api
from openability.catalog import views as catalog_views
from openability.charging import usage_api
from openability.charging import views as charging_views
from openability.config import Settings
from openability.console import pagekit
from openability.gateway.api import capability_routes, describe_in_openapi
from openability.gateway.dataplane import DataPlane
from openability.gateway.rsgi import RsgiApp
from openability.jobs.api import jobs_router
from openability.jobs_catalog import all_jobs
from openability.kernel import testclock_api
from openability.kernel.apidoc import document_errors
from openability.kernel.outage import RETRY_AFTER_SECONDS, database_ready
from openability.kernel.web import (
    CorrelatorMiddleware,
    JSONResponse,
    RequestBodyLimits,
    SecurityHeaders,
    install_error_handlers,
)
from openability.notifications import api as notifications_api
from openability.notifications import views as notifications_views
from openability.partners import api as partners_api
from openability.partners import views as partners_views
from openability.tickets import api as tickets_api
from openability.tickets import views as tickets_views

log = logging.getLogger(__name__)

CONSOLE_STATIC = Path(__file__).resolve().parent / "console" / "static"
READY_TIMEOUT_SECONDS = 2.0


class PlatformApp:
    """The ASGI entry point: capability calls to the data plane, everything else (and the lifespan) to
    FastAPI. `api` is the FastAPI app, `container` the platform's composition root."""

    def __init__(self, api: FastAPI, data_plane: DataPlane | None, container: Container) -> None:
        self.api = api
        self.data_plane = data_plane
        self.container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dp = self.data_plane  # None: everything through FastAPI (the tests compare both ways)
        if dp is not None and scope["type"] == "http" and await dp.handle(self.api, scope, receive, send):
            return
        await self.api(scope, receive, send)

    def lifespan(self) -> AbstractAsyncContextManager[Any]:
        """Start-up and shutdown, as the server runs them (tests enter it around their requests)."""
        return self.api.router.lifespan_context(self.api)

    def openapi(self) -> dict[str, Any]:
        return self.api.openapi()


def tune_gc(settings: Settings) -> Callable[[], None]:
    """The collector of a started server (settings.gc_freeze, settings.gc_threshold; benchmarks.md
    "GC tuning"); returns what puts the collector back as it was (at shutdown).

    What start-up built (modules, routes, mappers, caches: ~140k objects) lives as long as the process:
    frozen, it is not rescanned by every full collection, which under load took ~90 ms each and ~5%
    of the server's CPU. A higher first threshold runs the young collection less often than every few
    requests: a request's garbage is mostly freed by reference counting, not by the collector."""
    before = gc.get_threshold()
    if settings.gc_freeze:
        gc.freeze()
    gc.set_threshold(*settings.gc_threshold)

    def restore() -> None:
        gc.set_threshold(*before)
        if settings.gc_freeze:
            gc.unfreeze()

    return restore


def create_app(container: Container | None = None, *, manage_container: bool = True) -> PlatformApp:
    container = container or build_container()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bootstrap.start(container)
        restore = tune_gc(container.settings)
        try:
            yield
        finally:
            restore()
            await bootstrap.stop(container)
            if manage_container:
                await container.dispose()

    api = FastAPI(
        title="openability",
        version=__version__,
        description="Telecom capability exposure: management API (/api/v1) and capability API (/capabilities)",
        lifespan=lifespan,
    )
    api.state.container = container
    install_error_handlers(api)
    pagekit.install(api)  # console pages: a visitor who may not see a page is sent to login or home
    api.add_middleware(
        RequestBodyLimits,
        json_limit=container.settings.max_json_body_bytes,
        form_limit=container.settings.max_form_body_bytes,
        upload_limit=container.settings.max_upload_body_bytes,
    )
    api.add_middleware(CorrelatorMiddleware)
    api.add_middleware(SecurityHeaders)

    @api.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, Any]:
        """Liveness: the process answers (restart it if this fails)."""
        return {"status": "ok", "version": __version__}

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        """Readiness: 200 when the database answers, else 503 with Retry-After (take the instance out of
        the load balancer until it is back)."""
        ok = await database_ready(container, within_seconds=READY_TIMEOUT_SECONDS)
        body = {
            "status": "ok" if ok else "unavailable",
            "database": "ok" if ok else "down",
            "version": __version__,
        }
        if ok:
            return JSONResponse(body)
        return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @api.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response((CONSOLE_STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    # Capability routes first in the routing table: the router tries routes in order and the included
    # routers are costly to try (~100 management and console routes); their paths overlap none of them.
    data_plane = DataPlane()
    api.router.routes[0:0] = capability_routes(lambda: container.gateway, data_plane, container.capabilities)
    describe_in_openapi(api, container.capabilities)
    document_errors(api)

    for router in (
        partners_api.router,
        partners_api.auth_router,
        partners_api.operators_router,
        partners_api.oauth_router,
        catalog_api.router,
        billing_api.router,
        statement_api.router,
        collection_api.router,
        invoice_api.router,
        usage_api.router,
        tickets_api.router,
        admission_api.router,
        partners_views.router,
        # the operator's partner page, with the sections of the domains above partners
        partners_views.ops_router(
            panels=(
                billing_views.PARTNER_BALANCE,
                catalog_views.PARTNER_ORDERS,
                billing_views.PARTNER_PAYMENTS,
                statement_views.PARTNER_STATEMENTS,
                admission_views.PARTNER_ADMISSION,
            )
        ),
        admission_views.router,
        admission_obligation_views.router,
        catalog_views.router,
        billing_views.router,
        statement_views.router,
        dashboard_views.router,
        collection_views.router,
        invoice_views.router,
        charging_views.router,
        tickets_views.router,
        notifications_api.router,
        notifications_views.router,
        jobs_router(all_jobs()),
    ):
        api.include_router(router)
    if container.settings.test_clock:  # demo only; off, /api/v1/test/clock is an unknown path (404)
        api.include_router(testclock_api.router)
    api.mount("/console/static", StaticFiles(directory=str(CONSOLE_STATIC)), name="console-static")
    return PlatformApp(api, data_plane, container)


def create_rsgi_app() -> RsgiApp:
    """The RSGI factory (`granian --interface rsgi --factory openability.app:create_rsgi_app`): the same
    app behind an RSGI->ASGI bridge (gateway/rsgi.py)."""
    return RsgiApp(create_app())
