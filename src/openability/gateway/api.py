"""Capability API routes (the data plane). They are plain Starlette routes (no per-call Pydantic model or
dependency injection: DESIGN.md measured FastAPI routes at ~40% of a bare Starlette route), reached
through the data plane's dispatcher (dataplane.py) and also present in the FastAPI routing table, which
answers whatever the fast path leaves to it. `describe_in_openapi` adds them to the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openability.capabilities import Capability
from openability.gateway.dataplane import DataPlane
from openability.gateway.metrics import metrics_endpoint
from openability.gateway.openapi import capability_paths
from openability.gateway.runtime import GatewayRuntime
from openability.kernel.errors import Busy
from openability.kernel.web import error_response

RuntimeRef = Callable[[], GatewayRuntime | None]


def capability_routes(
    runtime: RuntimeRef, data_plane: DataPlane, capabilities: Sequence[Capability[Any, Any]]
) -> list[Route]:
    """One POST collection route and one GET item route per capability, registered with the data plane
    too; plus /metrics."""

    routes: list[Route] = []
    for spec in capabilities:
        name = spec.name

        async def post(request: Request, _cap: str = name) -> Response:
            rt = runtime()
            return _not_running() if rt is None else await rt.post(_cap, request)

        async def get(request: Request, _cap: str = name) -> Response:
            rt = runtime()
            return _not_running() if rt is None else await rt.get(_cap, request)

        base = f"/capabilities/{name}/v1/{spec.collection}"
        routes.append(Route(base, post, methods=["POST"], name=f"{name}_send"))
        routes.append(Route(base + "/{id}", get, methods=["GET"], name=f"{name}_status"))
        data_plane.add_post(base, post)
        data_plane.add_get_item(base + "/", get)
    routes.append(Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics"))
    return routes


def _not_running() -> Response:
    # A request before start-up completed or after shutdown.
    return error_response(503, Busy.code, "the gateway is not running; nothing was charged, please retry")


def describe_in_openapi(app: FastAPI, capabilities: Sequence[Capability[Any, Any]]) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        paths, components = capability_paths(capabilities)
        schema.setdefault("paths", {}).update(paths)
        comps = schema.setdefault("components", {})
        comps.setdefault("schemas", {}).update(components["schemas"])
        comps.setdefault("securitySchemes", {}).update(components["securitySchemes"])
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
