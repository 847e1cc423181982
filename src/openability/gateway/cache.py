"""In-memory caches of the gateway: tokens, partners (status, band, active orders) and products (rate
limit, price plans). No DB read per call on the happy path (DESIGN.md hot path, step 1).

Freshness: entries are dropped by change events, not by age. A change made in this process drops the
entry at once (kernel/events.py); a change made by any other process (another worker, the CLI, a job)
reaches this one through the `cache_changes` feed within about a second (kernel/changes.py,
settings.change_poll_seconds). An entry's lifetime (settings.gateway_cache_ttl_seconds, 5 minutes) is
only a safety net. A load that raced an invalidation is not stored, so a stale row never outlives its
event. Each cache holds at most settings.gateway_cache_max_entries keys, the least recently used
dropped first.

Memory: a cached token and its partner take about 0.65 kB together (tracemalloc, one sms product;
1.05 kB before the values below were shared), so at the default bound (200,000 keys a cache) a
worker's token and partner caches stay under ~130 MiB, and 1,000 partners add under 1 MiB. The
values many entries repeat (a token's scope set, a partner's products by capability) are shared
between entries, not copied into each (`_Shared`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar

from openability.catalog import service as catalog
from openability.charging import rules
from openability.kernel.rawpg import driver_connection
from openability.kernel.singleflight import SingleFlight
from openability.partners import service as partners
from openability.partners.types import ClientToken, PartnerRef

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
        # Bumped by every invalidation: a value read alongside another key's load (offer()) is kept
        # only if nothing was invalidated since its read began.
        self.generation = 0

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

    def offer(self, key: K, value: V, generation: int) -> None:
        """Store a value read by another key's load (the partner read with a token's first call),
        unless the key is cached or loading already, or anything was invalidated since `generation`
        (then the value may be stale: it is simply not kept)."""
        if generation != self.generation or key in self._data or key in self._loading:
            return
        data = self._data
        data[key] = _Entry(value, self._now() + self._ttl)
        if len(data) > self._max:
            data.popitem(last=False)

    def invalidate(self, key: K) -> None:
        self.generation += 1
        self._data.pop(key, None)
        if key in self._loading:
            self._stale.add(key)

    def invalidate_where(self, pred: Callable[[K, V], bool]) -> None:
        for k in [k for k, e in self._data.items() if pred(k, e.value)]:
            self.invalidate(k)

    def clear(self) -> None:
        self.generation += 1
        self._data.clear()
        self._stale.update(self._loading)


class _Shared:
    """One copy of each equal immutable value the cache entries hold (scope sets, products by
    capability: a handful of distinct values over thousands of partners). At most `limit` values:
    past that a value is kept as given (the sharing saves memory, it is not needed for correctness)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._values: dict[object, object] = {}
        self._limit = limit

    def scopes(self, value: frozenset[str]) -> frozenset[str]:
        return self._one(value, value)  # type: ignore[return-value]

    def products(self, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return self._one(tuple(sorted(value.items())), value)  # type: ignore[return-value]

    def _one(self, key: object, value: object) -> object:
        found = self._values.get(key)
        if found is not None:
            return found
        if len(self._values) < self._limit:
            self._values[key] = value
        return value


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
        self._autocommit = container.engine.dialect.name == "postgresql"
        self._shared = _Shared()

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

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[_Reads]:
        """The loaders' reads. PostgreSQL: on the raw asyncpg connection, in no transaction
        (kernel/rawpg.py: a read is one round trip without SQLAlchemy's execution around it; each
        statement sees committed data). SQLite: Core statements in a transaction."""
        if self._autocommit:
            async with driver_connection(self.container.engine) as apg:
                yield _Reads(
                    partial(partners.client_token_partner_pg, apg),
                    partial(partners.partner_ref_pg, apg),
                    partial(catalog.active_order_products_pg, apg),
                )
            return
        async with self.container.engine.connect() as conn:
            yield _Reads(
                partial(partners.client_token_partner, conn),
                partial(partners.partner_ref_on, conn),
                partial(catalog.active_order_products_on, conn),
            )

    async def _load_token(self, h: str) -> TokenInfo | None:
        """A token not seen yet: the token, its client and its partner in one statement and, when the
        partner is not cached yet, its active orders in a second one (a partner's first call)."""
        gen = self.partners.generation
        async with self._reading() as db:
            found = await db.token_partner(h)
            if found is None:
                return None
            tok, ref = found
            info: PartnerInfo | None = None
            if (
                ref is not None
                and gen == self.partners.generation
                and self.partners.peek(ref.id, self.container.clock.now()) is None
            ):
                info = _partner_info(ref, await db.orders(ref.id), self._shared)
        if info is not None:
            self.partners.offer(info.id, info, gen)
        scopes = self._shared.scopes(frozenset(tok.scopes))
        return TokenInfo(tok.client_id, tok.partner_id, scopes, tok.expires_at)

    async def _load_partner(self, partner_id: str) -> PartnerInfo | None:
        async with self._reading() as db:
            p = await db.partner(partner_id)
            if p is None:
                return None
            orders = await db.orders(partner_id)
        return _partner_info(p, orders, self._shared)

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


@dataclass(frozen=True, slots=True)
class _Reads:
    """The loaders' three reads, bound to one connection (GatewayCaches._reading)."""

    token_partner: Callable[[str], Awaitable[tuple[ClientToken, PartnerRef | None] | None]]
    partner: Callable[[str], Awaitable[PartnerRef | None]]
    orders: Callable[[str], Awaitable[list[tuple[str, str]]]]


def _partner_info(p: PartnerRef, orders: list[tuple[str, str]], shared: _Shared) -> PartnerInfo:
    by_cap: dict[str, list[str]] = {}
    for cap, prod in orders:
        ids = by_cap.setdefault(cap, [])
        if prod not in ids:  # two active orders of one product: one choice
            ids.append(prod)
    return PartnerInfo(
        id=p.id,
        kind=p.kind.value,
        status=p.status.value,
        billing_mode=p.billing_mode.value,
        scope=p.scope.value,
        band=rules.band_for(p.kind.value, p.tier.value if p.tier else None),
        products=shared.products({cap: tuple(ids) for cap, ids in by_cap.items()}),
    )
