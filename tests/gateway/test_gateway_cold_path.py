"""A partner's first call (the cold path, issue 9 "calls spread over many partners"): the token, its
client and its partner are read in one statement and the partner's active orders in a second one, on
one connection (no transaction around reads on PostgreSQL); the partner cache is filled by that read,
unless an invalidation raced it; the first month-to-date block is one insert-or-update."""

from __future__ import annotations

import asyncio
from dataclasses import astuple
from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from openability.bootstrap import Container
from openability.catalog import service as catalog
from openability.charging.volume import reserve_block
from openability.gateway.cache import LoadingCache, token_hash
from openability.kernel.rawpg import PgQuery
from openability.kernel.uow import Actor
from openability.partners import oauth
from openability.partners import service as partners
from openability.partners.types import PartnerStatus

SMS = "/capabilities/sms/v1/messages"
OPERATOR = Actor(type="operator", id="op_cold", roles=frozenset({"admin"}))


class _Statements:
    def __init__(self, container: Container) -> None:
        self.sql: list[str] = []
        self._engine = container.engine.sync_engine

    def __enter__(self) -> _Statements:
        event.listen(self._engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self._engine, "before_cursor_execute", self._on)

    def _on(self, _conn: Any, _cur: Any, stmt: str, *_: Any) -> None:
        self.sql.append(stmt)


async def test_a_tokens_first_load_reads_token_client_and_partner_in_one_statement(
    client: httpx.AsyncClient, container: Container, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert container.gateway is not None
    caches = container.gateway.caches
    now = container.clock.now()
    raw: list[str] = []  # PostgreSQL: the reads go to the raw asyncpg connection (kernel/rawpg.py)
    send = PgQuery.first, PgQuery.fetch

    async def first(q: PgQuery, apg: Any, **kw: Any) -> Any:
        raw.append(q.sql)
        return await send[0](q, apg, **kw)

    async def fetch(q: PgQuery, apg: Any, **kw: Any) -> Any:
        raw.append(q.sql)
        return await send[1](q, apg, **kw)

    monkeypatch.setattr(PgQuery, "first", first)
    monkeypatch.setattr(PgQuery, "fetch", fetch)
    with _Statements(container) as st:
        tok = await caches.tokens.get(token_hash(world.token), now)
    assert tok is not None and tok.partner_id == world.partner_id and tok.client_id == world.client_id
    reads = [s for s in st.sql + raw if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2, reads  # token + client + partner, then the partner's orders
    assert (raw == []) == (container.engine.dialect.name != "postgresql")
    # The partner came with it: its first call needs no second load.
    p = caches.partners.peek(world.partner_id, now)
    assert p is not None and p.status == "active" and "sms" in p.products
    with _Statements(container) as st:
        assert await caches.partners.get(world.partner_id, now) is p
    assert st.sql == []


async def test_the_partner_read_with_a_token_is_not_kept_when_an_invalidation_raced_it(
    client: httpx.AsyncClient, container: Container, world: Any
) -> None:
    assert container.gateway is not None
    caches = container.gateway.caches
    now = container.clock.now()
    gen = caches.partners.generation
    caches.on_partner_changed("partner.changed", "prt_other")  # any invalidation since the read began
    caches.partners.offer(world.partner_id, None, gen)
    assert caches.partners.peek(world.partner_id, now) is None
    assert len(caches.partners) == 0
    caches.partners.offer(world.partner_id, None, caches.partners.generation)
    assert world.partner_id in caches.partners._data


async def test_offer_never_overwrites_a_cached_value_and_keeps_the_bound() -> None:
    now = datetime(2026, 12, 7)

    async def load(k: str) -> str:
        return k.upper()

    cache: LoadingCache[str, str] = LoadingCache(load, 300, lambda: now, max_entries=2)
    await cache.get("a", now)
    cache.offer("a", "stale", cache.generation)
    assert cache.peek("a", now) == "A"
    cache.offer("b", "B", cache.generation)
    cache.offer("c", "C", cache.generation)
    assert len(cache) == 2 and cache.peek("a", now) is None  # the least recently used went


async def test_a_revoked_token_or_inactive_client_is_not_found_by_the_cold_read(
    container: Container, world: Any
) -> None:
    """On PostgreSQL, the gateway's raw reads (kernel/rawpg.py) return what the Core reads return: the
    same read models, enums, scopes and aware datetimes."""
    h = token_hash(world.token)
    pg = container.engine.dialect.name == "postgresql"
    async with container.engine.connect() as conn:
        found = await partners.client_token_partner(conn, h)
        assert found is not None
        tok, ref = found
        assert ref is not None and ref.id == world.partner_id and ref.status == PartnerStatus.ACTIVE
        assert "sms" in tok.scopes and tok.expires_at is not None
        assert tok.expires_at.utcoffset() is not None
        assert await partners.partner_ref_on(conn, world.partner_id) == ref
        assert await partners.partner_ref_on(conn, "prt_nobody") is None
        assert await partners.client_token_partner(conn, token_hash("not-a-token")) is None
        orders = await catalog.active_order_products_on(conn, world.partner_id)
        assert ("sms", world.products["sms"]) in orders
        if pg:
            apg = (await conn.get_raw_connection()).driver_connection
            raw = await partners.client_token_partner_pg(apg, h)
            assert raw == found and raw is not None and raw[1] is not None
            # the same types too (a StrEnum equals its string value)
            assert [type(v) for v in astuple(raw[1])] == [type(v) for v in astuple(ref)]
            assert [type(v) for v in astuple(raw[0])] == [type(v) for v in astuple(tok)]
            assert await partners.partner_ref_pg(apg, world.partner_id) == ref
            assert await partners.partner_ref_pg(apg, "prt_nobody") is None
            assert await partners.client_token_partner_pg(apg, token_hash("not-a-token")) is None
            assert await catalog.active_order_products_pg(apg, world.partner_id) == orders
            assert await catalog.active_order_products_pg(apg, "prt_nobody") == []
    async with container.uow(OPERATOR) as uow:
        await oauth.revoke_api_client(uow, world.partner_id, world.client_id)
    async with container.engine.connect() as conn:
        assert await partners.client_token_partner(conn, h) is None
        if pg:
            apg = (await conn.get_raw_connection()).driver_connection
            assert await partners.client_token_partner_pg(apg, h) is None


async def test_a_suspension_drops_the_partner_read_by_a_tokens_first_call(
    client: httpx.AsyncClient, container: Container, world: Any, kit: Any
) -> None:
    assert (await client.post(SMS, json=kit.sms(), headers=world.auth)).status_code == 201
    async with container.uow(OPERATOR) as uow:
        await partners.set_partner_status(uow, world.partner_id, PartnerStatus.SUSPENDED, "deposit short")
    r = await client.post(SMS, json=kit.sms(), headers=world.auth)
    assert (r.status_code, r.json()["code"]) == (403, "PARTNER_SUSPENDED")


async def test_r_charge_06_first_blocks_by_insert_or_update_never_overlap(
    container: Container, world: Any
) -> None:
    """Concurrent first takes (each the insert-or-update at once) and later takes (the UPDATE):
    disjoint ranges covering [0, total)."""
    key = (world.partner_id, world.products["sms"], "2026-12")
    sizes = [3, 5, 7, 11, 13, 17, 19, 23]

    async def take(i: int, n: int) -> tuple[int, int]:
        async with container.uow() as uow:
            start = await reserve_block(uow.session, key, n, uow.now, first=i % 2 == 0)
        return start, start + n

    ranges = sorted(await asyncio.gather(*(take(i, n) for i, n in enumerate(sizes))))
    assert ranges[0][0] == 0
    assert all(a[1] == b[0] for a, b in pairwise(ranges))
    assert ranges[-1][1] == sum(sizes)
