"""In-memory caches of the gateway: tokens, partners (status, band, active orders) and products (rate
limit, price plans). No DB read per call on the happy path (DESIGN.md hot path, step 1).

Freshness: entries are dropped by change events, not by age. A change made in this process drops the
entry at once (kernel/events.py); a change made by any other process (another worker, the CLI, a job)
reaches this one through the `cache_changes` feed within about a second (kernel/changes.py,
settings.change_poll_seconds). An entry's lifetime (settings.gateway_cache_ttl_seconds, 5 minutes) is
only a safety net. A load that raced an invalidation is not stored, so a stale row never outlives its
event. Each cache holds at most settings.gateway_cache_max_entries keys, the least recently used
dropped first.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

from openability.catalog import service as catalog
from openability.charging import rules
from openability.kernel.singleflight import SingleFlight
from openability.partners import service as partners

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    client_id: str
    partner_id: str
    scopes: frozenset[str]
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class PartnerInfo:
    id: str
    kind: str
    status: str
    billing_mode: str
    scope: str
    band: str
    # capability code -> product ids of the partner's active orders, oldest order first (the first is
    # rated when a call names no productId)
    products: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ProductInfo:
    id: str
    code: str
    capability: str
    unit: str
    rate_limit: int
    status: str
    plans: tuple[rules.PlanVersion, ...]


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires: datetime


class LoadingCache(Generic[K, V]):
    """A bounded LRU cache whose misses call an async loader; concurrent misses of one key share one
    load. Entries live until invalidated, or `ttl_seconds` at most."""

    def __init__(
        self,
        loader: Callable[[K], Awaitable[V]],
        ttl_seconds: float,
        now: Callable[[], datetime],
        max_entries: int = 200_000,
    ) -> None:
        self._loader = loader
        self._ttl = timedelta(seconds=ttl_seconds)
        self._now = now
        self._max = max_entries
        self._data: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._stale: set[K] = set()  # keys invalidated while their load was in flight
        self._loading: SingleFlight[K, V] = SingleFlight()

    def __len__(self) -> int:
        return len(self._data)

    def peek(self, key: K, now: datetime) -> V | None:
        e = self._data.get(key)
        return e.value if e is not None and now < e.expires else None

    async def get(self, key: K, now: datetime) -> V:
        e = self._data.get(key)
        if e is not None and now < e.expires:
            self._data.move_to_end(key)
            return e.value
        return await self._loading.run(key, lambda: self._load(key))

    async def _load(self, key: K) -> V:
        self._stale.discard(key)
        try:
            value = await self._loader(key)
        except BaseException:
            self._stale.discard(key)
            raise
        if key in self._stale:  # invalidated while loading: answer this caller, keep nothing
            self._stale.discard(key)
            return value
        data = self._data
        data[key] = _Entry(value, self._now() + self._ttl)
        data.move_to_end(key)
        if len(data) > self._max:
            data.popitem(last=False)
        return value

    def invalidate(self, key: K) -> None:
        self._data.pop(key, None)
        if key in self._loading:
            self._stale.add(key)

    def invalidate_where(self, pred: Callable[[K, V], bool]) -> None:
        for k in [k for k, e in self._data.items() if pred(k, e.value)]:
            self.invalidate(k)

    def clear(self) -> None:
        self._data.clear()
        self._stale.update(self._loading)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class GatewayCaches:
    def __init__(self, container: Platform) -> None:
        self.container = container
        s = container.settings
        ttl, size = s.gateway_cache_ttl_seconds, s.gateway_cache_max_entries
        now = container.clock.now
        self.tokens: LoadingCache[str, TokenInfo | None] = LoadingCache(self._load_token, ttl, now, size)
        self.partners: LoadingCache[str, PartnerInfo | None] = LoadingCache(
            self._load_partner, ttl, now, size
        )
        self.products: LoadingCache[str, ProductInfo | None] = LoadingCache(
            self._load_product, ttl, now, size
        )

    # ---- invalidation (kernel/events handlers: sync, in-process) --------------------------------

    def on_client_changed(self, _topic: str, client_id: str) -> None:
        if not client_id:
            self.tokens.clear()
            return
        self.tokens.invalidate_where(lambda _k, v: v is not None and v.client_id == client_id)

    def on_partner_changed(self, _topic: str, partner_id: str) -> None:
        if partner_id:
            self.partners.invalidate(partner_id)
        else:
            self.partners.clear()

    def on_catalog_changed(self, _topic: str, product_id: str) -> None:
        if product_id:
            self.products.invalidate(product_id)
        else:
            self.products.clear()

    # ---- loaders -------------------------------------------------------------------------------

    async def _load_token(self, h: str) -> TokenInfo | None:
        async with self.container.uow() as uow:
            tok = await partners.client_token(uow, h)
        if tok is None:
            return None
        return TokenInfo(tok.client_id, tok.partner_id, tok.scopes, tok.expires_at)

    async def _load_partner(self, partner_id: str) -> PartnerInfo | None:
        async with self.container.uow() as uow:
            p = await partners.find_partner_ref(uow, partner_id)
            if p is None:
                return None
            orders = await catalog.active_order_products(uow, partner_id)
        by_cap: dict[str, list[str]] = {}
        for cap, prod in orders:
            ids = by_cap.setdefault(cap, [])
            if prod not in ids:  # two active orders of one product: one choice
                ids.append(prod)
        products = {cap: tuple(ids) for cap, ids in by_cap.items()}
        return PartnerInfo(
            id=p.id,
            kind=p.kind.value,
            status=p.status.value,
            billing_mode=p.billing_mode.value,
            scope=p.scope.value,
            band=rules.band_for(p.kind.value, p.tier.value if p.tier else None),
            products=products,
        )

    async def _load_product(self, product_id: str) -> ProductInfo | None:
        async with self.container.uow() as uow:
            prod = await catalog.product_rating(uow, product_id)
        if prod is None:
            return None
        return ProductInfo(
            id=prod.id,
            code=prod.code,
            capability=prod.capability,
            unit=prod.unit,
            rate_limit=prod.rate_limit,
            status=prod.status.value,
            plans=prod.plans,
        )
