"""In-process change notifications, so caches (gateway) refresh on change instead of per call.
`uow.publish` also appends the change to the `cache_changes` feed in its transaction; every serving
process polls that feed (kernel/changes.py) and publishes other processes' changes here within about
a second. A handler called with an empty key drops everything it caches for the topic."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

log = logging.getLogger(__name__)

Handler = Callable[[str, str], None]


class EventBus:
    def __init__(self) -> None:
        self._subs: dict[str, list[Handler]] = defaultdict(list)

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


# Topics
PARTNER_CHANGED = "partner.changed"  # key: partner id (status, tier, billing mode)
ORDER_CHANGED = "order.changed"  # key: partner id
CATALOG_CHANGED = "catalog.changed"  # key: product id (product, access policy, price plans)
CLIENT_CHANGED = "client.changed"  # key: client id (revoked, scopes)
BALANCE_CHANGED = "balance.changed"  # key: partner id (top-up confirmed: a refused account may retry)
