"""The benchmark server: the real application plus two no-op routes, with a fake fast SMS connector so a
charged call measures the platform (auth, rating, grant, CDR writer), not an SMSC.

    python -m uvicorn bench.app_factory:create_bench_app --factory

Settings come from the environment (OPENABILITY_DATABASE_URL …) as in production.
"""

from __future__ import annotations

import itertools

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openability.app import PlatformApp, create_app
from openability.bootstrap import build_container
from openability.connectors.base import SmsSubmission, Submitted
from openability.connectors.sms_codec import count_segments
from openability.gateway.rsgi import RsgiApp

NOOP_BODY = b'{"ok":"yes"}'  # 12 bytes, as in DESIGN.md's measurements


class FastSms:
    """Accepts every submission at once (no network), with a fresh id per part."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    @property
    def available(self) -> bool:
        return True

    async def submit(self, msg: SmsSubmission) -> Submitted:
        _, parts = count_segments(msg.text)
        return Submitted(network_ids=[f"B{next(self._ids)}" for _ in range(parts)], parts=parts)


async def starlette_noop(request: Request) -> Response:
    return Response(NOOP_BODY, media_type="application/json")


def create_bench_app() -> PlatformApp:
    container = build_container()
    container.connectors.sms = FastSms()
    platform_app = create_app(container)
    app = platform_app.api

    @app.post("/bench/noop-fastapi", include_in_schema=False)
    async def fastapi_noop() -> dict[str, str]:
        return {"ok": "yes"}

    # The no-op routes go first in the routing table, where the gateway puts the capability routes,
    # so all three routes pay the same route matching.
    fastapi_route = app.router.routes.pop()
    app.router.routes[0:0] = [Route("/bench/noop", starlette_noop, methods=["GET", "POST"]), fastapi_route]
    return platform_app


def create_bench_rsgi_app() -> RsgiApp:
    """The same app for `granian --interface rsgi` (gateway/rsgi.py)."""
    return RsgiApp(create_bench_app())
