"""Wiring: the container holds settings, clock, engine and the long-lived runtime parts.
Nothing here runs at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from openability.config import Settings
from openability.kernel.clock import Clock, SystemClock
from openability.kernel.db import make_engine, make_sessionmaker
from openability.kernel.events import EventBus
from openability.kernel.uow import SYSTEM, Actor, UnitOfWork


@dataclass
class Container:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Runtime parts registered by domains at start-up (gateway runtime, connectors, scheduler …).
    parts: dict[str, Any] = field(default_factory=dict)
    events: EventBus = field(default_factory=EventBus)

    def uow(self, actor: Actor = SYSTEM, correlator: str | None = None) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker, self.clock, self.settings, actor, correlator, self.events)

    async def dispose(self) -> None:
        await self.engine.dispose()


def build_container(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    engine: AsyncEngine | None = None,
) -> Container:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = engine or make_engine(settings.effective_database_url())
    return Container(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
    )
