"""Capability API routes (the data plane). Their handlers are plain ASGI (scope, receive -> Answer), reached
through the data plane's dispatcher (dataplane.py); the same handlers are also in the FastAPI routing
table as plain Starlette routes (no per-call Pydantic model or dependency injection), which answers
whatever the fast path leaves to it. `describe_in_openapi` adds them to the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from openability.capabilities import Capability
from openability.gateway.dataplane import Answer, DataPlane, Handler, to_response
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

        async def post_raw(scope: Scope, receive: Receive, _item: str, _cap: str = name) -> Answer:
            rt = runtime()
            return _not_running() if rt is None else await rt.post(_cap, scope, receive)

        async def get_raw(scope: Scope, receive: Receive, item: str, _cap: str = name) -> Answer:
            rt = runtime()
            return _not_running() if rt is None else await rt.get(_cap, item, scope)

        async def post(request: Request, _h: Handler = post_raw) -> Response:
            return to_response(await _h(request.scope, request.receive, ""))

        async def get(request: Request, _h: Handler = get_raw) -> Response:
            return to_response(await _h(request.scope, request.receive, str(request.path_params["id"])))

        base = f"/capabilities/{name}/v1/{spec.collection}"
        routes.append(Route(base, post, methods=["POST"], name=f"{name}_send"))
        routes.append(Route(base + "/{id}", get, methods=["GET"], name=f"{name}_status"))
        data_plane.add_post(base, post_raw)
        data_plane.add_get_item(base + "/", get_raw)
    routes.append(Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics"))
    return routes


def _not_running() -> Answer:
    # A request before start-up completed or after shutdown.
    r = error_response(503, Busy.code, "the gateway is not running; nothing was charged, please retry")
    return r.status_code, bytes(r.body), list(r.raw_headers)


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
