"""The composition root: the one place that wires the platform's parts, by explicit imports.

`Container` is the platform handle (`kernel.platform.Platform`: settings, clock, database, events,
units of work, authenticator) plus the runtime parts of one process as named, typed attributes:
the network connectors, the gateway runtime and the job scheduler. `start()` and `stop()` bring them
up and down in order; the web app (`app.py`), the CLI (`cli.py`) and the job list (`jobs_catalog.py`)
are assembled from explicit imports too. Nothing is registered by a string lookup that could fail
silently, and nothing runs at import time."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from openability.admission import service as admission
from openability.capabilities import Capability, default_capabilities
from openability.config import Settings
from openability.connectors.base import Connectors
from openability.connectors.factory import start_connectors, stop_connectors
from openability.gateway.runtime import GatewayRuntime
from openability.jobs.scheduler import Scheduler, tick
from openability.kernel.changes import ChangeFeed
from openability.kernel.clock import Clock, SystemClock
from openability.kernel.db import make_engine, make_sessionmaker
from openability.kernel.platform import Platform
from openability.kernel.testclock import TestClock
from openability.partners.auth import install_authenticator
from openability.partners.passwords import configure_hash_threads

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Container(Platform):
    connectors: Connectors = field(default_factory=Connectors)
    # The network capabilities this platform serves (routes, OpenAPI, the gateway's dispatch).
    capabilities: tuple[Capability[Any, Any], ...] = field(default_factory=default_capabilities)
    gateway: GatewayRuntime | None = None
    scheduler: Scheduler | None = None
    changes: ChangeFeed | None = None


def build_container(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    engine: AsyncEngine | None = None,
    create_data_dir: bool = True,
) -> Container:
    settings = settings or Settings()
    if create_data_dir:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = engine or make_engine(settings.effective_database_url())
    if settings.test_clock and not isinstance(clock, TestClock):
        # The test clock (demo only): the given clock (tests) or the system clock, plus the offset an
        # admin moved it by, kept in the database for every process.
        clock = TestClock(engine, base=clock)
    container = Container(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
    )
    admission.subscribe(container.events)  # activation on confirmed funds (billing's FUNDS_CONFIRMED)
    return container


async def start(container: Container) -> None:
    """Bring up the runtime parts of a serving process: the test clock's reader (when on), authenticator,
    gateway (before the connectors: they hand it delivery receipts), the change feed (other processes'
    changes to this process's caches), connectors, scheduler."""
    from openability.jobs_catalog import all_jobs

    clock = container.clock if isinstance(container.clock, TestClock) else None
    if clock is not None:
        await clock.start()  # the moved time first: everything below reads the clock
    await _ensure_cdr_partitions(container)
    install_authenticator(container)
    configure_hash_threads(container.settings.password_hash_threads)
    gateway = container.gateway = GatewayRuntime(
        container, connector_for=container.connectors.get, capabilities=container.capabilities
    )
    container.connectors.receipt_sink = gateway.receipts
    await gateway.start()
    container.changes = ChangeFeed(
        container.engine,
        container.events,
        interval=container.settings.change_poll_seconds,
        retention=container.settings.change_retention_seconds,
    )
    await container.changes.start()
    await start_connectors(container, container.connectors)
    if container.settings.run_scheduler:
        container.scheduler = Scheduler(
            container, all_jobs(), interval=container.settings.scheduler_interval_seconds
        )
        await container.scheduler.start()
        if clock is not None:
            # The clock moved (a set here, or another process's found by a read): tick at once, so the
            # jobs whose period the clock entered run now rather than at the next interval.
            jobs = container.scheduler.jobs
            clock.on_moved(lambda: tick(container, jobs))


async def _ensure_cdr_partitions(container: Container) -> None:
    """PostgreSQL: this month's CDR partition and the next two exist before the first call (the
    cdr-partitions job keeps them ahead). Not fatal: a CDR without its month's partition lands in the
    DEFAULT partition and the job moves it."""
    from openability.charging.partitions import ensure_partitions

    try:
        report = await ensure_partitions(container.engine, container.clock.now())
    except Exception:
        log.exception("creating the CDR partitions at start failed; the cdr-partitions job retries")
        return
    if report.created:
        log.info("CDR partitions at start: %s", report.summary())


async def stop(container: Container) -> None:
    """The test clock's reader and the scheduler first, then the gateway (CDRs durable, this worker's
    grants back to available), then the connectors. Each step runs even if an earlier one failed."""
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    if isinstance(container.clock, TestClock):
        steps.append(("test clock", container.clock.stop))
    if container.scheduler is not None:
        steps.append(("scheduler", container.scheduler.stop))
    if container.changes is not None:
        steps.append(("change feed", container.changes.stop))
    if container.gateway is not None:
        steps.append(("gateway", container.gateway.stop))
    steps.append(("connectors", lambda: stop_connectors(container.connectors)))
    for name, step in steps:
        try:
            await step()
        except Exception:
            log.exception("stopping the %s failed", name)
    container.scheduler = None
    container.changes = None
    container.gateway = None
    container.connectors.receipt_sink = None
