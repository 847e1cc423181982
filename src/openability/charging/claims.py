"""Cross-worker claims of idempotency keys (R-CHARGE-04): a client's key is claimed in the database
before the network is touched, so however many workers and nodes see copies of a call, one sends.

One round trip for the winner: `INSERT … SELECT … WHERE NOT EXISTS (a CDR with that key) ON CONFLICT
DO NOTHING RETURNING` in autocommit, group-committed: the concurrent claims of a worker go in one
statement (PostgreSQL: `unnest` of arrays, prepared once on a pooled connection the store holds while
its batcher runs: no pool checkout or SQLAlchemy per batch). A loser reads the claim:

* answered (its CDR exists): the CDR's answer is replayed (a different request body → 409);
* claimed by another worker: a different body → 409 `IDEMPOTENCY_KEY_REUSED` at once; the same body
  waits (polling, up to `idempotency_wait_seconds`) for the answer and replays it, or the failure of
  the call it waited for; still claimed after the wait → 409 `REQUEST_IN_PROGRESS` (Retry-After), or
  `REQUEST_IN_DOUBT` once the claim is older than a grant lives (its worker is gone);
* failed (the owner stopped before the network or nothing was served, nothing charged): taken over
  with a conditional UPDATE, so one of several retries wins;
* in_doubt: 409 `REQUEST_IN_DOUBT`, never sent again (a spool replay may still answer it); the owner
  marks its claim so when the network element did not answer the submission (it may have sent it).

The CDR writer marks a claim answered in the CDR's own transaction (cdr_writer.py); the owner marks
it failed when its call ends without reaching the network. The claims-recovery job (charging/jobs.py)
turns stale claims into answered (a CDR exists) or in_doubt, and deletes old answered and failed
claims (the CDRs keep answering those keys: the insert does not claim a key that has a CDR).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, and_, bindparam, delete, select, update

from openability.charging.models import RequestClaim, UsageRecord
from openability.charging.types import ClaimState, JsonObject
from openability.kernel.batching import BatchWriter, Pending
from openability.kernel.errors import Conflict
from openability.kernel.outage import is_outage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from openability.kernel.platform import Platform
    from openability.kernel.uow import UnitOfWork

log = logging.getLogger(__name__)

_CLAIMS: Table = RequestClaim.__table__  # type: ignore[assignment]
_USAGE: Table = UsageRecord.__table__  # type: ignore[assignment]
FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.1
CLAIM_CONCURRENCY = 4
CLAIM_BATCH_MAX = 256


@dataclass(slots=True)
class _ClaimRequest:
    partner_id: str
    key: str
    req_hash: str
    won: bool = False


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What an earlier call with the key answered: replayed to a retry (or to the copies that waited)."""

    status: int
    body: dict[str, Any]
    request_hash: str


class RequestInProgress(Conflict):
    code = "REQUEST_IN_PROGRESS"


class RequestInDoubt(Conflict):
    code = "REQUEST_IN_DOUBT"


def key_reused() -> Conflict:
    return Conflict(
        "this Idempotency-Key was already used for a different request", code="IDEMPOTENCY_KEY_REUSED"
    )


class ClaimStore:
    def __init__(self, container: Platform, owner: str) -> None:
        self.container = container
        self.settings = container.settings
        self.owner = owner[:80]
        engine = container.engine
        self._pg = engine.dialect.name == "postgresql"
        # PostgreSQL: one statement in autocommit is one round trip (no BEGIN/COMMIT around it).
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT") if self._pg else engine
        # At most this many claim statements at once per worker: more would take the pool's overflow
        # connections, which are closed on return and opened again (a new connection per call under
        # load: several times the cost of the statement).
        self._slots = asyncio.Semaphore(CLAIM_CONCURRENCY)
        self._batcher: BatchWriter[_ClaimRequest] = BatchWriter(
            "claims", self._commit_claims, batch_max=CLAIM_BATCH_MAX, on_exit=self._batcher_exit
        )
        # PostgreSQL, while the batcher runs: one pooled connection held by the claim store (its raw
        # asyncpg connection and the claim statement prepared on it), so a batch is one `fetch` with
        # no pool checkout, no SQLAlchemy connection or greenlet hop, no statement-cache lookup. The
        # batcher commits one batch at a time, so one connection is enough; it is given back at stop()
        # and dropped (invalidated) when the server ended it. Only the batcher's task takes it, and the
        # task gives it back when it ends, also when it is cancelled (a worker nobody stopped).
        self._pin: tuple[AsyncConnection, Any, Any] | None = None
        self._stopping = False

    # ---- the claim: one statement per batch of concurrent claims ----------------------------------

    async def start(self) -> None:
        await self._batcher.start()

    async def stop(self) -> None:
        self._stopping = True
        try:
            await self._batcher.stop()
        finally:
            self._stopping = False
        await self._unpin()

    async def _batcher_exit(self) -> None:
        if self._stopping:
            await self._unpin()  # back to the pool
        else:
            # The task was cancelled (its loop is being torn down, its worker never stopped): the pool
            # may be disposed already, so the connection is closed, not handed back.
            await self._unpin(ConnectionAbortedError("the claim batcher was cancelled"))

    async def try_claim(self, partner_id: str, key: str, req_hash: str) -> bool:
        """Claim the key (True) unless it is claimed already or has a CDR (False). Concurrent claims
        of the worker go to the database together, in one statement (one round trip)."""
        req = _ClaimRequest(partner_id, key, req_hash)
        if self._batcher.running:
            await self._batcher.put(req)
        else:
            await self._claim_batch([req])
        return req.won

    async def _commit_claims(self, batch: list[Pending[_ClaimRequest]]) -> None:
        try:
            await self._claim_batch([it.item for it in batch])
        except Exception as exc:
            # The database is down or overloaded (the callers answer 503): one line, no traceback.
            log.warning("claiming %d idempotency key(s) failed: %s: %s", len(batch), type(exc).__name__, exc)
            for it in batch:
                it.fail(exc)

    async def _claim_pinned(self, reqs: list[_ClaimRequest]) -> None:
        """PostgreSQL, from the batcher: the claim statement on the store's own connection."""
        pin = self._pin
        if pin is None or pin[1].is_closed():
            if pin is not None:
                await self._unpin(ConnectionResetError("the claim connection was closed"))
            pin = await self._take_pin()
        now = self.container.clock.now()
        try:
            rows = await pin[2].fetch(*_claim_args(reqs, self.owner, now))
        except Exception as exc:
            if pin[1].is_closed() or is_outage(exc):
                # The server ended the connection (a restart): never use it again, and the callers
                # see an outage (503); the next batch takes a new one.
                await self._unpin(exc)
                raise ConnectionResetError(f"the database connection was closed: {exc!r}") from exc
            raise
        _mark_won(reqs, rows)

    async def _take_pin(self) -> tuple[AsyncConnection, Any, Any]:
        conn = await self.container.engine.connect()
        raw: Any = None
        try:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            stmt = await raw.prepare(_PG_CLAIMS)
        except BaseException as exc:
            await conn.invalidate(exc if isinstance(exc, Exception) else None)
            await conn.close()
            if isinstance(exc, Exception) and ((raw is not None and raw.is_closed()) or is_outage(exc)):
                # asyncpg's own errors are not SQLAlchemy's: the caller must see an outage (503).
                raise ConnectionResetError(f"the database connection was closed: {exc!r}") from exc
            raise
        self._pin = (conn, raw, stmt)
        return self._pin

    async def _unpin(self, exc: BaseException | None = None) -> None:
        pin, self._pin = self._pin, None
        if pin is None:
            return
        conn = pin[0]
        try:
            if exc is not None:
                await conn.invalidate(exc if isinstance(exc, Exception) else None)
            await conn.close()
        except Exception as close_exc:  # a dead connection: the pool forgets it either way
            log.debug("closing the claim connection: %s", close_exc)

    async def _claim_batch(self, reqs: list[_ClaimRequest]) -> None:
        if self._pg and self._batcher.in_task():
            await self._claim_pinned(reqs)  # the batcher's own connection (only its task uses it)
            return
        now = self.container.clock.now()
        async with self._slots:
            if self._pg:
                # The driver's own prepared statement on a pooled connection, outside any transaction
                # (asyncpg autocommits it): one round trip for the whole batch, little Python.
                async with self.container.engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    assert raw is not None
                    try:
                        rows = await raw.fetch(_PG_CLAIMS, *_claim_args(reqs, self.owner, now))
                    except Exception as exc:
                        # The driver's errors are not SQLAlchemy's: when the server ended the connection
                        # (a restart) the pool must be told, or it hands the dead one out again, and the
                        # caller must see an outage (503), whatever asyncpg called it.
                        if raw.is_closed() or is_outage(exc):
                            await conn.invalidate(exc)
                            raise ConnectionResetError(
                                f"the database connection was closed: {exc!r}"
                            ) from exc
                        raise
            else:
                # SQLite: the same statement over a VALUES list (a CTE: SQLite names no VALUES columns
                # otherwise); timestamps in the form SQLAlchemy stores them (naive UTC).
                at = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                sql = _SQLITE_CLAIMS.format(rows=", ".join(["(?, ?, ?)"] * len(reqs)))
                params: list[Any] = []
                for r in reqs:
                    params += (r.partner_id, r.key, r.req_hash)
                params += (self.owner, at, at)
                async with self.container.engine.begin() as conn:
                    rows = list((await conn.exec_driver_sql(sql, tuple(params))).all())
        _mark_won(reqs, rows)

    async def _exec(self, stmt: Any, params: dict[str, Any]) -> Any:
        """One statement in its own transaction: the RETURNING rows, or the rowcount."""
        async with self._slots:
            ctx = self._engine.connect() if self._pg else self._engine.begin()
            async with ctx as conn:
                res = await conn.execute(stmt, params)
                return res.all() if _returns(stmt) else res.rowcount

    async def acquire(self, partner_id: str, key: str, req_hash: str) -> StoredAnswer | None:
        """None: this worker owns the key now (send, then the CDR marks it answered, or call fail()).
        Otherwise the earlier answer to replay. Raises 409 (reused, in progress, in doubt)."""
        if await self.try_claim(partner_id, key, req_hash):
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.idempotency_wait_seconds
        delay = FIRST_POLL_SECONDS
        watched: tuple[str, datetime] | None = None
        while True:
            row = await self._read(partner_id, key)
            if row is None:
                # No claim: a CDR older than the claim's retention answers it, else the key is free again.
                stored = await self._stored(partner_id, key)
                if stored is not None:
                    return stored
                if await self.try_claim(partner_id, key, req_hash):
                    return None
                continue
            state, r_hash, owner, claimed_at, status, body, cdr_answer = row
            if cdr_answer is not None:
                return StoredAnswer(201, dict(cdr_answer), str(r_hash))
            if state == ClaimState.FAILED:
                if watched == (owner, claimed_at) and r_hash == req_hash and status is not None:
                    # The call this one waited for ended without charging: the same answer.
                    return StoredAnswer(int(status), dict(body or {}), str(r_hash))
                if await self._take_over(partner_id, key, req_hash, owner, claimed_at):
                    return None
                continue
            if r_hash != req_hash:
                raise key_reused()
            if state != ClaimState.CLAIMED or self._stale(claimed_at):
                raise RequestInDoubt(
                    "a call with this Idempotency-Key was started but its outcome is not known; it is not"
                    " sent again. Its answer is replayed once its record is recovered"
                )
            watched = (owner, claimed_at)
            if loop.time() >= deadline:
                raise RequestInProgress(
                    "a call with this Idempotency-Key is in progress on another worker; it is not sent"
                    " again: retry with the same key for its answer",
                    details={"retryAfter": 1},
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_POLL_SECONDS)

    def _stale(self, claimed_at: datetime) -> bool:
        s = self.settings
        age = self.container.clock.now() - claimed_at
        return age > timedelta(seconds=s.grant_ttl_seconds + s.grant_reap_grace_seconds)

    async def fail(self, partner_id: str, key: str, status: int, body: JsonObject) -> bool:
        """The owner's call ended before the network (or nothing was served): nothing was sent or
        charged, copies that waited get this answer, a later retry may take the key over."""
        n = await self._exec(
            _FAIL,
            {
                "p": partner_id,
                "k": key,
                "o": self.owner,
                "s": status,
                "b": body,
                "now": self.container.clock.now(),
            },
        )
        return bool(n)

    async def doubt(self, partner_id: str, key: str, status: int, body: JsonObject) -> bool:
        """The owner's call reached the network element and got no answer (it may have been sent):
        nothing was charged, and the key is never sent again (409 REQUEST_IN_DOUBT)."""
        n = await self._exec(
            _DOUBT,
            {
                "p": partner_id,
                "k": key,
                "o": self.owner,
                "s": status,
                "b": body,
                "now": self.container.clock.now(),
            },
        )
        return bool(n)

    async def _take_over(
        self, partner_id: str, key: str, req_hash: str, old_owner: str, claimed_at: datetime
    ) -> bool:
        n = await self._exec(
            _TAKE_OVER,
            {
                "p": partner_id,
                "k": key,
                "h": req_hash,
                "o": self.owner,
                "old": old_owner,
                "at": claimed_at,
                "now": self.container.clock.now(),
            },
        )
        return bool(n)

    async def _read(self, partner_id: str, key: str) -> Any:
        async with self.container.engine.connect() as conn:
            return (await conn.execute(_READ, {"p": partner_id, "k": key})).first()

    async def _stored(self, partner_id: str, key: str) -> StoredAnswer | None:
        async with self.container.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(_USAGE.c.response, _USAGE.c.request_hash).where(
                        _USAGE.c.partner_id == partner_id, _USAGE.c.request_key == key
                    )
                )
            ).first()
        return StoredAnswer(201, dict(row[0]), str(row[1])) if row is not None else None


def _claim_args(reqs: list[_ClaimRequest], owner: str, now: datetime) -> list[Any]:
    """The claim statement's parameters (`_PG_CLAIMS`): the batch as three arrays, the owner, the time."""
    return [[r.partner_id for r in reqs], [r.key for r in reqs], [r.req_hash for r in reqs], owner, now]


def _mark_won(reqs: list[_ClaimRequest], rows: Any) -> None:
    """A returned row is one inserted claim: it goes to the first request of the batch with its
    (partner, key). Copies of a key in one batch (the statement inserts the key once, ON CONFLICT DO
    NOTHING skips the others) lose, as they would in separate batches."""
    won = {(str(r[0]), str(r[1])) for r in rows}
    for r in reqs:
        k = (r.partner_id, r.key)
        r.won = k in won
        if r.won:
            won.discard(k)


_PG_CLAIMS = f"""INSERT INTO request_claims
  (partner_id, request_key, request_hash, state, owner, claimed_at, updated_at)
SELECT v.p, v.k, v.h, '{ClaimState.CLAIMED.value}', $4::varchar, $5::timestamptz, $5::timestamptz
FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS v(p, k, h)
WHERE NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.partner_id = v.p AND u.request_key = v.k)
ON CONFLICT DO NOTHING RETURNING partner_id, request_key"""


_SQLITE_CLAIMS = (
    "WITH v(p, k, h) AS (VALUES {rows}) INSERT INTO request_claims"
    " (partner_id, request_key, request_hash, state, owner, claimed_at, updated_at)"
    f" SELECT v.p, v.k, v.h, '{ClaimState.CLAIMED.value}', ?, ?, ? FROM v"
    " WHERE NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.partner_id = v.p AND u.request_key = v.k)"
    " ON CONFLICT DO NOTHING RETURNING partner_id, request_key"
)


def _returns(stmt: Any) -> bool:
    return bool(getattr(stmt, "_returning", None))


_READ = (
    select(
        _CLAIMS.c.state,
        _CLAIMS.c.request_hash,
        _CLAIMS.c.owner,
        _CLAIMS.c.claimed_at,
        _CLAIMS.c.status,
        _CLAIMS.c.response,
        _USAGE.c.response,
    )
    .select_from(
        _CLAIMS.outerjoin(
            _USAGE,
            and_(_USAGE.c.partner_id == _CLAIMS.c.partner_id, _USAGE.c.request_key == _CLAIMS.c.request_key),
        )
    )
    .where(_CLAIMS.c.partner_id == bindparam("p"), _CLAIMS.c.request_key == bindparam("k"))
)
_FAIL = (
    update(_CLAIMS)
    .where(
        _CLAIMS.c.partner_id == bindparam("p"),
        _CLAIMS.c.request_key == bindparam("k"),
        _CLAIMS.c.owner == bindparam("o"),
        _CLAIMS.c.state == ClaimState.CLAIMED,
    )
    .values(
        state=ClaimState.FAILED,
        status=bindparam("s"),
        response=bindparam("b", type_=_CLAIMS.c.response.type),
        updated_at=bindparam("now", type_=_CLAIMS.c.updated_at.type),
    )
)
_DOUBT = (
    update(_CLAIMS)
    .where(
        _CLAIMS.c.partner_id == bindparam("p"),
        _CLAIMS.c.request_key == bindparam("k"),
        _CLAIMS.c.owner == bindparam("o"),
        _CLAIMS.c.state == ClaimState.CLAIMED,
    )
    .values(
        state=ClaimState.IN_DOUBT,
        status=bindparam("s"),
        response=bindparam("b", type_=_CLAIMS.c.response.type),
        updated_at=bindparam("now", type_=_CLAIMS.c.updated_at.type),
    )
)
_TAKE_OVER = (
    update(_CLAIMS)
    .where(
        _CLAIMS.c.partner_id == bindparam("p"),
        _CLAIMS.c.request_key == bindparam("k"),
        _CLAIMS.c.owner == bindparam("old"),
        _CLAIMS.c.claimed_at == bindparam("at", type_=_CLAIMS.c.claimed_at.type),
        _CLAIMS.c.state == ClaimState.FAILED,
    )
    .values(
        state=ClaimState.CLAIMED,
        request_hash=bindparam("h"),
        owner=bindparam("o"),
        claimed_at=bindparam("now", type_=_CLAIMS.c.claimed_at.type),
        updated_at=bindparam("now", type_=_CLAIMS.c.updated_at.type),
        status=None,
        response=None,
    )
)
# Used by the CDR writer in the CDR's transaction (executemany over the batch's claimed records).
ANSWER_CLAIM = (
    update(_CLAIMS)
    .where(_CLAIMS.c.partner_id == bindparam("p"), _CLAIMS.c.request_key == bindparam("k"))
    .values(
        state=ClaimState.ANSWERED,
        usage_record_id=bindparam("rid"),
        updated_at=bindparam("now", type_=_CLAIMS.c.updated_at.type),
    )
)


# ---- recovery (the claims-recovery job) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    answered: int
    in_doubt: list[tuple[str, str]]
    deleted: int


async def recover_claims(uow: UnitOfWork) -> RecoveryResult:
    """Claims whose CDR exists become answered (a spool replay without the claim update, say); claims
    still `claimed` after a grant's lifetime plus its reap grace become in_doubt (their worker died
    between the claim and the record of the send: retries get 409 REQUEST_IN_DOUBT, never a second
    send); answered and failed claims older than `idempotency_claim_retention_hours` are deleted (the
    CDRs keep answering those keys)."""
    s, now, st = uow.session, uow.now, uow.settings
    cdr_id = (
        select(_USAGE.c.id)
        .where(_USAGE.c.partner_id == _CLAIMS.c.partner_id, _USAGE.c.request_key == _CLAIMS.c.request_key)
        .scalar_subquery()
    )
    res = await s.execute(
        update(_CLAIMS)
        .where(_CLAIMS.c.state.in_([ClaimState.CLAIMED, ClaimState.IN_DOUBT]), cdr_id.is_not(None))
        .values(state=ClaimState.ANSWERED, usage_record_id=cdr_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    answered = int(res.rowcount or 0)  # type: ignore[attr-defined]
    cutoff = now - timedelta(seconds=st.grant_ttl_seconds + st.grant_reap_grace_seconds)
    stale = (
        await s.execute(
            select(_CLAIMS.c.partner_id, _CLAIMS.c.request_key, _CLAIMS.c.owner, _CLAIMS.c.claimed_at).where(
                _CLAIMS.c.state == ClaimState.CLAIMED, _CLAIMS.c.claimed_at < cutoff
            )
        )
    ).all()
    doubtful: list[tuple[str, str]] = []
    for pid, key, owner, claimed_at in stale:
        n = await s.execute(
            update(_CLAIMS)
            .where(
                _CLAIMS.c.partner_id == pid,
                _CLAIMS.c.request_key == key,
                _CLAIMS.c.state == ClaimState.CLAIMED,
                _CLAIMS.c.claimed_at == claimed_at,
            )
            .values(state=ClaimState.IN_DOUBT, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if n.rowcount:  # type: ignore[attr-defined]
            doubtful.append((pid, key))
            uow.audit(
                "request.in_doubt",
                ("request", key),
                partner_id=pid,
                after={"owner": owner, "claimed_at": claimed_at.isoformat()},
            )
    old = now - timedelta(hours=st.idempotency_claim_retention_hours)
    res = await s.execute(
        delete(_CLAIMS)
        .where(_CLAIMS.c.state.in_([ClaimState.ANSWERED, ClaimState.FAILED]), _CLAIMS.c.updated_at < old)
        .execution_options(synchronize_session=False)
    )
    return RecoveryResult(answered, doubtful, int(res.rowcount or 0))  # type: ignore[attr-defined]
