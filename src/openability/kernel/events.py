"""In-process change notifications, so caches (gateway) refresh on change instead of per call.
Other worker processes catch up by their cache TTL."""

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
