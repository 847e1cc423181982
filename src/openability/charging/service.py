"""Real-time charging for the gateway (DESIGN.md "Charging: how a call is charged").

`ChargingEngine` is the per-worker charging runtime: rating against cached price plans and the
month-to-date volume reserved in blocks shared by all workers (charging/volume.py; provisional,
R-CHARGE-06), prepaid grants (charging/grants.py), the group-committing
CDR writer (charging/cdr_writer.py) and idempotency (R-CHARGE-04). The gateway makes one call:

    outcome = await engine.charge(subject, plan, key)

which claims the idempotency key (or replays the first answer), rates and reserves the estimate (402 /
422 before the network), sends to each recipient through the plan, settles what was really served (or
cancels when nothing was), writes the durable CDR and returns the answer. Its steps are public for
service-level tests:

    auth = await engine.authorize(subject, quantity)      # rate + reserve; 402 before the network
    ... call the network ...
    engine.settle(auth, actual_quantity)                   # re-rate what was really served
    await engine.record(auth, record_id=..., ...)          # durable CDR, then answer
    engine.cancel(auth)                                    # instead, when nothing was served
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from openability.charging import rules
from openability.charging.cdr_writer import CdrFailed, CdrWriter, DuplicateRequest
from openability.charging.grants import GrantManager, Reservation, release_grant
from openability.charging.models import Grant, UsageRecord
from openability.charging.types import (
    CdrMessage,
    CdrRecord,
    ChargeOutcome,
    ChargePlan,
    GrantState,
    JsonObject,
    Subject,
)
from openability.charging.volume import UNPLACED, Segments, VolumeBlocks, rate_segments, split_segments
from openability.connectors.base import NetworkThrottled, NetworkUnavailable, Submitted
from openability.kernel.clock import business_date
from openability.kernel.errors import AppError, Busy, Conflict, InvalidArgument, NetworkBusy, RuleViolation
from openability.kernel.ids import new_id
from openability.kernel.money import fmt

if TYPE_CHECKING:
    from openability.kernel.platform import Platform
    from openability.kernel.uow import UnitOfWork

__all__ = [
    "Authorization",
    "ChargeOutcome",
    "ChargingEngine",
    "StoredAnswer",
    "Subject",
    "idempotency_key",
    "request_hash",
]

log = logging.getLogger(__name__)

PREPAID = "prepaid"
IDEMPOTENCY_LRU_SIZE = 20_000
_INTERNAL: JsonObject = {"status": 500, "code": "INTERNAL", "message": "internal error"}
_FAILED_REASON = "the network element refused it"


@dataclass(slots=True)
class Authorization:
    subject: Subject
    at: datetime
    month: str
    # The month-to-date positions of the call's units (charging/volume.py): one range, or two when the
    # call took the rest of a block and the start of the next.
    segments: Segments
    rating: rules.Rating
    reservation: Reservation
    day: date  # Asia/Shanghai business day of `at` (the rollup key), computed once per call

    @property
    def mtd_before(self) -> int:
        """The month-to-date volume the call was rated after (its first unit's position)."""
        return self.segments[0][0] if self.segments else 0


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: dict[str, Any]
    request_hash: str


def request_hash(parts: Any) -> str:
    """Canonical hash of a request (what the client asked for), to refuse a key reused for another one."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def idempotency_key(header: str | None, correlator: str | None) -> str | None:
    """R-CHARGE-04: a call has one idempotency key, the `Idempotency-Key` header or the body's
    `clientCorrelator`. Both given with different values is refused (400): honouring either one would
    silently charge again a retry that repeats only the other."""
    if header is None:
        return correlator
    if correlator is not None and correlator != header:
        raise InvalidArgument(
            "Idempotency-Key and clientCorrelator differ: a request has one idempotency key; send one of"
            " them, or the same value in both"
        )
    return header


class IdempotencyStore:
    """R-CHARGE-04. Keys are per partner. In-flight duplicates in this worker wait for the first call;
    completed calls are answered from an in-memory LRU, else from the stored CDR (the DB lookup happens
    only when the client sent a key: generated request ids are new by construction)."""

    def __init__(self, container: Platform) -> None:
        self.container = container
        self._inflight: dict[tuple[str, str], asyncio.Future[StoredAnswer]] = {}
        self._done: OrderedDict[tuple[str, str], StoredAnswer] = OrderedDict()

    async def begin(self, partner_id: str, key: str, req_hash: str) -> StoredAnswer | None:
        """None: the caller owns the key now and must call finish(). Otherwise the earlier answer."""
        k = (partner_id, key)
        while True:
            hit = self._done.get(k)
            if hit is not None:
                self._done.move_to_end(k)
                return _check_same(hit, req_hash)
            fut = self._inflight.get(k)
            if fut is None:
                break
            ans = await asyncio.shield(fut)
            return _check_same(ans, req_hash)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[k] = fut
        try:
            stored = await self._lookup(partner_id, key)
        except BaseException:
            self._inflight.pop(k, None)
            fut.set_exception(Busy("the idempotency store is unavailable, retry later"))
            fut.exception()  # retrieved: waiters re-raise it themselves
            raise
        if stored is not None:
            self.finish(partner_id, key, stored)
            return _check_same(stored, req_hash)
        return None

    def finish(self, partner_id: str, key: str, answer: StoredAnswer) -> None:
        """Publish the answer to waiting duplicates; successful (charged) answers are remembered."""
        k = (partner_id, key)
        fut = self._inflight.pop(k, None)
        if fut is not None and not fut.done():
            fut.set_result(answer)
        if answer.status < 300:
            self._done[k] = answer
            if len(self._done) > IDEMPOTENCY_LRU_SIZE:
                self._done.popitem(last=False)

    async def _lookup(self, partner_id: str, key: str) -> StoredAnswer | None:
        async with self.container.uow() as uow:
            row = (
                await uow.session.execute(
                    select(UsageRecord.response, UsageRecord.request_hash).where(
                        UsageRecord.partner_id == partner_id, UsageRecord.request_key == key
                    )
                )
            ).first()
        if row is None:
            return None
        return StoredAnswer(201, dict(row[0]), str(row[1]))


def _check_same(ans: StoredAnswer, req_hash: str) -> StoredAnswer:
    if ans.request_hash and req_hash and ans.request_hash != req_hash and ans.status < 300:
        raise Conflict(
            "this Idempotency-Key was already used for a different request", code="IDEMPOTENCY_KEY_REUSED"
        )
    return ans


class ChargingEngine:
    def __init__(self, container: Platform, worker_id: str | None = None) -> None:
        self.container = container
        self.clock = container.clock
        self.grants = GrantManager(container, worker_id)
        self.cdr = CdrWriter(container)
        self.idempotency = IdempotencyStore(container)
        self.volumes = VolumeBlocks(container)

    async def start(self) -> None:
        await self.cdr.start()

    async def stop(self) -> None:
        """Flush the CDR writer, then give back this worker's unused grants and, where no other worker
        reserved volume after it, its unused month-to-date positions."""
        await self.cdr.stop()
        await self.grants.release_idle(all_grants=True)
        await self.volumes.give_back()

    async def authorize(self, subject: Subject, quantity: int) -> Authorization:
        """Rate `quantity` units and reserve the price (prepaid). Raises rules.NoPrice,
        InsufficientBalance (R-CHARGE-01: before the network is touched)."""
        now = self.clock.now()
        day = business_date(now)
        month = f"{day.year:04d}-{day.month:02d}"  # == month_key(now), without a second conversion
        vkey = (subject.partner_id, subject.product_id, month)
        segments = await self.volumes.take(vkey, quantity, now)
        try:
            rating = rate_segments(
                subject.plans, now, scope=subject.scope, band=subject.band, segments=segments
            )
            if subject.billing_mode == PREPAID:
                reservation = await self.grants.reserve(subject.partner_id, rating.amount)
            else:
                reservation = Reservation(subject.partner_id, None, rating.amount)
        except BaseException:
            self.volumes.release(vkey, segments)
            raise
        return Authorization(subject, now, month, segments, rating, reservation, day)

    def settle(self, auth: Authorization, quantity: int) -> rules.Rating:
        """Re-rate with the quantity really served (failed recipients, the voice call's real length):
        the unused part of the reservation stays in the grant (and the unused positions go back to the
        worker's month-to-date volume); more is taken from the grant if the call ran longer than
        reserved (capped at what the grant holds: the balance never goes negative)."""
        s = auth.subject
        if quantity == auth.rating.quantity:
            return auth.rating  # as rated and reserved at authorize
        vkey = (s.partner_id, s.product_id, auth.month)
        if quantity < auth.rating.quantity:
            segments, unused = split_segments(auth.segments, quantity)
        else:
            extra = quantity - auth.rating.quantity
            more = self.volumes.take_now(vkey, extra, self.clock.now())
            # Past what this worker holds (no DB trip here): the extra units are priced at the last,
            # lowest tier, never above the exact price (charging/volume.py).
            segments, unused = auth.segments + (more if more is not None else ((UNPLACED, extra),)), ()
        rating = rate_segments(s.plans, auth.at, scope=s.scope, band=s.band, segments=segments)
        self.volumes.release(vkey, unused)
        auth.segments = segments
        r = auth.reservation
        if s.billing_mode != PREPAID:
            r.amount = rating.amount
        elif rating.amount < r.amount:
            self.grants.give_back(r, r.amount - rating.amount)
        elif rating.amount > r.amount and not self.grants.try_take_more(r, rating.amount - r.amount):
            log.warning(
                "call of %s ran past its reservation; charged %s instead of %s",
                s.partner_id,
                r.amount,
                rating.amount,
            )
            rating = rules.Rating(r.amount, quantity, rating.plan_id, rating.band, rating.scope)
        auth.rating = rating
        return rating

    def cancel(self, auth: Authorization) -> None:
        """Nothing was served: all the money goes back to the grant, the positions to the worker's
        month-to-date volume (handed to the next call)."""
        s = auth.subject
        self.volumes.release((s.partner_id, s.product_id, auth.month), auth.segments)
        auth.segments = ()
        self.grants.cancel(auth.reservation)

    async def record(
        self,
        auth: Authorization,
        *,
        record_id: str,
        request_key: str,
        req_hash: str,
        capability: str,
        operation: str,
        recipients: list[str],
        response: JsonObject,
        messages: list[CdrMessage],
    ) -> None:
        """Write the CDR and wait until it is durable. On DuplicateRequest (another worker stored the
        key first) or CdrFailed the money goes back to the grant and the error propagates."""
        s, rating = auth.subject, auth.rating
        # Positional (in CdrRecord's field order): a 22-keyword call costs ~4x more on the hot path.
        cdr = CdrRecord(
            record_id,
            s.partner_id,
            s.product_id,
            capability,
            operation,
            s.client_id,
            request_key,
            req_hash,
            rating.quantity,
            s.unit,
            rating.amount,
            s.billing_mode,
            rating.plan_id,
            rating.band,
            rating.scope,
            auth.month,
            auth.reservation.grant_id,
            auth.at,
            auth.day,
            recipients,
            response,
            messages,
        )
        try:
            await self.cdr.write(cdr)
        except (DuplicateRequest, CdrFailed):
            # The writer did not store this CDR: the money goes back to the grant.
            self.volumes.release((s.partner_id, s.product_id, auth.month), auth.segments)
            auth.segments = ()
            self.grants.cancel(auth.reservation)
            raise
        except BaseException:
            # Cancelled (client gone) or failed while waiting: the writer may still commit this CDR, so
            # the money stays spent in this worker's memory and is never handed to another call. If the
            # CDR was not stored after all, the grant's release returns the money to the balance.
            self.grants.done(auth.reservation)
            raise
        self.grants.done(auth.reservation)

    # ---- one capability call ----------------------------------------------------------------------

    async def charge(self, subject: Subject, plan: ChargePlan, key: str | None = None) -> ChargeOutcome:
        """Serve and charge one capability call (DESIGN.md hot path, steps 2-5).

        `key` (see idempotency_key) is claimed before the network is touched: a copy in flight waits for
        the first, a finished one gets the first answer back (`replayed`), neither charged nor sent again
        (R-CHARGE-04). Without a key the call gets a generated request id. Raises AppError: 402
        INSUFFICIENT_BALANCE and 422 NO_PRICE_PLAN before the network, 409 IDEMPOTENCY_KEY_REUSED, 503
        when the network element served nobody or the CDR could not be made durable (nothing charged)."""
        req_hash = request_hash(plan.canonical())
        if key is None:
            return await self._serve(subject, plan, new_request_id(), req_hash)
        replay = await self.idempotency.begin(subject.partner_id, key, req_hash)
        if replay is not None:
            return ChargeOutcome(replay.status, replay.body, replayed=True)
        status, body = 500, _INTERNAL
        try:
            outcome = await self._serve(subject, plan, key, req_hash)
            status, body = outcome.status, outcome.body
        except AppError as exc:
            status, body = exc.status, exc.body()
            raise
        finally:
            # Copies waiting for this key get this answer too (an error included); only charged answers
            # are remembered.
            self.idempotency.finish(subject.partner_id, key, StoredAnswer(status, body, req_hash))
        return outcome

    async def _serve(
        self, subject: Subject, plan: ChargePlan, request_key: str, req_hash: str
    ) -> ChargeOutcome:
        try:
            auth = await self.authorize(subject, plan.estimate)
        except rules.NoPrice as exc:
            # 422 like ordering an unpriced product: one status per code across the API.
            raise RuleViolation(f"{exc}; the product cannot be used now", code="NO_PRICE_PLAN") from None
        results = await _send_all(plan)
        served = [r for r in results if isinstance(r, Submitted)]
        if not served:
            self.cancel(auth)
            raise _unserved(plan, results)
        try:
            rating = self.settle(auth, sum(plan.quantity_of(r) for r in served))
        except BaseException:
            self.cancel(auth)
            raise
        id_field = plan.id_field
        items: list[JsonObject] = []
        messages: list[CdrMessage] = []
        to_served: list[str] = []
        for to, r in zip(plan.recipients, results, strict=True):
            if not isinstance(r, Submitted):
                items.append({"to": to, "status": "failed", "reason": _FAILED_REASON})
                continue
            mid = new_id("msg")
            item: JsonObject = {id_field: mid, "to": to, "status": "submitted"}
            extra = plan.item_fields(r)
            if extra:
                item.update(extra)
            items.append(item)
            messages.append(CdrMessage(mid, to, r.parts, list(r.network_ids)))
            to_served.append(to)
        body: JsonObject = {"requestId": request_key, plan.collection: items}
        fields = plan.response_fields()
        if fields:
            body.update(fields)
        body["quantity"] = rating.quantity
        body["unit"] = subject.unit
        body["amountCharged"] = fmt(rating.amount)
        body["currency"] = "CNY"
        try:
            await self.record(
                auth,
                record_id=new_id("cdr"),
                request_key=request_key,
                req_hash=req_hash,
                capability=plan.capability,
                operation=plan.operation,
                recipients=to_served,
                response=body,
                messages=messages,
            )
        except DuplicateRequest as dup:
            # Another worker answered this key first: its answer stands, this call is not charged.
            return ChargeOutcome(201, dup.response)
        except CdrFailed:
            raise Busy("the call could not be recorded; nothing was charged, please retry") from None
        return ChargeOutcome(201, body, amount=rating.amount)


def _unserved(plan: ChargePlan, results: list[Submitted | BaseException]) -> Busy:
    """The 503 of a call the network element served nobody of: NETWORK_THROTTLED with the element's
    Retry-After when it throttled (any recipient), else SERVICE_UNAVAILABLE."""
    waits = [r.retry_after for r in results if isinstance(r, NetworkThrottled)]
    if waits:
        return NetworkBusy(
            f"the {plan.capability} network element is throttling requests; nothing was charged, "
            "retry after the Retry-After seconds",
            retry_after=max(waits),
        )
    return Busy(f"the {plan.capability} network element did not accept the request; nothing was charged")


async def _send_all(plan: ChargePlan) -> list[Submitted | BaseException]:
    async def one(to: str) -> Submitted | BaseException:
        try:
            return await plan.send(to)
        except NetworkUnavailable as exc:
            return exc
        except Exception as exc:  # a connector bug must not charge or 500 the call
            log.exception("connector failed for one recipient")
            return exc

    recipients = plan.recipients
    if len(recipients) == 1:
        return [await one(recipients[0])]
    return list(await asyncio.gather(*(one(to) for to in recipients)))


def new_request_id() -> str:
    return new_id("req")


def money(amount: Decimal) -> str:
    return fmt(amount)


# ---- grant reaper (operations) ------------------------------------------------------------------


async def expired_grant_ids(uow: UnitOfWork) -> list[str]:
    """Active grants whose expires_at + settings.grant_reap_grace_seconds has passed (dead workers)."""
    cutoff = uow.now - timedelta(seconds=uow.settings.grant_reap_grace_seconds)
    rows = await uow.session.scalars(
        select(Grant.id).where(Grant.state == GrantState.ACTIVE, Grant.expires_at < cutoff).order_by(Grant.id)
    )
    return list(rows.all())


async def reap_grant(uow: UnitOfWork, grant_id: str) -> Decimal | None:
    """Close one dead worker's grant; its open money returns to available (EntryKind.GRANT_RELEASE).
    A live worker always extends its grant in the DB before using it past expires_at, so a grant still
    expired after the grace period has no live owner. Returns the amount released (None: left alone)."""
    cutoff = uow.now - timedelta(seconds=uow.settings.grant_reap_grace_seconds)
    released = await release_grant(
        uow.session, grant_id, uow.now, note="reaped: worker gone", expired_before=cutoff
    )
    if released is not None:
        g = await uow.session.get(Grant, grant_id)
        uow.audit(
            "grant.reaped",
            ("grant", grant_id),
            partner_id=g.partner_id if g else None,
            after={"released": released, "worker_id": g.worker_id if g else ""},
        )
    return released
