"""Change events for every process: the `cache_changes` feed.

A use case publishes a change with `uow.publish(topic, key)` (kernel/uow.py). That appends one row
(topic, key) to `cache_changes` in the use case's own transaction, and after the commit publishes the
event on this process's bus (kernel/events.py) at once. Every serving process runs a `ChangeFeed`: once
a second (`settings.change_poll_seconds`) it reads the rows appended since the last one it saw
(`WHERE id > last`, one query for all keys) and publishes them on its own bus, so the gateway's caches
of every worker drop a changed token, partner, order or product within about a second, whatever
process made the change (another worker, the CLI, a job). Works the same on SQLite and PostgreSQL.

Ids are taken from a sequence when the row is inserted, just before the commit, so a poll can see a
later id committed before an earlier one: an id missing below the highest seen is remembered as a gap
and asked for again at every poll for `GAP_SECONDS` (a rolled-back transaction leaves a gap for good).

Rows older than `settings.change_retention_seconds` (by this process's monotonic clock: the highest id
it saw that long ago) are deleted by the feeds themselves, about once a minute. A feed that could not
poll for half that time (the database unreachable) may have missed rows: it publishes every topic with
an empty key, which caches read as "drop everything"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Table, bindparam, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, UTCDateTime
from openability.kernel.events import EventBus
from openability.kernel.tasks import cancelled_meanwhile, stop_task

log = logging.getLogger(__name__)

GAP_SECONDS = 60.0  # how long a missing id is asked for again (a commit takes milliseconds)
MAX_GAPS = 10_000  # more missing ids than that: treat the feed as lost (drop every cache)
START_LOOKBACK = 100  # ids before the highest at start that are read again (commits in flight)
PRUNE_EVERY_SECONDS = 60.0


class CacheChange(Base):
    __tablename__ = "cache_changes"
    # AUTOINCREMENT on SQLite: ids never reused, even after the newest rows were pruned.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    topic: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


_T: Table = CacheChange.__table__  # type: ignore[assignment]
_INSERT = insert(_T)
_MAX_ID = select(func.max(_T.c.id))
_SINCE = (
    select(_T.c.id, _T.c.topic, _T.c.key)
    .where(or_(_T.c.id > bindparam("last"), _T.c.id.in_(bindparam("gaps", expanding=True))))
    .order_by(_T.c.id)
)
_PRUNE = delete(_T).where(_T.c.id <= bindparam("upto"))


async def record(session: AsyncSession, changes: Iterable[tuple[str, str]], now: datetime) -> None:
    """Append the changes to the feed in the session's transaction (called by the unit of work)."""
    rows = [{"topic": t, "key": k, "created_at": now} for t, k in dict.fromkeys(changes)]
    if rows:
        await session.execute(_INSERT, rows)


class ChangeFeed:
    """Polls `cache_changes` and publishes what other processes changed on this process's bus."""

    def __init__(self, engine: AsyncEngine, events: EventBus, *, interval: float, retention: float) -> None:
        self.engine = engine
        self.events = events
        self.interval = interval  # seconds between polls (0: no polling loop)
        self.retention = retention  # seconds a row is kept (by this process's monotonic clock)
        self._last: int | None = None
        self._gaps: dict[int, float] = {}  # missing id -> when first missed (monotonic)
        self._seen: deque[tuple[float, int]] = deque()  # (monotonic, highest id then), for pruning
        self._last_ok = time.monotonic()
        self._last_prune = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self.lost = 0  # times the feed dropped every cache (diagnostics, tests)

    async def start(self) -> None:
        if self.interval <= 0 or self._task is not None:
            return
        with contextlib.suppress(Exception):  # the loop retries; caches stay empty until then
            await self.poll()
        self._task = asyncio.create_task(self._run(), name="change-feed")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except Exception as exc:
                if cancelled_meanwhile():  # stopping: the cancel came out as this error
                    raise asyncio.CancelledError from exc
                log.warning("change feed poll failed: %s: %s", type(exc).__name__, exc)

    async def poll(self) -> int:
        """Read the changes since the last poll and publish them here. Returns how many (distinct
        topic, key) changes were published."""
        now = time.monotonic()
        async with self.engine.connect() as conn:
            if self._last is None:
                top = int((await conn.execute(_MAX_ID)).scalar() or 0)
                self._last = max(0, top - START_LOOKBACK)
            rows = (await conn.execute(_SINCE, {"last": self._last, "gaps": list(self._gaps)})).all()
            await conn.commit()
            if self.retention > 0 and now - self._last_prune >= PRUNE_EVERY_SECONDS:
                self._last_prune = now
                await self._prune(conn, now)
        lost = now - self._last_ok > self.retention / 2 if self.retention > 0 else False
        self._last_ok = now
        changes: dict[tuple[str, str], None] = {}
        last = self._last
        top = last
        got: set[int] = set()
        for id_, topic, key in rows:
            self._gaps.pop(id_, None)
            got.add(id_)
            top = max(top, id_)
            changes[(topic, key)] = None
        if top - last > MAX_GAPS + len(got):
            lost = True
        else:
            for missing in range(last + 1, top):
                if missing not in got:
                    self._gaps[missing] = now
        self._last = top
        for gid in [g for g, at in self._gaps.items() if now - at > GAP_SECONDS]:
            del self._gaps[gid]
        if len(self._gaps) > MAX_GAPS:
            lost = True
            self._gaps.clear()
        self._seen.append((now, top))
        events = self.events
        if lost:
            self.lost += 1
            log.warning("change feed lost track of changes; dropping every cache of this process")
            for topic in events.topics():
                events.publish(topic, "")
        for topic, key in changes:
            events.publish(topic, key)
        return len(changes)

    async def _prune(self, conn: AsyncConnection, now: float) -> None:
        """Delete the rows this process saw more than `retention` seconds ago."""
        upto: int | None = None
        while self._seen and now - self._seen[0][0] > self.retention:
            upto = self._seen.popleft()[1]
        if upto is None or upto <= 0:
            return
        await conn.execute(_PRUNE, {"upto": upto})
        await conn.commit()
