"""Real-time charging for the gateway (DESIGN.md "Charging: how a call is charged").

`ChargingEngine` is the per-worker charging runtime: rating against cached price plans and the
month-to-date volume reserved in blocks shared by all workers (charging/volume.py; provisional,
R-CHARGE-06), prepaid grants (charging/grants.py), the group-committing
CDR writer (charging/cdr_writer.py) and idempotency (R-CHARGE-04). The gateway makes one call:

    outcome = await engine.charge(subject, plan, key)

which claims the idempotency key across workers (charging/claims.py; or replays the first answer),
rates and reserves the estimate (402 / 422 before the network), sends to each recipient through the
plan, settles what was really served (or cancels when nothing was), journals the send in the worker's
spool (charging/spool.py) and answers once the CDR is durable: by default once its spool line is
fdatasync'ed (a group sync), the database commit following behind the answer; with
settings.charge_answer_after = "commit" (or no spool) once the CDR is committed (docs/charging.md
"When a call is answered"). A sent call whose CDR the
database refuses is answered all the same and booked by `maintain()`; a dead worker's spool is replayed
by the others (`recover_spools()`): a call that reached the network is charged exactly once. Its steps are public for
service-level tests:

    auth = await engine.authorize(subject, quantity)      # rate + reserve; 402 before the network
    ... call the network ...
    engine.settle(auth, actual_quantity)                   # re-rate what was really served
    await engine.record(auth, record_id=..., ...)          # durable CDR, then answer
    engine.cancel(auth)                                    # instead, when nothing was served
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from openability.charging import rules
from openability.charging.cdr_writer import CdrFailed, CdrWriter, DuplicateRequest
from openability.charging.claims import ClaimStore, StoredAnswer, key_reused
from openability.charging.grants import GrantManager, Reservation, release_grant
from openability.charging.models import Grant, UsageRecord
from openability.charging.spool import GroupSync, Segment, SendSpool
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
from openability.connectors.base import NetworkInDoubt, NetworkThrottled, NetworkUnavailable, Submitted
from openability.kernel.clock import business_date
from openability.kernel.db import json_dumps, json_loads
from openability.kernel.errors import AppError, Busy, InvalidArgument, NetworkBusy, RuleViolation
from openability.kernel.ids import new_id
from openability.kernel.money import fmt
from openability.kernel.outage import is_outage, log_failure, unavailable

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
_IN_DOUBT_REASON = "the network element did not answer in time; it may have been delivered"
ORPHAN_SCAN_SECONDS = 5.0
BEHIND_BATCHES = 4


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
    completed calls are answered from an in-memory LRU; otherwise the first copy in this worker claims
    the key across workers and nodes (charging/claims.py: one DB round trip, only when the client sent
    a key: generated request ids are new by construction), or gets the answer of the worker that holds
    it."""

    def __init__(self, container: Platform, claims: ClaimStore) -> None:
        self.container = container
        self.claims = claims
        self._inflight: dict[tuple[str, str], tuple[asyncio.Future[StoredAnswer], str]] = {}
        # Charged answers, newest last, kept as JSON text (status, body, request hash): a 20,000-entry
        # LRU of answer dicts held ~24 MiB of a worker's memory under keyed load (issue 9's RSS
        # target); a replay decodes it, as a replay from the database does.
        self._done: OrderedDict[tuple[str, str], tuple[int, str, str]] = OrderedDict()

    async def begin(self, partner_id: str, key: str, req_hash: str) -> StoredAnswer | None:
        """None: the caller owns the key now (claimed in the database) and must call finish().
        Otherwise the earlier answer. Raises 409 (key reused, in progress, in doubt) or 503."""
        k = (partner_id, key)
        while True:
            hit = self._done.get(k)
            if hit is not None:
                self._done.move_to_end(k)
                return _check_same(StoredAnswer(hit[0], json_loads(hit[1]), hit[2]), req_hash)
            waiting = self._inflight.get(k)
            if waiting is None:
                break
            fut, first_hash = waiting
            try:
                ans = await asyncio.shield(fut)
            except AppError:
                if first_hash != req_hash:
                    continue  # the first copy was another request: this one asks for itself
                raise
            return _check_same(ans, req_hash)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[k] = (fut, req_hash)
        try:
            stored = await self.claims.acquire(partner_id, key, req_hash)
        except BaseException as exc:
            self._inflight.pop(k, None)
            fut.set_exception(
                exc
                if isinstance(exc, AppError)
                else Busy("the idempotency store is unavailable, retry later")
            )
            fut.exception()  # retrieved: waiters re-raise it themselves
            raise
        if stored is not None:
            self.finish(partner_id, key, stored)
            return _check_same(stored, req_hash)
        return None

    def correct(self, partner_id: str, key: str, answer: StoredAnswer) -> None:
        """The key's stored answer is another one than this worker remembered (a CDR of another worker
        won the key after this worker answered): later replays get the stored one."""
        k = (partner_id, key)
        if k in self._done:
            self._done[k] = (answer.status, json_dumps(answer.body), answer.request_hash)

    def finish(self, partner_id: str, key: str, answer: StoredAnswer) -> None:
        """Publish the answer to waiting duplicates; successful (charged) answers are remembered."""
        k = (partner_id, key)
        waiting = self._inflight.pop(k, None)
        if waiting is not None and not waiting[0].done():
            waiting[0].set_result(answer)
        if answer.status < 300:
            self._done[k] = (answer.status, json_dumps(answer.body), answer.request_hash)
            if len(self._done) > IDEMPOTENCY_LRU_SIZE:
                self._done.popitem(last=False)


def _check_same(ans: StoredAnswer, req_hash: str) -> StoredAnswer:
    if ans.request_hash and req_hash and ans.request_hash != req_hash and ans.status < 300:
        raise key_reused()
    return ans


# Where a call stands with the network, for its claim: only a call that did not reach it (or that the
# network served nobody for) marks its claim failed; a call whose submission got no answer (the element
# may have taken it: NetworkInDoubt) marks it in doubt; any other end leaves the claim to its CDR, the
# spool replay or the claims-recovery job (in doubt: never sent again).
BEFORE_NETWORK, AT_NETWORK, NONE_SERVED, IN_DOUBT, SENT = range(5)


@dataclass(slots=True)
class _Call:
    stage: int = BEFORE_NETWORK


@dataclass(slots=True)
class _Unbooked:
    """A sent call whose CDR is not committed yet (database down): booked by maintain()."""

    cdr: CdrRecord
    segment: Segment | None
    reservation: Reservation


class ChargingEngine:
    def __init__(self, container: Platform, worker_id: str | None = None) -> None:
        self.container = container
        self.clock = container.clock
        self.grants = GrantManager(container, worker_id)
        self.cdr = CdrWriter(container)
        self.claims = ClaimStore(container, self.grants.worker_id)
        self.idempotency = IdempotencyStore(container, self.claims)
        self.volumes = VolumeBlocks(container)
        self.spool = SendSpool(container.settings.data_dir / "spool", self.grants.worker_id)
        # Answer a sent call once its spool line is synced, its CDR committed behind the answer
        # (config.py charge_answer_after); the commits still pending, for flush().
        self.answer_on_sync = container.settings.charge_answer_after == "spool"
        self.spool_sync = GroupSync(self.spool)
        self._behind: set[asyncio.Future[None]] = set()
        # Backpressure: past this many CDRs answered and not committed yet (the database slower than
        # the traffic), an answer waits for its own commit again, so the backlog (and the spool)
        # stays bounded.
        self._behind_max = BEHIND_BATCHES * max(1, container.settings.cdr_batch_max)
        # Sent calls whose CDR could not be committed yet, and failed claims not marked yet (database
        # down): both retried by maintain().
        self._unbooked: list[_Unbooked] = []
        self._unfailed: list[tuple[str, str, int, JsonObject]] = []
        self._next_orphan_scan = 0.0
        # Fault injection for tests: called after a sent call's CDR is journaled, before it is handed to
        # the CDR writer ("a crash between the send and the CDR").
        self.after_send: Callable[[CdrRecord], None] | None = None

    async def start(self) -> None:
        await self.grants.start()
        await self.cdr.start()
        await self.claims.start()
        try:
            self.spool.open()
        except OSError:
            log.exception(
                "send spool unavailable in %s: sends are recorded by the CDR writer only",
                self.spool.directory,
            )
        try:
            await self.recover_spools()
        except Exception as exc:
            log_failure(log, exc, "replaying the spools of dead workers failed; retried by maintain()")

    async def stop(self) -> None:
        """Flush the CDR writer (and book what could not be booked before, if the database is back),
        close the spool, then give back this worker's unused grants and, where no other worker reserved
        volume after it, its unused month-to-date positions. Grants under unbooked CDRs stay open: the
        spool replay at the next start books them."""
        await self.cdr.stop()
        await self.flush()  # the commits behind answers have settled (booked, or in _unbooked)
        if self._unbooked:
            await self.cdr.start()
            try:
                await self._rebook()
                await self._mark_failed_again()
            finally:
                await self.cdr.stop()
        if self.spool.is_open:
            self.spool.close()
        await self.claims.stop()
        try:
            await self.grants.release_idle(all_grants=True)
        finally:
            await self.grants.stop()  # the owned slot is freed even when the release failed
        await self.volumes.give_back()

    async def maintain(self) -> None:
        """Housekeeping (about every second): book the CDRs and mark the failed claims that the database
        refused, rotate the spool, and every few seconds replay the spools of dead workers."""
        await self._rebook()
        await self._mark_failed_again()
        if self.spool.is_open:
            self.spool.rotate()
        now = asyncio.get_running_loop().time()
        if now >= self._next_orphan_scan:
            self._next_orphan_scan = now + ORPHAN_SCAN_SECONDS
            await self.recover_spools()

    @property
    def unbooked(self) -> int:
        return len(self._unbooked)

    @property
    def committing(self) -> bool:
        """Some CDRs answered ahead of their commit are not committed yet."""
        return bool(self._behind)

    async def flush(self, seconds: float | None = None) -> None:
        """Wait until every CDR answered ahead of its commit is committed (or, refused, handed to
        maintain()), at most `seconds`: a caller that must read its own writes (tests, a
        status query, a drain)."""
        loop = asyncio.get_running_loop()
        end = None if seconds is None else loop.time() + seconds
        while self._behind:
            left = None if end is None else end - loop.time()
            if left is not None and left <= 0:
                return
            await asyncio.wait(list(self._behind), timeout=left)

    async def _rebook(self) -> None:
        if not self._unbooked or not self.cdr.running:
            return
        items, self._unbooked = self._unbooked, []
        results = await asyncio.gather(*(self.cdr.write(u.cdr) for u in items), return_exceptions=True)
        booked = 0
        for u, res in zip(items, results, strict=True):
            if res is None or isinstance(res, DuplicateRequest):
                # Committed now (or before, by the write whose answer was lost).
                self.spool.booked(u.segment)
                self.grants.done(u.reservation)
                booked += 1
            else:
                self._unbooked.append(u)
        if booked:
            log.warning("booked %d CDR(s) of calls sent while the database was unavailable", booked)

    async def _mark_failed_again(self) -> None:
        items, self._unfailed = self._unfailed, []
        for i, (pid, key, status, body) in enumerate(items):
            try:
                await self.claims.fail(pid, key, status, body)
            except Exception:
                self._unfailed.extend(items[i:])
                return

    async def recover_spools(self) -> int:
        """Replay the spools of this node's dead workers into CDRs (idempotently by request key: what is
        stored already is skipped). Returns the number of CDRs written."""
        if not self.cdr.running:
            return 0
        written = 0
        for orphan in self.spool.orphans():
            try:
                records = await self._not_stored(list(orphan.records()))
                results = await asyncio.gather(*(self.cdr.write(r) for r in records), return_exceptions=True)
                failed = [r for r in results if r is not None and not isinstance(r, DuplicateRequest)]
                if failed:
                    log.warning(
                        "replaying spool %s: %d of %d CDR(s) not written (%s); retried later",
                        orphan.lock_path.name,
                        len(failed),
                        len(records),
                        failed[0],
                    )
                    orphan.release()
                    continue
                written += sum(1 for r in results if r is None)
                log.warning(
                    "replayed spool %s of a dead worker: %d CDR(s) written", orphan.lock_path.name, written
                )
                orphan.finish()
            except BaseException:
                orphan.release()
                raise
        return written

    async def _not_stored(self, records: list[CdrRecord]) -> list[CdrRecord]:
        by_partner: dict[str, list[CdrRecord]] = {}
        for r in records:
            by_partner.setdefault(r.partner_id, []).append(r)
        todo: list[CdrRecord] = []
        async with self.container.uow() as uow:
            for pid, recs in by_partner.items():
                stored: set[str] = set()
                keys = [r.request_key for r in recs]
                for i in range(0, len(keys), 500):
                    stored.update(
                        (
                            await uow.session.scalars(
                                select(UsageRecord.request_key).where(
                                    UsageRecord.partner_id == pid,
                                    UsageRecord.request_key.in_(keys[i : i + 500]),
                                )
                            )
                        ).all()
                    )
                seen: set[str] = set()
                for r in recs:
                    if r.request_key not in stored and r.request_key not in seen:
                        seen.add(r.request_key)
                        todo.append(r)
        return todo

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
        cdr = self._cdr(
            auth,
            record_id=record_id,
            request_key=request_key,
            req_hash=req_hash,
            capability=capability,
            operation=operation,
            recipients=recipients,
            response=response,
            messages=messages,
        )
        s = auth.subject
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

    def _cdr(
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
        claimed: bool = False,
    ) -> CdrRecord:
        s, rating = auth.subject, auth.rating
        # Positional (in CdrRecord's field order): a 22-keyword call costs ~4x more on the hot path.
        return CdrRecord(
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
            claimed,
            auth.reservation.slot,
        )

    # ---- one capability call ----------------------------------------------------------------------

    async def charge(self, subject: Subject, plan: ChargePlan, key: str | None = None) -> ChargeOutcome:
        """Serve and charge one capability call (DESIGN.md hot path, steps 2-5).

        `key` (see idempotency_key) is claimed across workers and nodes before the network is touched
        (charging/claims.py): a copy in flight waits for the first, a finished one gets the first answer
        back (`replayed`), neither charged nor sent again (R-CHARGE-04). Without a key the call gets a
        generated request id. A call that reached the network is journaled in the spool and answered
        201 even when its CDR cannot be committed at once (booked later: R-CHARGE-02). Raises AppError:
        402 INSUFFICIENT_BALANCE and 422 NO_PRICE_PLAN before the network, 409
        IDEMPOTENCY_KEY_REUSED / REQUEST_IN_PROGRESS / REQUEST_IN_DOUBT, 503 when the network element
        served nobody (nothing charged)."""
        req_hash = request_hash(plan.canonical())
        if key is None:
            return await self._serve(subject, plan, new_request_id(), req_hash, _Call(), claimed=False)
        replay = await self.idempotency.begin(subject.partner_id, key, req_hash)
        if replay is not None:
            return ChargeOutcome(replay.status, replay.body, replayed=True)
        status, body = 500, _INTERNAL
        call = _Call()
        try:
            outcome = await self._serve(subject, plan, key, req_hash, call, claimed=True)
            status, body = outcome.status, outcome.body
        except AppError as exc:
            status, body = exc.status, exc.body()
            raise
        except Exception as exc:
            if is_outage(exc):  # the gateway answers 503: so do the copies that waited
                status, body = 503, unavailable("the charging database").body()
            raise
        finally:
            if call.stage in (BEFORE_NETWORK, NONE_SERVED):
                # Not sent, not charged: other workers' copies get this answer, a retry may take over.
                await self._mark_failed(subject.partner_id, key, status, body)
            elif call.stage == IN_DOUBT:
                # Perhaps sent, not charged: never sent again (a retry gets 409 REQUEST_IN_DOUBT).
                await self._mark_in_doubt(subject.partner_id, key, status, body)
            # Copies waiting in this worker get this answer too (an error included); only charged
            # answers are remembered.
            self.idempotency.finish(subject.partner_id, key, StoredAnswer(status, body, req_hash))
        return outcome

    async def _mark_failed(self, partner_id: str, key: str, status: int, body: JsonObject) -> None:
        try:
            await self.claims.fail(partner_id, key, status, body)
        except Exception as exc:
            log.warning("could not mark the claim of %s/%s failed (%s); retried", partner_id, key, exc)
            self._unfailed.append((partner_id, key, status, body))

    async def _mark_in_doubt(self, partner_id: str, key: str, status: int, body: JsonObject) -> None:
        log.warning(
            "call %s/%s is in doubt: the network element did not answer its submission; not charged, "
            "not sent again",
            partner_id,
            key,
        )
        try:
            await self.claims.doubt(partner_id, key, status, body)
        except Exception as exc:
            # The claim stays `claimed`: never sent again either, in doubt once it is stale.
            log.warning("could not mark the claim of %s/%s in doubt (%s)", partner_id, key, exc)

    async def _serve(
        self,
        subject: Subject,
        plan: ChargePlan,
        request_key: str,
        req_hash: str,
        call: _Call,
        *,
        claimed: bool,
    ) -> ChargeOutcome:
        try:
            auth = await self.authorize(subject, plan.estimate)
        except rules.NoPrice as exc:
            # 422 like ordering an unpriced product: one status per code across the API.
            raise RuleViolation(f"{exc}; the product cannot be used now", code="NO_PRICE_PLAN") from None
        call.stage = AT_NETWORK
        results = await _send_all(plan)
        served = [r for r in results if isinstance(r, Submitted)]
        if not served:
            doubt = any(isinstance(r, NetworkInDoubt) for r in results)
            call.stage = IN_DOUBT if doubt else NONE_SERVED
            self.cancel(auth)
            raise _unserved(plan, results)
        call.stage = SENT
        # From here on the call was sent: it is answered 201 and charged exactly once.
        rating = self.settle(auth, sum(plan.quantity_of(r) for r in served))
        id_field = plan.id_field
        items: list[JsonObject] = []
        messages: list[CdrMessage] = []
        to_served: list[str] = []
        for to, r in zip(plan.recipients, results, strict=True):
            if not isinstance(r, Submitted):
                reason = _IN_DOUBT_REASON if isinstance(r, NetworkInDoubt) else _FAILED_REASON
                items.append({"to": to, "status": "failed", "reason": reason})
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
        cdr = self._cdr(
            auth,
            record_id=new_id("cdr"),
            request_key=request_key,
            req_hash=req_hash,
            capability=plan.capability,
            operation=plan.operation,
            recipients=to_served,
            response=body,
            messages=messages,
            claimed=claimed,
        )
        segment = self.spool.append(cdr)  # the record of the send, before anything else can fail
        if self.after_send is not None:
            self.after_send(cdr)
        if segment is not None and self.answer_on_sync:
            return await self._answer_after_sync(cdr, segment, auth, body, rating.amount)
        try:
            await self.cdr.write(cdr)
        except DuplicateRequest as dup:
            # Another worker stored this key first (a key claimed before this release): its answer
            # stands, this call is not charged.
            log.error(
                "call %s/%s was sent twice: its key was stored by another worker",
                subject.partner_id,
                request_key,
            )
            self.spool.booked(segment)
            self.volumes.release((subject.partner_id, subject.product_id, auth.month), auth.segments)
            auth.segments = ()
            self.grants.cancel(auth.reservation)
            return ChargeOutcome(201, dup.response)
        except CdrFailed:
            # Sent, not booked (the database is down or restarting): the money stays spent (the
            # reservation stays in flight, so its grant is not released under it), the spool is made
            # durable, maintain() books the CDR once the database is back.
            self._unbooked.append(_Unbooked(cdr, segment, auth.reservation))
            if segment is not None:
                try:
                    await asyncio.to_thread(self.spool.sync, segment)
                except OSError:
                    log.exception("send spool: fsync failed")
            log.warning("CDR of %s/%s not committed; booked later", subject.partner_id, request_key)
            return ChargeOutcome(201, body, amount=rating.amount)
        except BaseException:
            # Cancelled while waiting: the writer may still commit it; maintain() finds out (a second
            # write of a stored CDR is a DuplicateRequest: booked once).
            self._unbooked.append(_Unbooked(cdr, segment, auth.reservation))
            raise
        self.spool.booked(segment)
        self.grants.done(auth.reservation)
        return ChargeOutcome(201, body, amount=rating.amount)

    async def _answer_after_sync(
        self, cdr: CdrRecord, segment: Segment, auth: Authorization, body: JsonObject, amount: Decimal
    ) -> ChargeOutcome:
        """The CDR goes to the writer and its spool line to the group sync at once; the call is answered
        at the first durable point: the sync done (the commit then settles behind the answer:
        _committed_behind) or the CDR committed (a slow disk). A CDR the writer refused first is
        answered once its line is synced, as in commit mode; a failed sync falls back to the commit."""
        fut = self.cdr.write(cdr)
        self._behind.add(fut)
        fut.add_done_callback(functools.partial(self._committed_behind, cdr, segment, auth))
        synced = self.spool_sync.wait(segment)
        # Neither future is cancelled with the caller: the group sync and the callback settle them.
        await asyncio.wait((synced, fut), return_when=asyncio.FIRST_COMPLETED)
        if not synced.done():
            if fut.cancelled() or fut.exception() is not None:
                dup = None if fut.cancelled() else fut.exception()
                if isinstance(dup, DuplicateRequest) and dup.response != cdr.response:
                    return ChargeOutcome(201, dup.response)  # another worker's CDR holds the key
                # Refused (the database down): the answer waits for the line's sync.
                await asyncio.wait((synced,))
        elif synced.exception() is not None:
            log.error(
                "send spool: fdatasync failed (%s); the answer waits for the commit", synced.exception()
            )
            await asyncio.wait((fut,))
        if len(self._behind) > self._behind_max and not fut.done():
            await asyncio.wait((fut,))  # a backlog: this answer waits for its commit
        if fut.done() and not fut.cancelled():
            dup = fut.exception()
            if isinstance(dup, DuplicateRequest) and dup.response != cdr.response:
                # Settled before the answer: another worker's CDR holds the key, its answer stands
                # (as when the answer waits for the commit).
                return ChargeOutcome(201, dup.response)
        return ChargeOutcome(201, body, amount=amount)

    def _committed_behind(
        self, cdr: CdrRecord, segment: Segment, auth: Authorization, fut: asyncio.Future[None]
    ) -> None:
        """The commit of a CDR answered after the spool sync: only now does its reservation stop holding
        the grant (R-CHARGE-02: the money stays spent until the CDR is in the database), and its
        spool line stop counting; a CDR the database refused goes to maintain(), as in commit mode."""
        self._behind.discard(fut)
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is None or (isinstance(exc, DuplicateRequest) and exc.response == cdr.response):
            self.spool.booked(segment)
            self.grants.done(auth.reservation)
            return
        if isinstance(exc, DuplicateRequest):
            # Another worker stored this key first: near impossible with a claimed key (the claim row
            # keeps every other worker from sending until this CDR marks it answered). The key's
            # stored CDR is its one charge: this call's money goes back to the grant, and later replays
            # in this worker give the stored answer, as other workers do.
            log.error(
                "call %s/%s was sent twice and answered before its key was found stored by another "
                "worker: charged once, by the stored CDR",
                cdr.partner_id,
                cdr.request_key,
            )
            self.spool.booked(segment)
            s = auth.subject
            self.volumes.release((s.partner_id, s.product_id, auth.month), auth.segments)
            auth.segments = ()
            self.grants.cancel(auth.reservation)
            self.idempotency.correct(
                cdr.partner_id, cdr.request_key, StoredAnswer(201, exc.response, exc.request_hash)
            )
            return
        # CdrFailed (the database down or restarting) or unknown: the money stays spent, the spool line
        # stays (synced), maintain() books the CDR (a stored one comes back as a DuplicateRequest: once).
        self._unbooked.append(_Unbooked(cdr, segment, auth.reservation))
        log.warning("CDR of %s/%s not committed; booked later", cdr.partner_id, cdr.request_key)


def _unserved(plan: ChargePlan, results: list[Submitted | BaseException]) -> Busy:
    """The 503 of a call the network element served nobody of: NETWORK_THROTTLED with the element's
    Retry-After when it throttled (any recipient), else SERVICE_UNAVAILABLE."""
    waits = [r.retry_after for r in results if isinstance(r, NetworkThrottled)]
    if any(isinstance(r, NetworkInDoubt) for r in results):
        return Busy(
            f"the {plan.capability} network element did not answer in time; the request may have been "
            "delivered. Nothing was charged, and a retry with the same idempotency key is not sent again"
        )
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
