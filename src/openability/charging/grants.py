"""Prepaid grants (RFC 4006-style credit reservations), held in memory by one gateway worker.

A grant is money moved from a partner's prepaid:available into prepaid:reserved in one DB transaction:
into the partner's reserved account of the grant's worker slot (Grant.slot, ledger/types.py
RESERVED_SLOTS): on PostgreSQL the slot the worker owns (charging/slot_lease.py), else one no other
worker's active grant of the partner uses, so two workers' refills, CDR batches and releases for one
partner do not lock the same reserved row.
Calls consume it in memory; the CDR writer books the consumption (Dr reserved, Cr revenue; grants.consumed
+= x) in the same transaction as the CDRs. So a hot account costs one DB write per grant, not per call,
and no call is served without money behind it (R-CHARGE-01/02).

Invariants kept here:
  * in memory, per partner: remaining + money of in-flight calls == granted - consumed - released (DB);
  * a grant is never consumed past its expires_at without first being extended in the DB, so the reaper
    (which only closes grants expired for longer than a grace period) cannot race a live worker;
  * a worker releases its own grants once expired and idle, and all of them on shutdown.

Extending without moving money costs no account lock: once a second the worker's housekeeping extends,
in one statement, every grant used since its last extension that expires within a third of its
lifetime; and an expired grant is kept for half the reaper's grace (`grant_reap_grace_seconds`), so a
call in that time that the grant still covers extends it with one conditional UPDATE. A partner calling
less often than the grant's lifetime thus keeps one grant instead of releasing it and opening a new one
every `grant_ttl_seconds` (two transactions with account locks and journal entries each).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import Table, bindparam, case, insert, select, update

from openability.charging import grants_pg, rules
from openability.charging.models import Grant
from openability.charging.slot_lease import SlotLease
from openability.charging.types import GrantState
from openability.kernel.errors import InsufficientBalance, NotFound
from openability.kernel.ids import new_id
from openability.kernel.money import from_units, to_units
from openability.kernel.outage import log_failure
from openability.kernel.rawpg import driver_connection
from openability.ledger import service as ledger
from openability.ledger.setwise import NEGATIVE_MARK, failure_mark
from openability.ledger.types import AccountType, EntryKind, pick_reserved_slot

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

ZERO = Decimal(0)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# Rate estimation: spending is averaged over windows of this many seconds (exponentially smoothed).
RATE_WINDOW_SECONDS = Decimal(1)
RATE_SMOOTHING = Decimal("0.5")


_GRANTS: Table = Grant.__table__  # type: ignore[assignment]
_INSERT = insert(_GRANTS)
# Extend a live grant (the reaper leaves it alone then: it re-reads expires_at under the grant's lock).
_EXTEND = (
    update(_GRANTS)
    .where(_GRANTS.c.id == bindparam("gid"), _GRANTS.c.state == GrantState.ACTIVE)
    .values(expires_at=bindparam("exp"))
)
# Housekeeping's extension of the grants in use: locked in id order first (as the CDR writer and the
# refills lock grants), then moved forward, never back.
_LOCK_ACTIVE = (
    select(_GRANTS.c.id)
    .where(_GRANTS.c.id.in_(bindparam("gids", expanding=True)), _GRANTS.c.state == GrantState.ACTIVE)
    .order_by(_GRANTS.c.id)
    .with_for_update()
)
_EXTEND_MANY = (
    update(_GRANTS)
    .where(_GRANTS.c.id.in_(bindparam("gids", expanding=True)))
    .values(
        expires_at=case(
            (_GRANTS.c.expires_at < bindparam("exp"), bindparam("exp")), else_=_GRANTS.c.expires_at
        )
    )
)


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(slots=True)
class Reservation:
    """Money taken from a grant for one call. grant_id None: postpaid, nothing reserved."""

    partner_id: str
    grant_id: str | None
    amount: Decimal
    slot: int = 0  # the grant's reserved slot (its CDR debits that slot's prepaid:reserved account)


@dataclass(slots=True)
class _Held:
    partner_id: str
    grant_id: str | None = None
    slot: int = 0  # the grant's reserved slot
    remaining: Decimal = ZERO
    inflight: int = 0
    expires_at: datetime = NEVER
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # spending-rate estimate (money per second)
    rate: Decimal = ZERO
    win_start: datetime = NEVER
    win_spent: Decimal = ZERO
    used_at: datetime = NEVER  # the last call taken from the grant
    # last refusal: the available balance seen, and when (a cheap 402 without a DB trip)
    poor_available: Decimal | None = None
    poor_at: datetime = NEVER


class GrantManager:
    def __init__(self, container: Platform, worker_id: str | None = None) -> None:
        self.container = container
        self.settings = container.settings
        self.clock = container.clock
        self.worker_id = worker_id or make_worker_id()
        self._held: dict[str, _Held] = {}
        self._postgres = container.dialect == "postgresql"
        # PostgreSQL, between start() and stop(): the reserved slot this worker owns (slot_lease.py),
        # so a new grant takes it without choosing one under a per-partner lock.
        self._lease = SlotLease(container.engine) if self._postgres else None

    async def start(self) -> None:
        if self._lease is not None:
            await self._lease.start()

    async def stop(self) -> None:
        if self._lease is not None:
            await self._lease.stop()

    @property
    def own_slot(self) -> int | None:
        """The reserved slot this worker owns now (None: slots are chosen per grant)."""
        return self._lease.slot if self._lease is not None else None

    # ---- hot path ------------------------------------------------------------------------------

    async def reserve(self, partner_id: str, amount: Decimal) -> Reservation:
        """Take `amount` from this worker's grant for the partner, refilling it if needed.
        Raises InsufficientBalance (402) when the account cannot cover it; nothing is moved then."""
        h = self._held.get(partner_id)
        if h is None:
            h = self._held[partner_id] = _Held(partner_id)
        now = self.clock.now()
        if h.grant_id is not None and now < h.expires_at and h.remaining >= amount:
            return self._take(h, amount, now)
        if (
            h.poor_available is not None
            and (now - h.poor_at).total_seconds() < self.settings.cache_ttl_seconds
            and h.poor_available + self._valid_remaining(h, now) < amount
        ):
            raise InsufficientBalance("the prepaid balance cannot cover this call")
        async with h.lock:
            if self._held.get(partner_id) is not h:  # released and forgotten while this call waited
                return await self.reserve(partner_id, amount)
            now = self.clock.now()
            if h.grant_id is not None and now < h.expires_at and h.remaining >= amount:
                return self._take(h, amount, now)
            if h.grant_id is not None and h.remaining >= amount and await self._extend(h, now):
                return self._take(h, amount, now)
            await self._refill(h, amount, now)
            return self._take(h, amount, self.clock.now())

    def try_take_more(self, r: Reservation, extra: Decimal) -> bool:
        """Take more money for an in-flight call (voice ran longer than estimated), from memory only."""
        h = self._held.get(r.partner_id)
        if h is None or h.grant_id != r.grant_id or h.remaining < extra:
            return False
        h.remaining -= extra
        r.amount += extra
        return True

    def give_back(self, r: Reservation, amount: Decimal) -> None:
        """Return part of a reservation (the call cost less than reserved) to the grant."""
        if amount <= 0 or r.grant_id is None:
            return
        r.amount -= amount
        h = self._held.get(r.partner_id)
        # A grant lost to the reaper already gave its money back to available: nothing to return.
        if h is not None and h.grant_id == r.grant_id:
            h.remaining += amount

    def cancel(self, r: Reservation) -> None:
        """The call was not served (network failure, duplicate): all its money goes back to the grant."""
        self.give_back(r, r.amount)
        self.done(r)

    def done(self, r: Reservation) -> None:
        """The call's CDR is durable (or the call was cancelled): it no longer holds the grant."""
        if r.grant_id is None:
            return
        h = self._held.get(r.partner_id)
        if h is not None and h.grant_id == r.grant_id and h.inflight > 0:
            h.inflight -= 1

    def balance_changed(self, partner_id: str) -> None:
        """A top-up was confirmed: forget the last refusal so the next call looks at the DB again."""
        h = self._held.get(partner_id)
        if h is not None:
            h.poor_available = None

    def held(self, partner_id: str) -> tuple[str | None, Decimal, int]:
        """(grant id, remaining, in-flight calls) for diagnostics and tests."""
        h = self._held.get(partner_id)
        if h is None:
            return None, ZERO, 0
        return h.grant_id, h.remaining, h.inflight

    def _valid_remaining(self, h: _Held, now: datetime) -> Decimal:
        return h.remaining if h.grant_id is not None else ZERO

    def _take(self, h: _Held, amount: Decimal, now: datetime) -> Reservation:
        h.remaining -= amount
        h.inflight += 1
        h.used_at = now
        # spending-rate estimate, on the injected clock
        if h.win_start == NEVER:
            h.win_start = now
        elapsed = Decimal((now - h.win_start) // timedelta(milliseconds=1)) / 1000
        h.win_spent += amount
        if elapsed >= RATE_WINDOW_SECONDS:
            observed = h.win_spent / elapsed
            h.rate = RATE_SMOOTHING * observed + (1 - RATE_SMOOTHING) * h.rate
            h.win_start, h.win_spent = now, ZERO
        return Reservation(h.partner_id, h.grant_id, amount, h.slot)

    def _target(self, h: _Held, amount: Decimal) -> Decimal:
        return rules.grant_target(
            rate_per_second=h.rate,
            window_seconds=self.settings.grant_window_seconds,
            min_calls=self.settings.grant_min_calls,
            call_amount=amount,
        )

    async def _extend(self, h: _Held, now: datetime) -> bool:
        """Extend the expired grant that still covers the call: one UPDATE. False when the grant was
        closed meanwhile (reaped while this worker stalled): the caller refills instead."""
        exp = now + timedelta(seconds=self.settings.grant_ttl_seconds)
        async with self.container.uow() as uow:
            conn = await uow.session.connection()
            res = await conn.execute(_EXTEND, {"gid": h.grant_id, "exp": exp})
        if res.rowcount != 1:
            return False
        h.expires_at = exp
        return True

    async def _refill(self, h: _Held, amount: Decimal, now: datetime) -> None:
        """One transaction: lock the partner's accounts, extend (or open) this worker's grant and move
        min(target, available) into it. Memory changes only after the commit. On PostgreSQL one
        statement, one round trip (charging/grants_pg.py); elsewhere the same through the ORM."""
        if self._postgres:
            await self._refill_pg(h, amount, now)
            return
        ttl = timedelta(seconds=self.settings.grant_ttl_seconds)
        pid = h.partner_id
        async with self.container.uow() as uow:
            s = uow.session
            slot = h.slot
            if h.grant_id is None or await s.scalar(select(Grant.state).where(Grant.id == h.grant_id)) != (
                GrantState.ACTIVE
            ):
                slot = await self._new_slot(s, pid, now)
            accs = await ledger.lock_accounts(
                s,
                [(pid, AccountType.PREPAID_AVAILABLE), (pid, AccountType.PREPAID_RESERVED)],
                reserved_slot=slot,
            )
            avail, reserved = (
                accs[(pid, AccountType.PREPAID_AVAILABLE)],
                accs[(pid, AccountType.PREPAID_RESERVED)],
            )
            grant: Grant | None = None
            remaining = h.remaining
            if h.grant_id is not None:
                grant = await s.scalar(select(Grant).where(Grant.id == h.grant_id).with_for_update())
                if grant is None or grant.state != GrantState.ACTIVE:
                    # Reaped while this worker was stalled: its money is back in available already.
                    log.warning(
                        "grant %s of %s was closed under this worker; opening a new one", h.grant_id, pid
                    )
                    grant, remaining = None, ZERO
            x = rules.grant_refill(
                target=self._target(h, amount), need=amount, remaining=remaining, available=avail.balance
            )
            if x is None:
                h.poor_available, h.poor_at = avail.balance, now
                raise InsufficientBalance(
                    f"the prepaid balance cannot cover this call ({amount} CNY needed)",
                    details={"required": str(amount)},
                )
            expires_at = now + ttl
            if grant is None:
                # A new grant (a partner's first call in this worker): one Core INSERT of the row as
                # it will be committed, no ORM object, no second UPDATE of `granted`.
                grant_id = new_id("gr")
                await s.execute(
                    _INSERT,
                    {
                        "id": grant_id,
                        "partner_id": pid,
                        "worker_id": self.worker_id,
                        "slot": slot,
                        "granted": x,
                        "consumed": ZERO,
                        "released": ZERO,
                        "state": GrantState.ACTIVE,
                        "created_at": now,
                        "expires_at": expires_at,
                    },
                )
            else:
                grant_id = grant.id
                grant.granted = grant.granted + x
                grant.expires_at = expires_at
            if x > 0:
                await ledger.post(
                    s,
                    kind=EntryKind.GRANT,
                    legs=[ledger.debit(avail, x), ledger.credit(reserved, x)],
                    now=now,
                    ref=("grant", grant_id),
                    memo=f"grant to {self.worker_id}",
                )
        if h.grant_id != grant_id:
            # Calls in flight on a lost grant settle against it, not against the new one.
            h.inflight = 0
        h.grant_id, h.slot, h.remaining, h.expires_at = grant_id, slot, remaining + x, expires_at
        h.poor_available = None

    async def _new_slot(self, s: AsyncSession, partner_id: str, now: datetime) -> int:
        """SQLite: the reserved slot of a new grant (the lowest no other worker's active grant of the
        partner uses), its account created if needed. One writer at a time: nothing to serialise."""
        taken = (
            await s.scalars(
                select(Grant.slot).where(
                    Grant.partner_id == partner_id,
                    Grant.state == GrantState.ACTIVE,
                    Grant.worker_id != self.worker_id,
                )
            )
        ).all()
        slot = pick_reserved_slot(list(taken))
        if slot != 0:
            await ledger.ensure_reserved_slot(s, partner_id, slot, now)
        return slot

    async def _refill_pg(self, h: _Held, amount: Decimal, now: datetime) -> None:
        """`_refill` on PostgreSQL: charging/grants_pg.py's statement on the raw asyncpg connection, its
        own transaction (the lock on the partner's accounts lasts one statement and its commit). A new
        grant takes the worker's own slot (slot_lease.py; on a slot other than 0 its account is created
        first if missing) or, owning none, picks one in a short transaction (grants_pg.NEW_GRANT_LOCK):
        four more round trips, once per grant, not per refill."""
        expires_at = now + timedelta(seconds=self.settings.grant_ttl_seconds)
        new_grant = new_id("gr")
        want = max(self._target(h, amount), amount)
        args = (
            h.partner_id,
            h.grant_id,
            to_units(h.remaining) if h.grant_id is not None else 0,
            to_units(amount),
            to_units(want),
            now,
            expires_at,
            new_grant,
            self.worker_id,
            new_id("je"),
            f"grant to {self.worker_id}",
        )
        slot = h.slot
        own = self.own_slot
        async with driver_connection(self.container.engine) as apg:
            try:
                if h.grant_id is None and own is not None:
                    # The worker's own slot: no other live worker's grant takes it (slot_lease.py).
                    slot = own
                    if slot != 0:
                        await apg.execute(grants_pg.ENSURE_SLOT, new_id("acc"), h.partner_id, slot, now)
                    row = await _refill_statement(apg, [*args, slot])
                elif h.grant_id is None:
                    async with apg.transaction():
                        # Serialised per partner with the other workers' new grants, each statement
                        # sees the grants committed before it: two workers never pick one slot.
                        await apg.execute(grants_pg.NEW_GRANT_LOCK, h.partner_id)
                        taken = await apg.fetch(grants_pg.TAKEN_SLOTS, h.partner_id, self.worker_id)
                        slot = pick_reserved_slot([r[0] for r in taken])
                        if slot != 0:
                            await apg.execute(grants_pg.ENSURE_SLOT, new_id("acc"), h.partner_id, slot, now)
                        row = await _refill_statement(apg, [*args, slot])
                else:
                    # A grant reaped under this worker is replaced on the same slot.
                    row = await _refill_statement(apg, [*args, slot])
            except asyncpg.PostgresError as exc:
                mark = failure_mark(str(exc))
                if mark is not None and mark[0] == NEGATIVE_MARK:  # cannot happen: x <= available
                    raise InsufficientBalance("the prepaid balance cannot cover this call") from exc
                raise
        if row is None or row["locked"] < 2:  # the waiting statement found fewer than two rows
            raise NotFound(f"prepaid accounts of {h.partner_id} not found")
        x_units, avail_units, kept = row["x"], row["avail"], row["kept"]
        if x_units is None:
            h.poor_available, h.poor_at = from_units(avail_units), now
            raise InsufficientBalance(
                f"the prepaid balance cannot cover this call ({amount} CNY needed)",
                details={"required": str(amount)},
            )
        if h.grant_id is not None and kept is None:
            log.warning(
                "grant %s of %s was closed under this worker; opening a new one", h.grant_id, h.partner_id
            )
        grant_id = kept if kept is not None else new_grant
        remaining = h.remaining if kept is not None else ZERO
        if h.grant_id != grant_id:
            # Calls in flight on a lost grant settle against it, not against the new one.
            h.inflight = 0
        h.grant_id, h.slot = grant_id, slot
        h.remaining, h.expires_at = remaining + from_units(x_units), expires_at
        h.poor_available = None

    # ---- housekeeping --------------------------------------------------------------------------

    async def housekeep(self) -> None:
        """Once a second: extend the grants in use that expire soon, release the idle expired ones."""
        await self.extend_in_use()
        await self.release_idle()

    async def extend_in_use(self) -> int:
        """Extend, in one transaction for all of them, this worker's grants that were used since their
        last extension and expire within a third of their lifetime. Returns how many were extended."""
        now = self.clock.now()
        ttl = timedelta(seconds=self.settings.grant_ttl_seconds)
        soon = now + ttl / 3
        due = {
            h.grant_id: h
            for h in self._held.values()
            if h.grant_id is not None and h.expires_at <= soon and h.used_at >= h.expires_at - ttl
        }
        if not due:
            return 0
        exp = now + ttl
        async with self.container.uow() as uow:
            conn = await uow.session.connection()
            live = list((await conn.execute(_LOCK_ACTIVE, {"gids": sorted(due)})).scalars())
            if live:
                await conn.execute(_EXTEND_MANY, {"gids": live, "exp": exp})
        for gid in live:
            h = due[gid]
            if h.grant_id == gid and h.expires_at < exp:  # not replaced meanwhile
                h.expires_at = exp
        return len(live)

    async def release_idle(self, *, all_grants: bool = False) -> int:
        """Release this worker's grants that expired more than half the reaper's grace ago with no
        call in flight (all idle ones on shutdown). Returns how many were released. On PostgreSQL
        in chunks, one statement each (`_release_many_pg`); what it leaves busy, and everything on
        SQLite, one grant per transaction."""
        n = 0
        now = self.clock.now()
        keep = timedelta(seconds=self.settings.grant_reap_grace_seconds / 2)
        idle = [
            h
            for h in self._held.values()
            if h.grant_id is not None and h.inflight == 0 and (all_grants or now >= h.expires_at + keep)
        ]
        if self._postgres and idle:
            n, busy = await self._release_many_pg(idle)
            # Busy (an account row held elsewhere): the next tick tries again; on shutdown, now.
            idle = busy if all_grants else []
        for h in idle:
            if h.grant_id is None or h.inflight > 0:
                continue
            async with h.lock:
                if h.grant_id is None or h.inflight > 0:
                    continue
                grant_id = h.grant_id
                # Stop the fast path before the first await: it only uses unexpired grants.
                h.expires_at = NEVER
                try:
                    async with self.container.uow() as uow:
                        await release_grant(uow.session, grant_id, uow.now, note="released by its worker")
                except Exception as exc:
                    log_failure(log, exc, "releasing grant %s failed; the reaper will close it", grant_id)
                    continue
                self._forget_released(h)
                n += 1
        return n

    def _forget_released(self, h: _Held) -> None:
        h.grant_id, h.remaining = None, ZERO
        if h.poor_available is None and self._held.get(h.partner_id) is h:
            # Forgotten: with 100,000 partners, the idle ones cost neither memory nor the
            # housekeeping's scan every second. A call waiting on this lock starts afresh.
            del self._held[h.partner_id]

    async def _release_many_pg(self, idle: list[_Held]) -> tuple[int, list[_Held]]:
        """Release idle grants RELEASE_CHUNK at a time, one statement each (grants_pg.RELEASE_MANY).
        Each grant's in-memory lock is held from before its statement until its outcome is applied,
        so no call extends or refills it meanwhile (a call that comes waits, then starts afresh).
        Returns (how many were released, the grants left busy)."""
        n = 0
        busy: list[_Held] = []
        for start in range(0, len(idle), grants_pg.RELEASE_CHUNK):
            taken: list[_Held] = []
            try:
                for h in idle[start : start + grants_pg.RELEASE_CHUNK]:
                    if h.lock.locked():  # a call is refilling or extending it: not idle after all
                        continue
                    await h.lock.acquire()
                    if h.grant_id is None or h.inflight > 0 or self._held.get(h.partner_id) is not h:
                        h.lock.release()
                        continue
                    # Stop the fast path before the first await: it only uses unexpired grants.
                    h.expires_at = NEVER
                    taken.append(h)
                if not taken:
                    continue
                by_grant = {h.grant_id: h for h in taken}
                gids = list(by_grant)
                try:
                    rows = await self._run_release_many(gids)
                except Exception as exc:
                    log_failure(log, exc, "releasing %d idle grants failed; retried", len(gids))
                    continue
                for row in rows:
                    h = by_grant[row["id"]]
                    if row["state"] == "busy":
                        busy.append(h)
                        continue
                    # closed here, or gone (reaped under this worker: its money is back already)
                    self._forget_released(h)
                    n += 1
            finally:
                for h in taken:
                    h.lock.release()
        return n, busy

    async def _run_release_many(self, gids: list[str | None]) -> list[Any]:
        now = self.clock.now()
        entry_ids = [new_id("je") for _ in gids]
        async with driver_connection(self.container.engine) as apg:
            rows: list[Any] = await apg.fetch(
                grants_pg.RELEASE_MANY, gids, entry_ids, now, "released by its worker", self.worker_id
            )
        return rows


async def _refill_statement(apg: Any, args: list[Any]) -> Any:
    """Run the refill statement without waiting in PostgreSQL for the account rows: SKIP LOCKED, and
    while another transaction holds one of them (another worker's refill on the partner's available
    row, this worker's own CDR batch on its reserved slot row: one statement and its commit), sleep a
    little and try again — the refill queues in this worker, not on a row lock. After
    grants_pg.SKIP_TRIES busy tries the waiting statement (never starved). A busy try writes nothing."""
    pause = grants_pg.SKIP_FIRST_SLEEP
    for _ in range(grants_pg.SKIP_TRIES):
        row = await apg.fetchrow(grants_pg.SQL_SKIP_LOCKED, *args)
        if row is None or row["locked"] == 2:
            return row
        await asyncio.sleep(pause)
        pause = min(2 * pause, grants_pg.SKIP_MAX_SLEEP)
    return await apg.fetchrow(grants_pg.SQL, *args)


async def release_grant(
    session: AsyncSession,
    grant_id: str,
    now: datetime,
    note: str = "",
    *,
    expired_before: datetime | None = None,
) -> Decimal | None:
    """Close a grant: its open amount (granted - consumed - released) goes back to available
    (EntryKind.GRANT_RELEASE). Locks the partner's accounts first, then the grant (the fixed order).
    With `expired_before`, a grant extended since (expires_at >= it) is left alone. Returns the amount
    released, or None when the grant was not closed here. The money comes from the grant's reserved
    slot: only that slot's account is locked (never another worker's)."""
    found = (await session.execute(select(Grant.partner_id, Grant.slot).where(Grant.id == grant_id))).first()
    if found is None:
        return None
    partner_id, slot = found
    accs = await ledger.lock_accounts(
        session,
        [(partner_id, AccountType.PREPAID_AVAILABLE), (partner_id, AccountType.PREPAID_RESERVED)],
        reserved_slot=slot,
    )
    grant = await session.scalar(
        select(Grant)
        .where(Grant.id == grant_id)
        .with_for_update()
        .execution_options(populate_existing=True)  # a row read before the lock could be stale
    )
    if grant is None:
        return None
    if grant.state != GrantState.ACTIVE or (
        expired_before is not None and grant.expires_at >= expired_before
    ):
        return None
    open_amount = grant.granted - grant.consumed - grant.released
    if open_amount > 0:
        await ledger.post(
            session,
            kind=EntryKind.GRANT_RELEASE,
            legs=[
                ledger.debit(accs[(partner_id, AccountType.PREPAID_RESERVED)], open_amount),
                ledger.credit(accs[(partner_id, AccountType.PREPAID_AVAILABLE)], open_amount),
            ],
            now=now,
            ref=("grant", grant.id),
            memo=note or "grant released",
        )
        grant.released = grant.released + open_amount
    grant.state = GrantState.CLOSED
    grant.closed_at = now
    await session.flush()
    return open_amount
