"""The gateway runtime of one worker: caches, rate limiter, charging engine, receipt writer, and the
HTTP side of a capability call (DESIGN.md "Charging: how a call is charged"):

  auth (401) -> scope (403) -> partner status / any active order (403) -> body (400/413/415, the
  capability's validate) -> the ordered product to rate (productId, 403) -> rate limit (429) ->
  ChargingEngine.charge: idempotency (replay) -> rate + reserve (402 before the network) -> network
  element (503, not charged) -> settle -> durable CDR -> 201.

The gateway does HTTP and nothing else: headers, auth and entitlement from the caches, the body, the
capability's validation, the rate limit, then one `engine.charge(subject, plan, key)` and the answer.
Capabilities (capabilities/) are a constructor argument; their connectors are found through one
`connector_for(capability_name)` function.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from openability.capabilities import Capability, default_capabilities, validation
from openability.charging.receipts import ReceiptWriter, message_status
from openability.charging.service import ChargingEngine, Subject, idempotency_key
from openability.gateway import metrics
from openability.gateway.cache import GatewayCaches, PartnerInfo, ProductInfo, TokenInfo, token_hash
from openability.gateway.ratelimit import RateLimiter
from openability.kernel import events
from openability.kernel.errors import (
    AppError,
    Busy,
    ClientClosed,
    Internal,
    InvalidArgument,
    PayloadTooLarge,
    PermissionDenied,
    Suspended,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
    error_headers,
    replayed_error_headers,
)
from openability.kernel.money import to_units
from openability.kernel.outage import is_outage, log_failure, unavailable

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

KB = 1024
HOUSEKEEPING_SECONDS = 1.0
JSON = "application/json"
_REPLAYED = {"Idempotent-Replayed": "true"}


# How the runtime finds a capability's network element: capability name -> connector (None: not there).
ConnectorLookup = Callable[[str], Any]


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def _error(exc: AppError) -> Response:
    return _json(exc.status, exc.body(), error_headers(exc) or None)


class GatewayRuntime:
    def __init__(
        self,
        container: Platform,
        worker_id: str | None = None,
        *,
        connector_for: ConnectorLookup,
        capabilities: Sequence[Capability[Any, Any]] | None = None,
    ) -> None:
        self.container = container
        self.settings = container.settings
        self.clock = container.clock
        caps = default_capabilities() if capabilities is None else capabilities
        self.capabilities: dict[str, Capability[Any, Any]] = {c.name: c for c in caps}
        self.connector_for: ConnectorLookup = connector_for
        self.caches = GatewayCaches(container)
        self.limiter = RateLimiter()
        self.engine = ChargingEngine(container, worker_id)
        self.receipts = ReceiptWriter(container)
        self._housekeeping: asyncio.Task[None] | None = None
        ev = container.events
        ev.subscribe(events.CLIENT_CHANGED, self.caches.on_client_changed)
        ev.subscribe(events.PARTNER_CHANGED, self.caches.on_partner_changed)
        ev.subscribe(events.ORDER_CHANGED, self.caches.on_partner_changed)
        ev.subscribe(events.CATALOG_CHANGED, self.caches.on_catalog_changed)
        ev.subscribe(events.BALANCE_CHANGED, lambda _t, pid: self.engine.grants.balance_changed(pid))

    @property
    def worker_id(self) -> str:
        return self.engine.grants.worker_id

    async def start(self) -> None:
        await self.receipts.start()
        await self.engine.start()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="gateway-housekeeping")

    async def stop(self) -> None:
        """Flush the CDR writer, release this worker's grants, flush receipts."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        await self.engine.stop()
        await self.receipts.stop()

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                await self.engine.grants.housekeep()
            except Exception as exc:
                log_failure(log, exc, "gateway housekeeping failed")
            try:
                # Exactly-once: CDRs and claims the database refused, the spool, dead workers' spools.
                await self.engine.maintain()
            except Exception as exc:
                log.warning("charging maintenance failed (%s: %s); retried", type(exc).__name__, exc)

    # ---- HTTP entry points -----------------------------------------------------------------------

    async def post(self, capability: str, request: Request) -> Response:
        t0 = time.perf_counter()
        cap = self.capabilities[capability]
        try:
            status, body, replayed = await self._post(cap, request)
            headers = _REPLAYED if replayed else None
            if replayed and status >= 400:  # the first call's failure, with its Retry-After
                headers = {**_REPLAYED, **replayed_error_headers(status, body)}
            resp = _json(status, body, headers)
            outcome = "replayed" if replayed else "charged"
        except AppError as exc:
            resp, outcome = _error(exc), exc.code
        except Exception as exc:
            if is_outage(exc):
                # The database is unreachable or overloaded: nothing was charged (grants and CDRs are
                # transactional), so the client may retry. Programming errors are not hidden as 503.
                log.warning("capability call failed on the database: %s: %s", type(exc).__name__, exc)
                busy = unavailable("the charging database")
                resp, outcome = _error(busy), busy.code
            else:
                log.exception("capability call failed")
                resp, outcome = _json(500, Internal().body()), "INTERNAL"
        metrics.count_call(capability, outcome, time.perf_counter() - t0)
        return resp

    async def get(self, capability: str, request: Request) -> Response:
        cap = self.capabilities[capability]
        try:
            tok = await self._authenticate(request, cap.name)
            message_id = str(request.path_params.get("id", ""))
            async with self.container.uow() as uow:
                body = await message_status(uow.session, tok.partner_id, capability, message_id)
        except AppError as exc:
            return _error(exc)
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("status query failed on the database: %s: %s", type(exc).__name__, exc)
            return _error(unavailable())
        if cap.id_field != "messageId":
            body = {cap.id_field: body.pop("messageId"), **body}
        return _json(200, body)

    # ---- the call --------------------------------------------------------------------------------

    async def _authenticate(self, request: Request, scope: str) -> TokenInfo:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send 'Authorization: Bearer <access token>' (POST /oauth/token)")
        now = self.clock.now()
        tok = await self.caches.tokens.get(token_hash(token), now)
        if tok is None:
            raise Unauthenticated("the access token is not valid", bearer_error="invalid_token")
        if tok.expires_at is not None and tok.expires_at <= now:
            raise Unauthenticated("the access token has expired", bearer_error="invalid_token")
        if scope not in tok.scopes:
            raise PermissionDenied(f"the access token has no '{scope}' scope", code="INSUFFICIENT_SCOPE")
        return tok

    async def _entitle(self, tok: TokenInfo, capability: str) -> tuple[PartnerInfo, tuple[str, ...]]:
        """The partner (active) and its ordered products of the capability, oldest order first."""
        partner = await self.caches.partners.get(tok.partner_id, self.clock.now())
        if partner is None:
            raise Unauthenticated("the access token's partner does not exist", bearer_error="invalid_token")
        if partner.status == "suspended":
            raise Suspended("the partner's service is suspended (R-BILL-09)")
        if partner.status != "active":
            raise PermissionDenied(f"the partner is {partner.status}, not active", code="PARTNER_INACTIVE")
        ordered = partner.products.get(capability)
        if not ordered:
            raise PermissionDenied(f"no active order for a {capability} product", code="NO_ACTIVE_ORDER")
        return partner, ordered

    async def _product(self, capability: str, ordered: tuple[str, ...], wanted: str | None) -> ProductInfo:
        """The product the call is rated on: the one the body's productId names (id or code) among the
        partner's active orders of the capability, else the oldest active order."""
        now = self.clock.now()
        if wanted is None or wanted == ordered[0]:
            product_id = ordered[0]
        elif wanted in ordered:
            product_id = wanted
        else:
            product_id = ""
            for pid in ordered:  # by code: a few cached lookups, only when a code is given
                info = await self.caches.products.get(pid, now)
                if info is not None and info.code == wanted:
                    product_id = pid
                    break
            if not product_id:
                raise PermissionDenied(
                    f"productId {wanted!r} is not a product of one of your active {capability} orders"
                    f" (active: {', '.join(ordered)})",
                    code="NO_ACTIVE_ORDER",
                )
        product = await self.caches.products.get(product_id, now)
        if product is None or product.status != "active":
            raise PermissionDenied(
                f"the ordered {capability} product is not available", code="PRODUCT_UNAVAILABLE"
            )
        return product

    async def _read_json(self, request: Request, max_body: int) -> Any:
        ctype = request.headers.get("content-type", "")
        if ctype.split(";", 1)[0].strip().lower() != JSON:
            raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            raise PayloadTooLarge(f"the request body is larger than {max_body // KB} KB")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_body:
                    raise PayloadTooLarge(f"the request body is larger than {max_body // KB} KB")
                chunks.append(chunk)
        except ClientDisconnect:
            raise ClientClosed() from None  # an outcome of its own, not a 500
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            raise InvalidArgument("the request body is not valid JSON") from None

    async def _post(self, cap: Capability[Any, Any], request: Request) -> tuple[int, dict[str, Any], bool]:
        name = cap.name
        tok = await self._authenticate(request, name)
        partner, ordered = await self._entitle(tok, name)
        req = cap.validate(await self._read_json(request, cap.max_body), self.settings)
        product = await self._product(name, ordered, req.product_id)
        header_key = request.headers.get("idempotency-key")
        if header_key is not None:
            validation.check_key(header_key, "Idempotency-Key")
        key = idempotency_key(header_key, req.client_correlator)
        retry = self.limiter.acquire(
            (partner.id, product.id), product.rate_limit, self.clock.now().timestamp()
        )
        if retry:
            raise TooManyRequests(
                f"rate limit of {product.rate_limit} calls a second exceeded", details={"retryAfter": retry}
            )
        connector = self.connector_for(name)
        if connector is None or not getattr(connector, "available", True):
            raise Busy(f"the {name} network element is unavailable; nothing was charged")
        subject = Subject(
            partner_id=partner.id,
            product_id=product.id,
            client_id=tok.client_id,
            billing_mode=partner.billing_mode,
            scope=partner.scope,
            band=partner.band,
            plans=product.plans,
            unit=product.unit,
        )
        out = await self.engine.charge(subject, cap.plan(req, connector), key)
        if out.amount is not None:
            metrics.count_charged(name, partner.billing_mode, to_units(out.amount))
        return out.status, out.body, out.replayed
