"""Capability API routes (the data plane) and the gateway's start-up wiring.

The capability routes are plain Starlette routes (no per-call Pydantic model or dependency injection:
DESIGN.md measured FastAPI routes at ~40% of a bare Starlette route). They are still described in the
OpenAPI document: install() wraps app.openapi to add their paths and schemas (openapi.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openability.app import App
from openability.gateway.dataplane import DataPlane
from openability.gateway.metrics import metrics_endpoint
from openability.gateway.openapi import capability_paths
from openability.gateway.runtime import CAPABILITIES, GatewayRuntime

if TYPE_CHECKING:
    from openability.bootstrap import Container

log = logging.getLogger(__name__)


def _runtime(request: Request) -> GatewayRuntime:
    rt: GatewayRuntime | None = request.app.state.container.parts.get("gateway")
    if rt is None:  # requests before start-up completed
        raise RuntimeError("gateway runtime not started")
    return rt


def _routes(data_plane: DataPlane | None) -> list[Route]:
    routes: list[Route] = []
    for name, spec in CAPABILITIES.items():

        async def post(request: Request, _cap: str = name) -> Response:
            return await _runtime(request).post(_cap, request)

        async def get(request: Request, _cap: str = name) -> Response:
            return await _runtime(request).get(_cap, request)

        base = f"/capabilities/{name}/v1/{spec.collection}"
        routes.append(Route(base, post, methods=["POST"], name=f"{name}_send"))
        routes.append(Route(base + "/{id}", get, methods=["GET"], name=f"{name}_status"))
        if data_plane is not None:
            # The same handlers, reached without the middleware stack (dataplane.py); the routes
            # above still serve whatever the fast path leaves to the app.
            data_plane.add_post(base, post)
            data_plane.add_get_item(base + "/", get)
    routes.append(Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics"))
    return routes


def install(app: FastAPI, container: Container) -> None:
    data_plane: DataPlane | None = None
    if isinstance(app, App):
        data_plane = app.data_plane = DataPlane(app)
    # First in the routing table: the router tries routes in order and FastAPI's included routers are
    # costly to try (~100 management and console routes); the capability paths overlap none of them.
    app.router.routes[0:0] = _routes(data_plane)
    _describe_in_openapi(app)

    async def startup() -> None:
        rt = GatewayRuntime(container)
        container.parts["gateway"] = rt
        # Registered before the connectors start: they hand delivery receipts to it.
        container.parts["receipt_sink"] = rt.receipts
        await rt.start()
        try:
            from openability.connectors.factory import start_connectors
        except ModuleNotFoundError:  # pragma: no cover - connectors not installed
            log.warning("connectors.factory not available; only injected connectors will be used")
            return
        await start_connectors(container)

    async def shutdown() -> None:
        rt: GatewayRuntime | None = container.parts.get("gateway")
        if rt is not None:
            # CDRs first (answered calls are durable), then this worker's grants go back to available.
            await rt.stop()
        try:
            from openability.connectors.factory import stop_connectors
        except ModuleNotFoundError:  # pragma: no cover
            pass
        else:
            await stop_connectors(container)
        container.parts.pop("gateway", None)
        container.parts.pop("receipt_sink", None)

    app.state.on_startup.append(startup)
    app.state.on_shutdown.append(shutdown)


def _describe_in_openapi(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        paths, components = capability_paths()
        schema.setdefault("paths", {}).update(paths)
        comps = schema.setdefault("components", {})
        comps.setdefault("schemas", {}).update(components["schemas"])
        comps.setdefault("securitySchemes", {}).update(components["securitySchemes"])
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
