"""The send spool: an append-only local journal of the CDRs of calls that reached the network, written
before the CDR is handed to the group commit (R-CHARGE-02: a delivered message is charged exactly
once, whatever fails in between).

* Each worker appends to its own files under `<data_dir>/spool/`: `<worker>.lock` (held with an
  exclusive `flock` while the worker lives) and segments `<worker>.<n>.jsonl`, one JSON line per
  CDR. The line is written with one `os.write` right after the send: it is in the kernel's page cache,
  so a killed worker (kill -9) does not lose it. When a CDR cannot be committed (the database is
  down or restarting) the worker `fsync`s the spool before it answers, so the record also survives a
  crash of the machine, and books it later from memory.
* By default (settings.charge_answer_after = "spool") a sent call is answered once its line is on
  disk: `GroupSync` runs one `fdatasync` for every line appended since the last one (one thread hop
  per group, not per call), and the CDR is committed behind the answer. A line synced here and
  replayed exactly once is the call's durable CDR (docs/charging.md "When a call is answered").
* A new segment is started every `SEGMENT_SECONDS`; an old one is deleted once all of its CDRs are
  committed: the files hold only the last seconds of traffic plus what is not booked yet.
* A worker that dies leaves its files with no lock held. The other workers of the node look for
  such orphans every few seconds and at start-up, take the dead worker's lock, and replay its
  segments into CDRs, idempotently by (partner, request key): a CDR already stored is skipped.

The spool is local to a node: a node that never comes back takes its unbooked sends with it (their
keys stay in doubt, never sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import Counter, Histogram

from openability.charging.types import CdrMessage, CdrRecord

log = logging.getLogger(__name__)

SEGMENT_SECONDS = 5.0
SPOOL_SYNCS = Histogram(
    "openability_spool_sync_seconds",
    "One group fdatasync of the send spool, thread hop included",
    buckets=(0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05),
)
SPOOL_SYNCED = Counter(
    "openability_spool_synced_calls", "Calls answered after a group sync of the send spool"
)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(type(obj).__name__)


def encode(cdr: CdrRecord) -> bytes:
    return orjson.dumps(cdr, default=_default) + b"\n"


def decode(line: bytes) -> CdrRecord:
    d = orjson.loads(line)
    d["amount"] = Decimal(d["amount"])
    d["occurred_at"] = datetime.fromisoformat(d["occurred_at"])
    d["day"] = date.fromisoformat(d["day"])
    d["messages"] = [CdrMessage(**m) for m in d["messages"]]
    return CdrRecord(**d)


@dataclass(eq=False, slots=True)
class Segment:
    path: Path
    fd: int
    opened: float
    entries: int = 0
    pending: int = 0  # entries whose CDR is not committed yet
    closed: bool = False  # rotated: no more entries
    dropped: bool = False  # deleted, its descriptor closed


@dataclass(eq=False)
class Orphan:
    """A dead worker's spool, locked by this process while it is replayed."""

    lock_path: Path
    lock_fd: int
    segments: list[Path] = field(default_factory=list)

    def records(self) -> Iterator[CdrRecord]:
        for seg in self.segments:
            try:
                data = seg.read_bytes()
            except FileNotFoundError:
                continue
            for line in data.splitlines():
                if not line.strip():
                    continue
                try:
                    yield decode(line)
                except (ValueError, TypeError, KeyError):
                    # A torn last line (the worker died inside the write): it never reached the CDR
                    # writer either; log it for the operator.
                    log.error("spool %s: unreadable line skipped: %r", seg, line[:200])

    def finish(self) -> None:
        """All replayed: delete the files and let the lock go."""
        for seg in self.segments:
            with contextlib.suppress(FileNotFoundError):
                seg.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        self.release()

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)


class SendSpool:
    def __init__(self, directory: Path, worker_id: str) -> None:
        self.directory = directory
        self.name = _SAFE.sub("_", worker_id)
        self._lock_fd: int | None = None
        self._seq = 0
        self._current: Segment | None = None
        self._closed: list[Segment] = []

    @property
    def is_open(self) -> bool:
        return self._lock_fd is not None

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / f"{self.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock_fd = fd
        self._new_segment()

    def _new_segment(self) -> Segment:
        self._seq += 1
        path = self.directory / f"{self.name}.{self._seq}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        seg = self._current = Segment(path, fd, time.monotonic())
        return seg

    def append(self, cdr: CdrRecord) -> Segment | None:
        """Journal one sent call's CDR (one write: in the page cache, a kill -9 does not lose it).
        None when the spool is not open or the write failed (logged: the CDR writer is then the only
        record)."""
        seg = self._current
        if seg is None:
            return None
        try:
            os.write(seg.fd, encode(cdr))
        except OSError:
            log.exception("send spool: write failed for %s", cdr.request_key)
            return None
        seg.entries += 1
        seg.pending += 1
        return seg

    def booked(self, seg: Segment | None) -> None:
        """The entry's CDR is committed."""
        if seg is None:
            return
        seg.pending -= 1
        if seg.closed and seg.pending <= 0:
            self._drop(seg)

    def sync(self, seg: Segment | None = None) -> None:
        """fsync a segment (default: the open one): entries whose CDR could not be committed, before
        their answer."""
        seg = seg or self._current
        if seg is not None and not seg.dropped:
            os.fsync(seg.fd)

    def datasync(self, segs: list[Segment]) -> None:
        """fdatasync the segments (in a worker thread: GroupSync). A segment dropped meanwhile holds
        only committed CDRs: nothing to sync (its descriptor may be closed under us)."""
        for seg in segs:
            if seg.dropped:
                continue
            try:
                os.fdatasync(seg.fd)
            except OSError:
                if not seg.dropped:
                    raise

    def rotate(self, *, force: bool = False) -> None:
        """Start a new segment once the open one is old enough (and not empty); delete the segments
        whose CDRs are all committed. A rotated segment keeps its descriptor until it is deleted (an
        entry in it may still need its fsync)."""
        seg = self._current
        if seg is not None and seg.entries and (force or time.monotonic() - seg.opened >= SEGMENT_SECONDS):
            seg.closed = True
            self._closed.append(seg)
            self._new_segment()
        for old in [s for s in self._closed if s.pending <= 0]:
            self._drop(old)

    def _drop(self, seg: Segment) -> None:
        with contextlib.suppress(ValueError):
            self._closed.remove(seg)
        if not seg.dropped:
            seg.dropped = True
            with contextlib.suppress(OSError):
                os.close(seg.fd)
        with contextlib.suppress(FileNotFoundError):
            seg.path.unlink()

    @property
    def pending(self) -> int:
        segs = self._closed + ([self._current] if self._current is not None else [])
        return sum(s.pending for s in segs)

    def close(self) -> None:
        """Orderly stop: files whose CDRs are all committed are deleted; the others stay (fsync'ed)
        for the replay at the next start."""
        if self._current is not None:
            self._current.closed = True
            self._closed.append(self._current)
            self._current = None
        keep = False
        for s in list(self._closed):
            if s.pending <= 0:
                self._drop(s)
            else:
                keep = True
                os.fsync(s.fd)
                s.dropped = True
                os.close(s.fd)
        self._closed = []
        if self._lock_fd is not None:
            if not keep:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / f"{self.name}.lock").unlink()
            os.close(self._lock_fd)
            self._lock_fd = None

    def abandon(self) -> None:
        """As if the process died (tests): the files stay, the lock goes."""
        for s in self._closed + ([self._current] if self._current is not None else []):
            with contextlib.suppress(OSError):
                os.close(s.fd)
        self._current = None
        self._closed = []
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- orphans ----------------------------------------------------------------------------------

    def orphans(self) -> Iterator[Orphan]:
        """Spools of dead workers of this node, each locked for the caller (call finish() or release())."""
        if not self.directory.is_dir():
            return
        for lock_path in sorted(self.directory.glob("*.lock")):
            name = lock_path.name[: -len(".lock")]
            if name == self.name:
                continue
            try:
                fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # alive (or being replayed by another worker)
                continue
            if not lock_path.exists():  # replayed and removed between our open and our lock
                os.close(fd)
                continue
            segs = sorted(
                (p for p in self.directory.glob(f"{glob_escape(name)}.*.jsonl") if _seq_of(p, name)),
                key=lambda p: _seq_of(p, name),
            )
            yield Orphan(lock_path, fd, segs)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _seq_of(path: Path, name: str) -> int:
    middle = path.name[len(name) + 1 : -len(".jsonl")]
    return int(middle) if middle.isdigit() else 0


class GroupSync:
    """Group fdatasync of a spool: `await wait(segment)` returns once every line appended to the
    spool before the call is on disk. The first waiter starts one task that syncs, in a worker thread,
    all the segments of the waiters queued so far; the waiters that come while it runs form the next
    group. One thread hop per group: under load a group holds every call answered in a ~0.2 ms sync.
    A failed sync (OSError) fails its group's waiters (they fall back to waiting for the commit)."""

    def __init__(self, spool: SendSpool) -> None:
        self.spool = spool
        self._waiting: list[tuple[Segment, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.syncs = 0  # groups synced (tests, the bench's notes)
        self.synced = 0  # lines' waiters released

    def wait(self, seg: Segment) -> asyncio.Future[None]:
        """A future that resolves once `seg`'s lines appended so far are on disk (a plain future: the
        caller awaits it with no coroutine frame of its own)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiting.append((seg, fut))
        if self._task is None:
            self._task = loop.create_task(self._run(), name="spool-sync")
        return fut

    async def _run(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                segs = list({id(s): s for s, _ in group}.values())
                t0 = time.perf_counter()
                try:
                    await asyncio.to_thread(self.spool.datasync, segs)
                except OSError as exc:
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                            fut.exception()  # retrieved: a caller that went away must not log it
                    continue
                self.syncs += 1
                self.synced += len(group)
                SPOOL_SYNCS.observe(time.perf_counter() - t0)
                SPOOL_SYNCED.inc(len(group))
                for _, fut in group:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._task = None
