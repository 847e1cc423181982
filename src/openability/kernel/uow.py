"""Unit of work: one per use case. It owns the transaction; repositories and helpers never commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from openability.config import Settings
from openability.kernel import audit, changes
from openability.kernel.clock import Clock
from openability.kernel.events import EventBus


@dataclass(frozen=True)
class Actor:
    """Who acts. type: operator | partner_user | api_client | system."""

    type: str
    id: str
    partner_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    name: str = ""

    @property
    def is_operator(self) -> bool:
        return self.type == "operator"

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)


SYSTEM = Actor(type="system", id="system", roles=frozenset({"admin"}), name="system")


class UnitOfWork:
    """`async with UnitOfWork(...) as uow:` commits on success, rolls back on any error."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        actor: Actor = SYSTEM,
        correlator: str | None = None,
        events: EventBus | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.events = events or EventBus()
        self.clock = clock
        self.settings = settings
        self.actor = actor
        self.correlator = correlator
        self._session: AsyncSession | None = None
        self._after_commit: list[Callable[[], Awaitable[None] | None]] = []
        self._commit_despite: tuple[type[BaseException], ...] = ()
        self._changes: list[tuple[str, str]] = []  # (topic, key) for the cache_changes feed
        self.now: datetime = clock.now()

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work not entered")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self.now = self.clock.now()
        self._session = self._sessionmaker()
        await self._session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        keep = exc is not None and isinstance(exc, self._commit_despite)
        try:
            if exc_type is None or keep:
                if exc_type is None and self._changes:
                    # In this transaction: the change reaches every process's feed exactly when it
                    # is committed (a failure here rolls back: the session is closed unfinished).
                    await changes.record(self._session, self._changes, self.now)
                await self._session.commit()
            else:
                await self._session.rollback()
        finally:
            await self._session.close()
            self._session = None
        if exc_type is None:
            for hook in self._after_commit:
                res = hook()
                if res is not None:
                    await res

    def commit_despite(self, *errors: type[BaseException]) -> None:
        """Commit even when one of these errors ends the use case: for a refusal that must leave a
        trace (a refused login's failure count and audit row). Anything else still rolls back."""
        self._commit_despite += errors

    def after_commit(self, hook: Callable[[], Awaitable[None] | None]) -> None:
        """Side effects (cache invalidation, mail) run only once the transaction is durable."""
        self._after_commit.append(hook)

    def publish(self, topic: str, key: str = "") -> None:
        """Publish a change event once the transaction has committed: at once in this process, and
        to every other serving process through the `cache_changes` feed (kernel/changes.py)."""
        self._changes.append((topic, key))
        self.after_commit(lambda: self.events.publish(topic, key))

    async def emit(self, topic: str, key: str = "") -> None:
        """An in-transaction event (kernel.events): its handlers run now, in this transaction."""
        await self.events.dispatch_in_transaction(topic, self, key)

    def audit(
        self,
        action: str,
        entity: tuple[str, str],
        *,
        partner_id: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> None:
        audit.record(
            self.session,
            at=self.now,
            actor=(self.actor.type, self.actor.id),
            action=action,
            entity=entity,
            partner_id=partner_id,
            before=before,
            after=after,
            correlator=self.correlator,
            note=note,
        )
