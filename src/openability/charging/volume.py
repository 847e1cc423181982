"""Month-to-date volume shared across workers and nodes, reserved in blocks (R-CHARGE-06).

Graduated tiers price each unit by its position in the month's volume of (partner, product). Every
unit a gateway worker charges gets a *position* in that volume, and no two units of the month ever
get the same one, whichever worker or node serves them:

* the `volume_counters` row of (partner, product, month) holds `reserved`, the end of the last block
  handed out. A worker takes a block of n positions [reserved, reserved + n) with one atomic
  `UPDATE … RETURNING` (the month's first block: `INSERT … ON CONFLICT DO UPDATE … RETURNING`, seeded
  from usage_daily), so blocks never overlap;
* the worker hands out the positions it holds to calls from memory, lowest first; a call that does
  not fit in what is left takes the rest and the start of a new block (its units then lie in two
  ranges, each priced by its own positions); positions a call did not use (nothing served, fewer
  recipients served, a shorter voice call, a duplicate) go back to the worker's free positions and
  are handed out again. So a hot key costs one DB round trip per block, not per call; concurrent
  callers of one worker that all need a block wait for one take (single flight).

The bound. Let V be the units charged so far this month and R the real-time amount charged for them;
the exact amount is E = graduated(0, V). Unit prices fall as the volume rises (tiered pricing,
RULES.md glossary), and V distinct positions sorted have the k-th one >= k - 1, so each is priced at
or below the exact price of its rank:

    graduated(H, V) <= R <= E = graduated(0, V)

at every instant of the month, however the calls are split across workers, where H is the number of
positions reserved but not used: what the workers hold (less than one block each, plus what their
calls in flight will not use) and what dead workers held. The real-time total is never above the
exact one (R-CHARGE-06), and below it at most by the price difference of H units: within the blocks
the workers hold. A voice call that ran past what its worker holds is priced at the last tier for
the extra units (the lowest price: still never above exact; such units hold no position). The bill
run re-rates the month exactly from usage_daily and books the difference.

A single call can be priced by an older position than the month's volume has reached (a worker that
was idle still holds a low block): that call alone pays the earlier tier, the calls in the other
workers' later blocks paid the later one for units whose rank is earlier, and the total stays within
the bound above. Positions are never given up for being old: doing so would push the real-time total
further below exact for the rest of the month.

On stop a worker gives its unused tail back when its block is still the last one handed out
(`reserved` unchanged since); otherwise those positions stay reserved and count in H.
A new month is a new key (and a new row); the old month's positions are forgotten.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from openability.charging import rules
from openability.charging.models import UsageDaily, VolumeCounter
from openability.kernel.clock import month_key, previous_month
from openability.kernel.errors import Busy
from openability.kernel.outage import log_failure
from openability.kernel.rawpg import driver_connection
from openability.kernel.singleflight import SingleFlight

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from openability.kernel.platform import Platform

__all__ = [
    "UNPLACED",
    "Key",
    "Segments",
    "VolumeBlocks",
    "rate_segments",
    "reserve_block",
    "reserve_block_pg",
    "split_segments",
]

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (partner_id, product_id, month)
# The positions of a call's units: (first position, units) ranges, in the order they were handed out.
Segments = tuple[tuple[int, int], ...]
# Units without a position (a voice call that ran past what its worker holds): priced as if at the end
# of the month's volume, the last (lowest) tier.
UNPLACED = 1 << 62
ZERO = Decimal(0)
_T: Table = VolumeCounter.__table__  # type: ignore[assignment]


def rate_segments(
    plans: Sequence[rules.PlanVersion], at: datetime, *, scope: str, band: str, segments: Segments
) -> rules.Rating:
    """Rate a call whose units hold these positions: each range priced from its own first position."""
    if len(segments) == 1:
        start, n = segments[0]
        return rules.rate(plans, at, scope=scope, band=band, mtd_before=start, quantity=n)
    if not segments:
        return rules.rate(plans, at, scope=scope, band=band, mtd_before=0, quantity=0)
    amount, quantity = ZERO, 0
    r: rules.Rating | None = None
    for start, n in segments:
        r = rules.rate(plans, at, scope=scope, band=band, mtd_before=start, quantity=n)
        amount += r.amount
        quantity += n
    assert r is not None
    return rules.Rating(amount, quantity, r.plan_id, r.band, r.scope)


def split_segments(segments: Segments, keep: int) -> tuple[Segments, Segments]:
    """(the first `keep` units' positions, the rest)."""
    kept: list[tuple[int, int]] = []
    rest: list[tuple[int, int]] = []
    for start, n in segments:
        if keep >= n:
            kept.append((start, n))
            keep -= n
        elif keep > 0:
            kept.append((start, keep))
            rest.append((start + keep, n - keep))
            keep = 0
        else:
            rest.append((start, n))
    return tuple(kept), tuple(rest)


async def reserve_block(
    db: AsyncSession | AsyncConnection, key: Key, units: int, now: datetime, *, first: bool = False
) -> int:
    """Reserve the next `units` positions of the key's month; returns the first one. One atomic
    statement: concurrent takes (any worker, any node) get disjoint ranges. The month's first block
    starts after the volume already in usage_daily (a counter created mid-month, e.g. after an
    upgrade). `first` (the worker's first block of the key, most likely the month's first too): the
    insert-or-update at once, one statement instead of an UPDATE that finds no row and then the
    insert."""
    pid, prod, month = key
    if not first:
        res = await db.execute(
            update(_T)
            .where(_T.c.partner_id == pid, _T.c.product_id == prod, _T.c.month == month)
            .values(reserved=_T.c.reserved + units, blocks=_T.c.blocks + 1, updated_at=now)
            .returning(_T.c.reserved)
        )
        end = res.scalar_one_or_none()
        if end is not None:
            return int(end) - units
    used = (
        select(func.coalesce(func.sum(UsageDaily.quantity), 0))
        .where(UsageDaily.partner_id == pid, UsageDaily.product_id == prod, UsageDaily.month == month)
        .scalar_subquery()
    )
    dialect = db.dialect.name if isinstance(db, AsyncConnection) else db.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(_T).values(
        partner_id=pid, product_id=prod, month=month, reserved=used + units, blocks=1, updated_at=now
    )
    stmt = ins.on_conflict_do_update(
        index_elements=[_T.c.partner_id, _T.c.product_id, _T.c.month],
        set_={"reserved": _T.c.reserved + units, "blocks": _T.c.blocks + 1, "updated_at": now},
    ).returning(_T.c.reserved)
    return int((await db.execute(stmt)).scalar_one()) - units


# `reserve_block` on PostgreSQL as text on the raw asyncpg connection (VolumeBlocks._refill): the same
# statements, prepared once per connection (asyncpg's statement cache). Profiled on partners' first
# calls (100,000-partner Zipf load), building and compiling the SQLAlchemy insert-or-update took about
# a sixth of a first call's CPU. $1 partner, $2 product, $3 month, $4 units, $5 now.
_TAKE_PG = """UPDATE volume_counters SET reserved = reserved + $4::int8, blocks = blocks + 1,
  updated_at = $5::timestamptz
WHERE partner_id = $1::text AND product_id = $2::text AND month = $3::text
RETURNING reserved"""
_FIRST_PG = """INSERT INTO volume_counters AS v (partner_id, product_id, month, reserved, blocks, updated_at)
VALUES ($1::text, $2::text, $3::text,
  (SELECT coalesce(sum(u.quantity), 0) FROM usage_daily u
   WHERE u.partner_id = $1::text AND u.product_id = $2::text AND u.month = $3::text) + $4::int8,
  1, $5::timestamptz)
ON CONFLICT (partner_id, product_id, month) DO UPDATE
  SET reserved = v.reserved + $4::int8, blocks = v.blocks + 1, updated_at = $5::timestamptz
RETURNING reserved"""


async def reserve_block_pg(apg: Any, key: Key, units: int, now: datetime, *, first: bool = False) -> int:
    """`reserve_block` on a raw asyncpg connection outside any transaction: one statement, committed on
    its own (PostgreSQL only)."""
    pid, prod, month = key
    if not first:
        end = await apg.fetchval(_TAKE_PG, pid, prod, month, units, now)
        if end is not None:
            return int(end) - units
    return int(await apg.fetchval(_FIRST_PG, pid, prod, month, units, now)) - units


async def give_back_tail(session: AsyncSession, key: Key, units: int, block_end: int) -> bool:
    """Return the last `units` positions of a block ending at `block_end` if no block was handed out
    after it (reserved still == block_end). False: they stay reserved (the safe side)."""
    pid, prod, month = key
    res = await session.execute(
        update(_T)
        .where(
            _T.c.partner_id == pid,
            _T.c.product_id == prod,
            _T.c.month == month,
            _T.c.reserved == block_end,
        )
        .values(reserved=_T.c.reserved - units)
    )
    return bool(getattr(res, "rowcount", 0))


async def prune_counters(session: AsyncSession, now: datetime) -> int:
    """Delete the counters of months before the previous one (Asia/Shanghai); returns the rows deleted.
    A worker prices only the month of its call, and a call that started just before midnight on the
    1st still takes a block of the previous month, so the current and the previous month stay; older
    rows are read by nothing (the bill run re-rates from the rollups)."""
    res = await session.execute(delete(_T).where(_T.c.month < previous_month(month_key(now))))
    return int(getattr(res, "rowcount", 0) or 0)


@dataclass(slots=True)
class _Held:
    """The positions one worker holds for a key: sorted, disjoint [start, end) ranges."""

    free: list[list[int]] = field(default_factory=list)
    units: int = 0
    block_end: int = -1  # end of the last block this worker took
    # units-per-second estimate of this key in this worker (sizes the next block)
    rate: float = 0.0
    win_start: datetime | None = None
    win_units: int = 0


class VolumeBlocks:
    """One worker's month-to-date positions, per (partner, product, month)."""

    def __init__(self, container: Platform) -> None:
        self.container = container
        self.settings = container.settings
        self._held: dict[Key, _Held] = {}
        self._taking: SingleFlight[Key, None] = SingleFlight()
        self._month = ""
        self.blocks_taken = 0
        self._autocommit = container.engine.dialect.name == "postgresql"

    # ---- hot path ------------------------------------------------------------------------------

    async def take(self, key: Key, quantity: int, now: datetime) -> Segments:
        """Positions for `quantity` units, from memory; one DB round trip when a new block is needed.
        Raises Busy (503) when the database cannot be reached."""
        h = self._held.get(key)
        if h is not None:
            seg = self._alloc(h, quantity, now)
            if seg is not None:
                return seg
        while True:
            await self._taking.run(key, lambda: self._refill(key, quantity, now))
            seg = self._alloc(self._held[key], quantity, now)
            if seg is not None:
                return seg

    def take_now(self, key: Key, quantity: int, now: datetime) -> Segments | None:
        """Positions from what this worker holds already (no DB), or None."""
        h = self._held.get(key)
        return None if h is None else self._alloc(h, quantity, now)

    def release(self, key: Key, segments: Segments) -> None:
        """Positions a call did not use go back to this worker's free positions."""
        h = self._held.get(key)
        if h is None:  # a past month, forgotten
            return
        for start, n in segments:
            if n > 0 and start < UNPLACED:
                _insert(h.free, start, start + n)
                h.units += n

    def held(self, key: Key) -> list[tuple[int, int]]:
        """The free [start, end) ranges this worker holds for the key (diagnostics and tests)."""
        h = self._held.get(key)
        return [] if h is None else [(r[0], r[1]) for r in h.free]

    def _alloc(self, h: _Held, quantity: int, now: datetime) -> Segments | None:
        free = h.free
        if quantity <= 0:
            return ()
        if free:
            r = free[0]
            start = r[0]
            end = start + quantity
            if end <= r[1]:
                if end == r[1]:
                    del free[0]
                else:
                    r[0] = end
                h.units -= quantity
                self._observe(h, quantity, now)
                return ((start, quantity),)
        if h.units < quantity:
            return None
        out: list[tuple[int, int]] = []
        need = quantity
        while need:
            r = free[0]
            n = min(need, r[1] - r[0])
            out.append((r[0], n))
            r[0] += n
            need -= n
            if r[0] == r[1]:
                del free[0]
        h.units -= quantity
        self._observe(h, quantity, now)
        return tuple(out)

    def _observe(self, h: _Held, quantity: int, now: datetime) -> None:
        if h.win_start is None:
            h.win_start = now
        h.win_units += quantity
        elapsed = (now - h.win_start).total_seconds()
        if elapsed >= 1.0:
            h.rate = 0.5 * (h.win_units / elapsed) + 0.5 * h.rate
            h.win_start, h.win_units = now, 0

    # ---- blocks --------------------------------------------------------------------------------

    def block_size(self, key: Key, need: int) -> int:
        """About volume_block_window_seconds of the key's observed traffic in this worker, within
        [volume_block_units, volume_block_max_units], and at least what the waiting call needs."""
        s = self.settings
        h = self._held.get(key)
        target = int(h.rate * s.volume_block_window_seconds) if h is not None else 0
        target = min(max(target, s.volume_block_units), s.volume_block_max_units)
        return max(target, need)

    async def _refill(self, key: Key, quantity: int, now: datetime) -> None:
        h = self._held.get(key)
        if h is not None and h.units >= quantity:
            return  # another caller's block arrived meanwhile
        size = self.block_size(key, quantity - (h.units if h is not None else 0))
        try:
            if self._autocommit:
                # One atomic statement needs no transaction around it: one round trip, not three.
                async with driver_connection(self.container.engine) as apg:
                    start = await reserve_block_pg(
                        apg, key, size, self.container.clock.now(), first=h is None
                    )
            else:
                async with self.container.uow() as uow:
                    start = await reserve_block(uow.session, key, size, uow.now, first=h is None)
        except (SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("month-to-date volume block for %s not reserved: %s", key, exc)
            raise Busy("the charging database is unavailable, retry later") from None
        h = self._held.get(key)
        if h is None:
            h = self._held[key] = _Held()
            self._forget_past_months(key[2])
        _insert(h.free, start, start + size)
        h.units += size
        h.block_end = start + size
        self.blocks_taken += 1

    def _forget_past_months(self, month: str) -> None:
        if month <= self._month:
            return
        self._month = month
        for k in [k for k in self._held if k[2] < month]:
            del self._held[k]

    async def give_back(self) -> int:
        """On stop: return each key's unused tail when this worker's block is still the last one
        handed out. Returns the units given back."""
        total = 0
        for key, h in list(self._held.items()):
            if not h.free or h.free[-1][1] != h.block_end:
                continue
            lo, hi = h.free[-1]
            try:
                async with self.container.uow() as uow:
                    ok = await give_back_tail(uow.session, key, hi - lo, hi)
            except (SQLAlchemyError, OSError) as exc:
                log_failure(log, exc, "giving back the volume tail of %s failed; it stays reserved", key)
                continue
            if ok:
                h.free.pop()
                h.units -= hi - lo
                h.block_end = lo
                total += hi - lo
        return total


def _insert(free: list[list[int]], lo: int, hi: int) -> None:
    """Add [lo, hi) to sorted disjoint ranges, merging with its neighbours."""
    i = bisect.bisect_left(free, [lo, hi])
    if i > 0 and free[i - 1][1] == lo:
        free[i - 1][1] = hi
        if i < len(free) and free[i][0] == hi:
            free[i - 1][1] = free[i][1]
            del free[i]
        return
    if i < len(free) and free[i][0] == hi:
        free[i][0] = lo
        return
    free.insert(i, [lo, hi])
