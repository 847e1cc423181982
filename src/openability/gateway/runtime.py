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
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope

from openability.capabilities import Capability, default_capabilities, validation
from openability.capabilities.base import Decoding
from openability.charging.receipts import ReceiptWriter, message_status
from openability.charging.service import ChargingEngine, Subject, idempotency_key
from openability.gateway import metrics
from openability.gateway.cache import GatewayCaches, PartnerInfo, ProductInfo, TokenInfo, token_hash
from openability.gateway.dataplane import Answer, json_answer
from openability.gateway.ratelimit import RateLimiter
from openability.kernel import events
from openability.kernel.errors import (
    AppError,
    Busy,
    ClientClosed,
    Internal,
    NotFound,
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
from openability.kernel.tasks import cancelled_meanwhile, stop_task

if TYPE_CHECKING:
    from openability.config import Settings
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

KB = 1024
HOUSEKEEPING_SECONDS = 1.0
# A status query that finds no message while this worker has CDRs answered ahead of their commit
# waits at most this long for those commits before it answers 404.
STATUS_FLUSH_SECONDS = 2.0
JSON = "application/json"
_REPLAYED = {"Idempotent-Replayed": "true"}


# How the runtime finds a capability's network element: capability name -> connector (None: not there).
ConnectorLookup = Callable[[str], Any]


def _error(exc: AppError) -> Answer:
    return json_answer(exc.status, exc.body(), error_headers(exc) or None)


def _request_headers(scope: Scope) -> tuple[str, str, str | None, str | None]:
    """(Authorization, Content-Type, Content-Length, Idempotency-Key) from the scope's raw headers in
    one pass: the first of each, as Starlette's `Headers.get` takes it ("" / None when absent)."""
    auth: bytes | None = None
    ctype: bytes | None = None
    length: bytes | None = None
    key: bytes | None = None
    for k, v in scope["headers"]:
        if k == b"authorization" and auth is None:
            auth = v
        elif k == b"content-type" and ctype is None:
            ctype = v
        elif k == b"content-length" and length is None:
            length = v
        elif k == b"idempotency-key" and key is None:
            key = v
    return (
        "" if auth is None else auth.decode("latin-1"),
        "" if ctype is None else ctype.decode("latin-1"),
        None if length is None else length.decode("latin-1"),
        None if key is None else key.decode("latin-1"),
    )


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
        # Capabilities that decode and validate the raw body themselves (msgspec: capabilities/base.py
        # `Decoding`); the others get the body parsed by orjson and call `validate`.
        self._decoders: dict[str, Callable[[bytes, Settings], Any]] = {
            c.name: c.decode for c in caps if isinstance(c, Decoding)
        }
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
        await stop_task(self._housekeeping)
        self._housekeeping = None
        await self.engine.stop()
        await self.receipts.stop()

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                await self.engine.grants.housekeep()
            except Exception as exc:
                if cancelled_meanwhile():  # stopping: the cancel came out as this error
                    raise asyncio.CancelledError from exc
                log_failure(log, exc, "gateway housekeeping failed")
            try:
                # Exactly-once: CDRs and claims the database refused, the spool, dead workers' spools.
                await self.engine.maintain()
            except Exception as exc:
                if cancelled_meanwhile():  # stopping: the cancel came out as this error
                    raise asyncio.CancelledError from exc
                log.warning("charging maintenance failed (%s: %s); retried", type(exc).__name__, exc)

    # ---- HTTP entry points (plain ASGI: gateway/dataplane.py) ------------------------------------

    async def post(self, capability: str, scope: Scope, receive: Receive) -> Answer:
        t0 = perf_counter()
        cap = self.capabilities[capability]
        try:
            status, body, replayed = await self._post(cap, scope, receive)
            if replayed:
                headers = _REPLAYED
                if status >= 400:  # the first call's failure, with its Retry-After
                    headers = {**_REPLAYED, **replayed_error_headers(status, body)}
                answer, outcome = json_answer(status, body, headers), "replayed"
            else:
                answer, outcome = json_answer(status, body), "charged"
        except AppError as exc:
            answer, outcome = _error(exc), exc.code
        except Exception as exc:
            if is_outage(exc):
                # The database is unreachable or overloaded: nothing was charged (grants and CDRs are
                # transactional), so the client may retry. Programming errors are not hidden as 503.
                log.warning("capability call failed on the database: %s: %s", type(exc).__name__, exc)
                busy = unavailable("the charging database")
                answer, outcome = _error(busy), busy.code
            else:
                log.exception("capability call failed")
                answer, outcome = json_answer(500, Internal().body()), "INTERNAL"
        metrics.count_call(capability, outcome, perf_counter() - t0)
        return answer

    async def get(self, capability: str, message_id: str, scope: Scope) -> Answer:
        cap = self.capabilities[capability]
        try:
            auth, _, _, _ = _request_headers(scope)
            tok = await self._authenticate(auth, cap.name, self.clock.now())
            try:
                async with self.container.uow() as uow:
                    body = await message_status(uow.session, tok.partner_id, capability, message_id)
            except NotFound:
                if not self.engine.committing:
                    raise
                # Read-your-writes for this worker's answers: a call answered after its spool sync
                # may not be committed yet (docs/charging.md "When a call is answered").
                await self.engine.flush(STATUS_FLUSH_SECONDS)
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
        return json_answer(200, body)

    # ---- the call --------------------------------------------------------------------------------

    async def _authenticate(self, auth: str, scope: str, now: datetime) -> TokenInfo:
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send 'Authorization: Bearer <access token>' (POST /oauth/token)")
        tok = await self.caches.tokens.get(token_hash(token), now)
        if tok is None:
            raise Unauthenticated("the access token is not valid", bearer_error="invalid_token")
        if tok.expires_at is not None and tok.expires_at <= now:
            raise Unauthenticated("the access token has expired", bearer_error="invalid_token")
        if scope not in tok.scopes:
            raise PermissionDenied(f"the access token has no '{scope}' scope", code="INSUFFICIENT_SCOPE")
        return tok

    async def _entitle(
        self, tok: TokenInfo, capability: str, now: datetime
    ) -> tuple[PartnerInfo, tuple[str, ...]]:
        """The partner (active) and its ordered products of the capability, oldest order first."""
        partner = await self.caches.partners.get(tok.partner_id, now)
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

    async def _product(
        self, capability: str, ordered: tuple[str, ...], wanted: str | None, now: datetime
    ) -> ProductInfo:
        """The product the call is rated on: the one the body's productId names (id or code) among the
        partner's active orders of the capability, else the oldest active order."""
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

    async def _read_body(self, receive: Receive, ctype: str, length: str | None, max_body: int) -> bytes:
        """The request body (Content-Type JSON, at most `max_body` bytes), read from the ASGI channel
        as Starlette's `Request.stream()` reads it."""
        if ctype.split(";", 1)[0].strip().lower() != JSON:
            raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
        if length is not None and length.isdigit() and int(length) > max_body:
            raise PayloadTooLarge(f"the request body is larger than {max_body // KB} KB")
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body: bytes = message.get("body", b"")  # the whole body in one message: the usual case
            if len(body) > max_body:
                raise PayloadTooLarge(f"the request body is larger than {max_body // KB} KB")
            return body
        chunks: list[bytes] = []
        size = 0
        while True:
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_body:
                    raise PayloadTooLarge(f"the request body is larger than {max_body // KB} KB")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
            elif message["type"] == "http.disconnect":
                raise ClientClosed()  # an outcome of its own, not a 500
            message = await receive()

    async def _post(
        self, cap: Capability[Any, Any], scope: Scope, receive: Receive
    ) -> tuple[int, dict[str, Any], bool]:
        name = cap.name
        auth, ctype, length, header_key = _request_headers(scope)
        # One clock read for the gateway's checks (token expiry, caches, rate limit): the engine
        # reads its own for the call's instant.
        now = self.clock.now()
        tok = await self._authenticate(auth, name, now)
        partner, ordered = await self._entitle(tok, name, now)
        raw = await self._read_body(receive, ctype, length, cap.max_body)
        decode = self._decoders.get(name)
        if decode is not None:
            req = decode(raw, self.settings)
        else:
            req = cap.validate(validation.parse_json(raw), self.settings)
        product = await self._product(name, ordered, req.product_id, now)
        if header_key is not None:
            validation.check_key(header_key, "Idempotency-Key")
        key = idempotency_key(header_key, req.client_correlator)
        retry = self.limiter.acquire((partner.id, product.id), product.rate_limit, now.timestamp())
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
