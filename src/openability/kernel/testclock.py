"""The test clock (demo and test installations only, `OPENABILITY_TEST_CLOCK=true`): an admin moves the
platform's time forward to see what happens at a day's, a month's or a deadline's end without waiting
for it, as Kill Bill's and Stripe's test clocks do.

The platform's time is the system clock plus an offset kept in a one-row table (`platform_clock`), so
every process (web workers, the CLI) sees the same moved time: each serving process reads the offset
at start and then once a second, and right after a set made in this process. Time keeps flowing from
the moved instant. The clock never moves backwards: a set to an instant earlier than the clock's now is
refused (409), and a process only ever takes a larger offset than the one it has.

Every part of the platform already asks the injected clock (code never calls `datetime.now()`), so a
moved clock moves all of them: the scheduler's next tick runs the jobs whose period the clock entered
(a set in a serving process ticks at once; other processes tick when they read the new offset)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Integer, String, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.clock import SHANGHAI, Clock, SystemClock, business_date
from openability.kernel.db import Base, UTCDateTime, is_postgres, make_engine
from openability.kernel.errors import Conflict, InvalidArgument
from openability.kernel.migrate import sqlite_path
from openability.kernel.tasks import stop_task
from openability.kernel.uow import UnitOfWork

log = logging.getLogger(__name__)

ROW_ID = 1
# How far ahead of the system clock the test clock may go: further, and `now + a lease` or a token's
# expiry could leave the datetime range; ten years is more than any demo needs.
MAX_AHEAD = timedelta(days=3660)
REFRESH_SECONDS = 1.0

# What runs after the clock moved (the scheduler's tick, wired by the composition root); it answers
# what it did, e.g. {job name: result}.
MoveHook = Callable[[], Awaitable[Mapping[str, str]]]


class PlatformClock(Base):
    """The test clock's one row: how far the platform's time is ahead of the system clock."""

    __tablename__ = "platform_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    offset_us: Mapped[int] = mapped_column(BigInteger)  # microseconds ahead of the system clock
    set_to: Mapped[datetime] = mapped_column(UTCDateTime())  # the platform time of the last set
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the system time of the last set
    set_by: Mapped[str] = mapped_column(String(120))  # actor type:id of the last set


@dataclass(frozen=True)
class ClockState:
    now: datetime
    system_now: datetime
    offset: timedelta

    def as_dict(self) -> dict[str, object]:
        return {
            "now": self.now.isoformat(),
            "nowShanghai": self.now.astimezone(SHANGHAI).isoformat(),
            "businessDate": business_date(self.now).isoformat(),
            "systemNow": self.system_now.isoformat(),
            "offsetSeconds": self.offset.total_seconds(),
        }


@dataclass(frozen=True)
class ClockMove:
    before: datetime
    after: datetime
    jobs: Mapping[str, str]

    def as_dict(self) -> dict[str, object]:
        return {"from": self.before.isoformat(), "to": self.after.isoformat(), "jobs": dict(self.jobs)}


def _us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


async def read_offset(engine: AsyncEngine) -> timedelta | None:
    """How far the database's test clock is ahead of the system clock; None when it was never set."""
    async with engine.connect() as conn:
        offset_us = await conn.scalar(select(PlatformClock.offset_us).where(PlatformClock.id == ROW_ID))
    return None if offset_us is None else timedelta(microseconds=offset_us)


class TestClock:
    """The system clock (or, in tests, any base clock) plus the offset read from `platform_clock`."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, engine: AsyncEngine, base: Clock | None = None) -> None:
        self.engine = engine
        self.base: Clock = base or SystemClock()
        self._offset = timedelta(0)
        self._hooks: list[MoveHook] = []
        self._refresher: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[dict[str, str]]] = set()
        # A move made here and a read take turns: a read never finds this process's own set before
        # the set adopted it (the set's hooks run once, by the set).
        self._turn = asyncio.Lock()
        self._unreadable = False

    @property
    def offset(self) -> timedelta:
        return self._offset

    def now(self) -> datetime:
        return self.base.now() + self._offset

    def state(self) -> ClockState:
        system_now = self.base.now()
        return ClockState(system_now + self._offset, system_now, self._offset)

    def on_moved(self, hook: MoveHook) -> None:
        """Run `hook` whenever this process's clock moves forward: awaited by a set made here, in the
        background when a read finds that another process moved it."""
        self._hooks.append(hook)

    def _take(self, offset: timedelta) -> bool:
        """Adopt a larger offset (never a smaller one: the clock never moves backwards)."""
        if offset <= self._offset:
            return False
        self._offset = offset
        return True

    async def _run_hooks(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for hook in list(self._hooks):
            try:
                out.update(await hook())
            except Exception:
                log.exception("test clock: a hook after the clock moved failed")
        return out

    async def refresh(self) -> bool:
        """Read the offset from the database; True when the clock moved forward. A database without
        the table (not migrated yet) leaves the clock where it is."""
        async with self._turn:
            return await self._refresh()

    async def _refresh(self) -> bool:
        try:
            offset = await read_offset(self.engine)
        except DBAPIError as exc:
            if not self._unreadable:  # once, not every second
                log.warning("test clock: cannot read platform_clock (%s)", type(exc).__name__)
            self._unreadable = True
            return False
        self._unreadable = False
        if offset is None or not self._take(offset):
            return False
        if self._hooks:
            task = asyncio.create_task(self._run_hooks(), name="test-clock-moved")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return True

    def load_blocking(self, url: str) -> None:
        """Read the offset from a synchronous caller that may sit inside a running event loop (the
        CLI's platform factory): in a helper thread, with an engine of its own. A SQLite file that does
        not exist is not created (the command then says where it looked)."""
        path = sqlite_path(url)
        if url.startswith("sqlite") and (path is None or not path.exists()):
            return

        async def read() -> timedelta | None:
            engine = make_engine(url, pool_size=1)
            try:
                clock = TestClock(engine, self.base)
                await clock.refresh()
                return clock.offset
            finally:
                await engine.dispose()

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            offset = pool.submit(asyncio.run, read()).result()
        if offset is not None:
            self._take(offset)

    async def start(self) -> None:
        """A serving process: read the offset now, then once a second."""
        await self.refresh()
        self._refresher = asyncio.create_task(self._refresh_loop(), name="test-clock")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception:
                log.exception("test clock: refresh failed")

    async def idle(self) -> None:
        """Wait for the hooks a read started (tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def stop(self) -> None:
        tasks = [t for t in (self._refresher, *self._pending) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            await stop_task(t)
        self._refresher = None
        self._hooks.clear()

    async def set(self, uow: UnitOfWork, target: datetime) -> ClockMove:
        """Move the platform's clock to `target` (audited in `uow`, as `uow.actor`; this process takes
        the new time once `uow` commits). Refused when
        `target` is earlier than the clock's now (409) or more than ten years ahead (400). Two
        concurrent sets are serialised on the row (PostgreSQL: FOR UPDATE; SQLite: the write lock
        taken at BEGIN), so the later one sees the earlier one's time and never undoes it."""
        if target.tzinfo is None:
            raise InvalidArgument(
                "the time needs its UTC offset, e.g. 2026-12-10T09:00:00+08:00", code="NAIVE_TIME"
            )
        try:
            target = target.astimezone(UTC)
        except OverflowError:
            raise InvalidArgument(f"{target.isoformat()} is out of range", code="CLOCK_TOO_FAR") from None
        session = uow.session
        system_now = self.base.now()
        if target > system_now + MAX_AHEAD:
            raise InvalidArgument(
                f"the test clock goes at most {MAX_AHEAD.days} days ahead of the system clock "
                f"({system_now.isoformat()})",
                code="CLOCK_TOO_FAR",
            )
        actor = f"{uow.actor.type}:{uow.actor.id}"[:120]
        insert = pg_insert if is_postgres(session) else sqlite_insert
        await session.execute(
            insert(PlatformClock)
            .values(id=ROW_ID, offset_us=0, set_to=system_now, set_at=system_now, set_by=actor)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = await session.scalar(
            select(PlatformClock)
            .where(PlatformClock.id == ROW_ID)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        stored = timedelta(microseconds=row.offset_us)
        before = system_now + max(stored, self._offset)
        if target < before:
            raise Conflict(
                f"the clock never moves backwards: it is {before.isoformat()}, "
                f"{target.isoformat()} is earlier",
                code="CLOCK_BACKWARDS",
            )
        offset = target - system_now
        row.offset_us = _us(offset)
        row.set_to = target
        row.set_at = system_now
        row.set_by = actor
        uow.audit(
            "clock.set",
            ("clock", "platform"),
            before={"now": before.isoformat()},
            after={"now": target.isoformat()},
            note=f"test clock moved forward by {target - before}",
        )
        await session.flush()

        def adopt() -> None:
            self._take(offset)

        uow.after_commit(adopt)
        return ClockMove(before, target, {})

    async def move(self, uow_factory: Callable[[], UnitOfWork], target: datetime) -> ClockMove:
        """Set the clock in a unit of work of its own, adopt it in this process at once, then run the
        hooks (the scheduler's tick) and answer what they did."""
        async with self._turn, uow_factory() as uow:
            moved = await self.set(uow, target)
        jobs = await self._run_hooks()
        return ClockMove(moved.before, moved.after, jobs)
