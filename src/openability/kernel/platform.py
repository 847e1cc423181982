"""The platform handle every domain sees: settings, clock, database, change events, units of work and
the request authenticator. Domains type their long-lived parts with `Platform`; the composition root
(`openability.bootstrap.Container`) extends it with the runtime parts it wires (gateway, connectors,
scheduler), which no domain reaches by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request

from openability.config import Settings
from openability.kernel.clock import Clock
from openability.kernel.events import EventBus
from openability.kernel.uow import SYSTEM, Actor, UnitOfWork

# Resolves a request's credentials to an Actor (installed by the partners domain at start-up).
Authenticator = Callable[[Request], Awaitable[Actor | None]]


@dataclass(eq=False)
class Platform:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    events: EventBus = field(default_factory=EventBus)
    authenticator: Authenticator | None = None

    def uow(self, actor: Actor = SYSTEM, correlator: str | None = None) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker, self.clock, self.settings, actor, correlator, self.events)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()
