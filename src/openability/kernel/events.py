"""In-process change notifications, so caches (gateway) refresh on change instead of per call.
`uow.publish` also appends the change to the `cache_changes` feed in its transaction; every serving
process polls that feed (kernel/changes.py) and publishes other processes' changes here within about
a second. A handler called with an empty key drops everything it caches for the topic.

In-transaction events are the other kind: their handlers are awaited inside the publishing unit of
work (`UnitOfWork.emit`), so what they do commits or rolls back with the fact that triggered them. A
domain above the publisher reacts to its facts that way without the publisher importing it (admission
activates an admitted SI when billing confirms its funds: billing emits FUNDS_CONFIRMED)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[str, str], None]
# (the publishing unit of work, key); typed Any here: the unit of work imports this module.
TxHandler = Callable[[Any, str], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subs: dict[str, list[Handler]] = defaultdict(list)
        self._tx_subs: dict[str, list[TxHandler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._subs[topic].append(handler)

    def topics(self) -> list[str]:
        """The topics someone subscribed to."""
        return [t for t, hs in self._subs.items() if hs]

    def publish(self, topic: str, key: str = "") -> None:
        for h in self._subs.get(topic, ()):
            try:
                h(topic, key)
            except Exception:
                log.exception("event handler failed for %s", topic)

    def subscribe_in_transaction(self, topic: str, handler: TxHandler) -> None:
        if handler not in self._tx_subs[topic]:
            self._tx_subs[topic].append(handler)

    async def dispatch_in_transaction(self, topic: str, uow: Any, key: str) -> None:
        """Await every in-transaction handler of the topic in the caller's unit of work. A handler's
        error propagates: the publishing transaction rolls back with it."""
        for h in list(self._tx_subs.get(topic, ())):
            await h(uow, key)


# Topics
PARTNER_CHANGED = "partner.changed"  # key: partner id (status, tier, billing mode)
ORDER_CHANGED = "order.changed"  # key: partner id
CATALOG_CHANGED = "catalog.changed"  # key: product id (product, access policy, price plans)
CLIENT_CHANGED = "client.changed"  # key: client id (revoked, scopes)
BALANCE_CHANGED = "balance.changed"  # key: partner id (top-up confirmed: a refused account may retry)
# In-transaction topics (UnitOfWork.emit)
FUNDS_CONFIRMED = "funds.confirmed"  # key: payment id; real funds confirmed, its invoice issued
