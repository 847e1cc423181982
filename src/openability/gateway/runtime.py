"""The gateway runtime of one worker: caches, rate limiter, charging engine, receipt writer, and the
request flow of a capability call (DESIGN.md "Charging: how a call is charged"):

  auth (401) -> scope (403) -> partner status / active order (403) -> body (400/413/415) -> rate limit
  (429) -> idempotency (replay) -> rate + reserve (402 before the network) -> network element (503, not
  charged) -> settle -> durable CDR -> 201.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from openability.charging import rules
from openability.charging.cdr_writer import CdrFailed, DuplicateRequest
from openability.charging.receipts import ReceiptWriter, message_status
from openability.charging.service import (
    Authorization,
    ChargingEngine,
    StoredAnswer,
    Subject,
    new_request_id,
    request_hash,
)
from openability.connectors.base import Connectors, NetworkUnavailable, SmsSubmission, Submitted
from openability.gateway import metrics, validation
from openability.gateway.cache import GatewayCaches, PartnerInfo, ProductInfo, TokenInfo, token_hash
from openability.gateway.ratelimit import RateLimiter
from openability.kernel import events
from openability.kernel.errors import (
    AppError,
    Busy,
    InvalidArgument,
    PayloadTooLarge,
    PermissionDenied,
    RuleViolation,
    Suspended,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
)
from openability.kernel.ids import new_id
from openability.kernel.money import fmt, to_units

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

KB = 1024
HOUSEKEEPING_SECONDS = 1.0
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class CapabilitySpec:
    name: str  # capability code == OAuth scope
    operation: str
    connector: str  # Connectors attribute
    max_body: int
    collection: str  # "messages" | "notifications"
    id_field: str  # "messageId" | "notificationId"


CAPABILITIES: dict[str, CapabilitySpec] = {
    "sms": CapabilitySpec("sms", "sendMessage", "sms", 64 * KB, "messages", "messageId"),
    # 300 KB of MMS content is ~400 KB as base64, plus the JSON around it.
    "mms": CapabilitySpec("mms", "sendMessage", "mms", 512 * KB, "messages", "messageId"),
    "voice": CapabilitySpec("voice", "sendNotification", "voice", 64 * KB, "notifications", "notificationId"),
}


@dataclass(slots=True)
class _Plan:
    """What one capability call will do on the network and how it is counted."""

    recipients: tuple[str, ...]
    estimate: int  # quantity reserved before the network is touched
    send: Callable[[str], Awaitable[Submitted]]
    quantity_of: Callable[[Submitted], int]  # charged quantity of one served recipient
    fields: dict[str, Any]  # extra response fields (segments, encoding)
    canonical: list[Any]  # what the client asked for, hashed for idempotency


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def _error(exc: AppError) -> Response:
    headers: dict[str, str] | None = None
    if exc.status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="openability", error="invalid_token"'}
    elif exc.status == 429:
        headers = {"Retry-After": str(exc.details.get("retryAfter", 1))}
    return _json(exc.status, exc.body(), headers)


class GatewayRuntime:
    def __init__(self, container: Platform, connectors: Connectors, worker_id: str | None = None) -> None:
        self.container = container
        self.connectors = connectors
        self.settings = container.settings
        self.clock = container.clock
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
                await self.engine.grants.release_idle()
            except Exception:
                log.exception("gateway housekeeping failed")

    # ---- HTTP entry points -----------------------------------------------------------------------

    async def post(self, capability: str, request: Request) -> Response:
        t0 = time.perf_counter()
        spec = CAPABILITIES[capability]
        try:
            status, body, headers = await self._post(spec, request)
            resp = _json(status, body, headers)
            outcome = "replayed" if headers else "charged"
        except AppError as exc:
            resp, outcome = _error(exc), exc.code
        except (OperationalError, InterfaceError, PoolTimeout):
            # The database is unreachable or overloaded: nothing was charged (grants and CDRs are
            # transactional), so the client may retry. Programming errors are not hidden as 503.
            log.exception("capability call failed on the database")
            busy = Busy("the charging database is unavailable; nothing was charged, please retry")
            resp, outcome = _error(busy), busy.code
        except Exception:
            log.exception("capability call failed")
            resp, outcome = (
                _json(500, {"status": 500, "code": "INTERNAL", "message": "internal error"}),
                "INTERNAL",
            )
        metrics.count_call(capability, outcome, time.perf_counter() - t0)
        return resp

    async def get(self, capability: str, request: Request) -> Response:
        spec = CAPABILITIES[capability]
        try:
            tok = await self._authenticate(request, spec)
            message_id = str(request.path_params.get("id", ""))
            async with self.container.uow() as uow:
                body = await message_status(uow.session, tok.partner_id, capability, message_id)
        except AppError as exc:
            return _error(exc)
        if spec.id_field != "messageId":
            body = {spec.id_field: body.pop("messageId"), **body}
        return _json(200, body)

    # ---- the call --------------------------------------------------------------------------------

    async def _authenticate(self, request: Request, spec: CapabilitySpec) -> TokenInfo:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send 'Authorization: Bearer <access token>' (POST /oauth/token)")
        now = self.clock.now()
        tok = await self.caches.tokens.get(token_hash(token), now)
        if tok is None:
            raise Unauthenticated("the access token is not valid")
        if tok.expires_at is not None and tok.expires_at <= now:
            raise Unauthenticated("the access token has expired")
        if spec.name not in tok.scopes:
            raise PermissionDenied(f"the access token has no '{spec.name}' scope", code="INSUFFICIENT_SCOPE")
        return tok

    async def _entitle(self, tok: TokenInfo, spec: CapabilitySpec) -> tuple[PartnerInfo, ProductInfo]:
        now = self.clock.now()
        partner = await self.caches.partners.get(tok.partner_id, now)
        if partner is None:
            raise Unauthenticated("the access token's partner does not exist")
        if partner.status == "suspended":
            raise Suspended("the partner's service is suspended (R-BILL-09)")
        if partner.status != "active":
            raise PermissionDenied(f"the partner is {partner.status}, not active", code="PARTNER_INACTIVE")
        product_id = partner.products.get(spec.name)
        if product_id is None:
            raise PermissionDenied(f"no active order for a {spec.name} product", code="NO_ACTIVE_ORDER")
        product = await self.caches.products.get(product_id, now)
        if product is None or product.status != "active":
            raise PermissionDenied(
                f"the ordered {spec.name} product is not available", code="PRODUCT_UNAVAILABLE"
            )
        return partner, product

    async def _read_json(self, request: Request, spec: CapabilitySpec) -> Any:
        ctype = request.headers.get("content-type", "")
        if ctype.split(";", 1)[0].strip().lower() != JSON:
            raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > spec.max_body:
            raise PayloadTooLarge(f"the request body is larger than {spec.max_body // KB} KB")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > spec.max_body:
                raise PayloadTooLarge(f"the request body is larger than {spec.max_body // KB} KB")
            chunks.append(chunk)
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            raise InvalidArgument("the request body is not valid JSON") from None

    async def _post(
        self, spec: CapabilitySpec, request: Request
    ) -> tuple[int, dict[str, Any], dict[str, str] | None]:
        tok = await self._authenticate(request, spec)
        partner, product = await self._entitle(tok, spec)
        connector: Any = getattr(self.connectors, spec.connector)
        plan, correlator = self._plan(spec, await self._read_json(request, spec), connector)
        header_key = request.headers.get("idempotency-key")
        key = validation.check_key(header_key, "Idempotency-Key") if header_key is not None else correlator
        retry = self.limiter.acquire(
            (partner.id, product.id), product.rate_limit, self.clock.now().timestamp()
        )
        if retry:
            raise TooManyRequests(
                f"rate limit of {product.rate_limit} calls a second exceeded", details={"retryAfter": retry}
            )
        if connector is None or not getattr(connector, "available", True):
            raise Busy(f"the {spec.name} network element is unavailable; nothing was charged")
        subject = Subject(
            partner_id=partner.id,
            product_id=product.id,
            client_id=tok.client_id,
            billing_mode=partner.billing_mode,
            scope=partner.scope,
            band=partner.band,
            plans=product.plans,
        )
        req_hash = request_hash(plan.canonical)
        if key is None:
            status, body = await self._serve(spec, subject, product, plan, new_request_id(), req_hash)
            return status, body, None
        replay = await self.engine.idempotency.begin(partner.id, key, req_hash)
        if replay is not None:
            return replay.status, replay.body, {"Idempotent-Replayed": "true"}
        status, body = 500, {"status": 500, "code": "INTERNAL", "message": "internal error"}
        try:
            status, body = await self._serve(spec, subject, product, plan, key, req_hash)
        except AppError as exc:
            status, body = exc.status, exc.body()
            raise
        finally:
            self.engine.idempotency.finish(partner.id, key, StoredAnswer(status, body, req_hash))
        return status, body, None

    def _plan(self, spec: CapabilitySpec, body: Any, connector: Any) -> tuple[_Plan, str | None]:
        s = self.settings
        if spec.name == "sms":
            sms = validation.parse_sms(body, max_recipients=s.max_recipients, max_chars=s.max_sms_chars)
            encoding, segments, quantity = rules.sms_quantity(sms.text, len(sms.to))

            async def send_sms(to: str) -> Submitted:
                result: Submitted = await connector.submit(SmsSubmission(recipient=to, text=sms.text))
                return result

            plan = _Plan(
                sms.to,
                quantity,
                send_sms,
                lambda _r: segments,
                {"segments": segments, "encoding": encoding},
                ["sms", list(sms.to), sms.text],
            )
            return plan, sms.client_correlator
        if spec.name == "mms":
            mms = validation.parse_mms(body, max_recipients=s.max_recipients)

            async def send_mms(to: str) -> Submitted:
                result: Submitted = await connector.submit(to, mms.subject, [dict(p) for p in mms.parts])
                return result

            plan = _Plan(
                mms.to,
                len(mms.to),
                send_mms,
                lambda _r: 1,
                {},
                ["mms", list(mms.to), mms.subject, list(mms.parts)],
            )
            return plan, mms.client_correlator
        voice = validation.parse_voice(body, max_recipients=s.max_recipients)
        per_call = rules.started_minutes(rules.voice_estimate_seconds(voice.text, voice.repeat))

        async def call(to: str) -> Submitted:
            result: Submitted = await connector.call(to, voice.text, voice.repeat)
            return result

        plan = _Plan(
            voice.to,
            per_call * len(voice.to),
            call,
            lambda r: rules.started_minutes(r.duration_seconds),
            {},
            ["voice", list(voice.to), voice.text, voice.repeat],
        )
        return plan, voice.client_correlator

    async def _serve(
        self,
        spec: CapabilitySpec,
        subject: Subject,
        product: ProductInfo,
        plan: _Plan,
        request_key: str,
        req_hash: str,
    ) -> tuple[int, dict[str, Any]]:
        try:
            auth = await self.engine.authorize(subject, plan.estimate)
        except rules.NoPrice as exc:
            # 422 like ordering an unpriced product: one status per code across the API.
            raise RuleViolation(f"{exc}; the product cannot be used now", code="NO_PRICE_PLAN") from None
        results = await self._send_all(plan)
        served = [(to, r) for to, r in zip(plan.recipients, results, strict=True) if isinstance(r, Submitted)]
        if not served:
            self.engine.cancel(auth)
            raise Busy(f"the {spec.name} network element did not accept the request; nothing was charged")
        try:
            rating = self.engine.settle(auth, sum(plan.quantity_of(r) for _, r in served))
        except BaseException:
            self.engine.cancel(auth)
            raise
        return await self._record(spec, auth, product, plan, results, rating, request_key, req_hash)

    async def _send_all(self, plan: _Plan) -> list[Submitted | BaseException]:
        async def one(to: str) -> Submitted | BaseException:
            try:
                return await plan.send(to)
            except NetworkUnavailable as exc:
                return exc
            except Exception as exc:  # a connector bug must not charge or 500 the call
                log.exception("connector failed for one recipient")
                return exc

        if len(plan.recipients) == 1:
            return [await one(plan.recipients[0])]
        return list(await asyncio.gather(*(one(to) for to in plan.recipients)))

    async def _record(
        self,
        spec: CapabilitySpec,
        auth: Authorization,
        product: ProductInfo,
        plan: _Plan,
        results: list[Submitted | BaseException],
        rating: rules.Rating,
        request_key: str,
        req_hash: str,
    ) -> tuple[int, dict[str, Any]]:
        s = auth.subject
        record_id = new_id("cdr")
        items: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for to, r in zip(plan.recipients, results, strict=True):
            if not isinstance(r, Submitted):
                items.append({"to": to, "status": "failed", "reason": "the network element refused it"})
                continue
            mid = new_id("msg")
            item: dict[str, Any] = {spec.id_field: mid, "to": to, "status": "submitted"}
            if spec.name == "voice":
                item["durationSeconds"] = r.duration_seconds
            items.append(item)
            rows.append(
                {
                    "id": mid,
                    "usage_record_id": record_id,
                    "partner_id": s.partner_id,
                    "capability": spec.name,
                    "recipient": to,
                    "parts": r.parts,
                    "network_ids": list(r.network_ids),
                    "created_at": auth.at,
                }
            )
        body: dict[str, Any] = {
            "requestId": request_key,
            spec.collection: items,
            **plan.fields,
            "quantity": rating.quantity,
            "unit": product.unit,
            "amountCharged": fmt(rating.amount),
            "currency": "CNY",
        }
        try:
            await self.engine.record(
                auth,
                record_id=record_id,
                request_key=request_key,
                req_hash=req_hash,
                capability=spec.name,
                operation=spec.operation,
                unit=product.unit,
                recipients=[r["recipient"] for r in rows],
                response=body,
                messages=rows,
            )
        except DuplicateRequest as dup:
            # Another worker answered this key first: its answer stands, this call is not charged.
            return 201, dup.response
        except CdrFailed:
            raise Busy("the call could not be recorded; nothing was charged, please retry") from None
        metrics.count_charged(spec.name, s.billing_mode, to_units(rating.amount))
        return 201, body
