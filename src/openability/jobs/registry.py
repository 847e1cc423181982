"""Jobs: what a job is, and its run records. Each job is idempotent, keyed by its period: a run for a period that already
completed is skipped (the job_runs row is the key).

A job_runs row is also the claim on its period: the scheduler that inserted (or took over) the row is
its `owner` and holds it until `lease_until`, renewing the lease while the job runs. A row with
`finished_at` set is done; a row whose lease expired without `finished_at` (the owner crashed or the
job failed) is taken over by the next scheduler, which runs the job again and counts `attempts`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, IdStr, UTCDateTime

if TYPE_CHECKING:
    from openability.kernel.platform import Platform


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result: Mapped[str] = mapped_column(Text, default="")
    # The claim: who runs (or last ran) this period, and until when that claim holds.
    owner: Mapped[str] = mapped_column(String(80), default="", server_default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


JobFn = Callable[["Platform"], Awaitable[str]]
PeriodFn = Callable[[datetime], str]
# A job about a period (a bill run settles a month): called with the period it was claimed for.
PeriodJobFn = Callable[["Platform", str], Awaitable[str]]
# When a period becomes due (a month's statements are issued from the 3rd of the next, a setting).
DueFn = Callable[["Platform", str], datetime]


def every_minute(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M")


def every_second(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S")


def daily(now: datetime) -> str:
    from openability.kernel.clock import business_date

    return business_date(now).isoformat()


@dataclass(frozen=True)
class Job:
    name: str
    fn: JobFn
    period: PeriodFn  # maps "now" to the period key; the scheduler runs the job once per key
    description: str = ""
    # Jobs like the grant reaper are cheap and repeatable: no job_runs row, run every tick.
    record: bool = True
    # How long a claim on a period holds without renewal (None: settings.job_lease_seconds).
    lease_seconds: float | None = None
    # Set for a job about a period: run with the period claimed (`openability jobs run NAME --period
    # 2026-11` runs a given one) instead of `fn`.
    run_period: PeriodJobFn | None = None
    # The instant the period named by `period(now)` becomes due (None: at once); the scheduler does not
    # claim it before, so a job due on the 3rd whose period key is the month still runs that month.
    due: DueFn | None = None


def job_table(*jobs: Job) -> dict[str, Job]:
    """Jobs by name; two jobs with one name are a wiring error, raised at start."""
    table: dict[str, Job] = {}
    for job in jobs:
        if job.name in table:
            raise ValueError(f"two jobs are named {job.name!r}")
        table[job.name] = job
    return table
