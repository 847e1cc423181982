"""The gateway's caches are invalidated by change, in every process: a change made through one
container (worker A) reaches another container on the same database (worker B, its own engine and
caches) through the `cache_changes` feed (kernel/changes.py), within one poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from openability.bootstrap import Container, build_container
from openability.config import Settings
from openability.gateway.cache import LoadingCache
from openability.kernel import changes, events
from openability.kernel.changes import CacheChange, ChangeFeed
from openability.kernel.db import make_engine
from openability.kernel.uow import Actor
from openability.partners import oauth
from openability.partners import service as partners
from openability.partners.types import PartnerStatus

SMS = "/capabilities/sms/v1/messages"
OPERATOR = Actor(type="operator", id="op_feed", roles=frozenset({"admin"}))


@pytest.fixture
async def worker_b(db: Any, clock: Any, settings: Settings, fakes: Any) -> AsyncIterator[Container]:
    """A second serving process on the same database: its own engine, caches, grants and feed."""
    engine = make_engine(db.url, search_path=db.schema) if db.schema else make_engine(db.url)
    b = build_container(settings, clock=clock, engine=engine)
    b.connectors.sms, b.connectors.mms, b.connectors.voice = fakes.sms, fakes.mms, fakes.voice
    yield b
    await engine.dispose()


@pytest.fixture
async def client_b(worker_b: Container) -> AsyncIterator[httpx.AsyncClient]:
    from openability.app import create_app

    app = create_app(worker_b, manage_container=False)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
            yield c


async def _suspend(container: Container, partner_id: str) -> None:
    async with container.uow(OPERATOR) as uow:
        await partners.set_partner_status(uow, partner_id, PartnerStatus.SUSPENDED, "deposit short")


async def test_r_bill_09_a_suspension_on_one_worker_refuses_calls_on_another_after_one_poll(
    client: httpx.AsyncClient,
    client_b: httpx.AsyncClient,
    container: Container,
    worker_b: Container,
    world: Any,
    kit: Any,
) -> None:
    for c in (client, client_b):  # both workers have the partner cached
        assert (await c.post(SMS, json=kit.sms(), headers=world.auth)).status_code == 201
    await _suspend(container, world.partner_id)
    # Worker A: at once (its own event). Worker B: at its next poll of the feed, no TTL involved.
    assert (await client.post(SMS, json=kit.sms(), headers=world.auth)).json()["code"] == "PARTNER_SUSPENDED"
    assert worker_b.changes is not None
    await worker_b.changes.poll()
    r = await client_b.post(SMS, json=kit.sms(), headers=world.auth)
    assert (r.status_code, r.json()["code"]) == (403, "PARTNER_SUSPENDED")


async def test_r_exit_01_a_revoked_client_is_refused_by_another_worker_after_one_poll(
    client: httpx.AsyncClient,
    client_b: httpx.AsyncClient,
    container: Container,
    worker_b: Container,
    world: Any,
    kit: Any,
) -> None:
    assert (await client_b.post(SMS, json=kit.sms(), headers=world.auth)).status_code == 201
    async with container.uow(OPERATOR) as uow:
        await oauth.revoke_api_client(uow, world.partner_id, world.client_id)
    assert worker_b.changes is not None
    await worker_b.changes.poll()
    r = await client_b.post(SMS, json=kit.sms(), headers=world.auth)
    assert r.status_code == 401


async def test_r_bill_09_a_suspension_reaches_another_worker_within_its_poll_interval(
    client: httpx.AsyncClient,
    client_b: httpx.AsyncClient,
    container: Container,
    worker_b: Container,
    world: Any,
    kit: Any,
) -> None:
    """The feed's own loop (no poll called by the test): B refuses within about one poll interval."""
    assert (await client_b.post(SMS, json=kit.sms(), headers=world.auth)).status_code == 201
    await _suspend(container, world.partner_id)
    t0 = time.monotonic()
    interval = worker_b.settings.change_poll_seconds
    while (await client_b.post(SMS, json=kit.sms(), headers=world.auth)).status_code == 201:
        assert time.monotonic() - t0 < interval + 2.0, "the suspension did not reach worker B"
        await asyncio.sleep(0.05)


async def test_r_bill_09_the_feed_row_is_written_in_the_use_cases_transaction(
    container: Container, world: Any
) -> None:
    """A use case that fails after publishing leaves no feed row (nor a suspension); one that commits
    leaves exactly its row."""

    async def count() -> int:
        async with container.uow() as uow:
            return int(await uow.session.scalar(select(func.count()).select_from(CacheChange)) or 0)

    before = await count()
    with pytest.raises(RuntimeError):
        async with container.uow(OPERATOR) as uow:
            await partners.set_partner_status(uow, world.partner_id, PartnerStatus.SUSPENDED, "x")
            raise RuntimeError("boom")
    assert await count() == before
    await _suspend(container, world.partner_id)
    async with container.uow() as uow:
        rows = (await uow.session.execute(select(CacheChange.topic, CacheChange.key))).all()
    assert (events.PARTNER_CHANGED, world.partner_id) in [tuple(r) for r in rows]
    assert await count() == before + 1


async def _append(container: Container, id_: int, key: str) -> None:
    async with container.uow() as uow:
        await uow.session.execute(
            insert(CacheChange.__table__).values(
                id=id_, topic=events.PARTNER_CHANGED, key=key, created_at=uow.now
            )
        )


async def _feed(container: Container) -> tuple[ChangeFeed, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []
    container.events.subscribe(events.PARTNER_CHANGED, lambda t, k: seen.append((t, k)))
    s = container.settings
    feed = ChangeFeed(
        container.engine,
        container.events,
        interval=s.change_poll_seconds,
        retention=s.change_retention_seconds,
    )
    await feed.poll()  # the starting point
    seen.clear()
    return feed, seen


async def test_a_change_committed_after_a_later_one_is_not_missed(container: Container) -> None:
    """Ids are taken before commit, so id n+1 can become visible after n+2: the feed asks for the
    missing id again at its next polls."""
    feed, seen = await _feed(container)
    async with container.uow() as uow:
        top = int(await uow.session.scalar(select(func.max(CacheChange.id))) or 0)
    await _append(container, top + 2, "prt_second")
    assert await feed.poll() == 1
    assert seen == [(events.PARTNER_CHANGED, "prt_second")]
    await _append(container, top + 1, "prt_first")  # the slower transaction commits now
    assert await feed.poll() == 1
    assert seen[-1] == (events.PARTNER_CHANGED, "prt_first")
    assert await feed.poll() == 0  # nothing twice


async def test_a_feed_that_could_not_poll_for_long_drops_every_cache(container: Container) -> None:
    feed, seen = await _feed(container)
    feed._last_ok -= container.settings.change_retention_seconds  # as if the database was unreachable
    await feed.poll()
    assert (events.PARTNER_CHANGED, "") in seen  # the empty key: drop everything of the topic
    assert feed.lost == 1


async def test_rows_older_than_the_retention_are_pruned(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "PRUNE_EVERY_SECONDS", 0.0)
    feed, _ = await _feed(container)
    async with container.uow() as uow:
        await changes.record(uow.session, [(events.PARTNER_CHANGED, "prt_old")], uow.now)
    await feed.poll()  # sees it
    feed.retention = 0.001
    await asyncio.sleep(0.01)
    await feed.poll()  # prunes what it saw more than `retention` ago
    async with container.uow() as uow:
        left = (await uow.session.scalars(select(CacheChange.key))).all()
    assert "prt_old" not in left


async def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_used() -> None:
    loads: list[str] = []

    async def load(k: str) -> str:
        loads.append(k)
        return k.upper()

    now = datetime(2026, 12, 7)
    cache: LoadingCache[str, str] = LoadingCache(load, 300, lambda: now, max_entries=2)
    await cache.get("a", now)
    await cache.get("b", now)
    await cache.get("a", now)  # a used last: b is the least recently used
    await cache.get("c", now)
    assert len(cache) == 2
    assert cache.peek("a", now) == "A" and cache.peek("b", now) is None
    assert await cache.get("a", now + timedelta(seconds=299)) == "A"
    assert loads == ["a", "b", "c"]
    await cache.get("a", now + timedelta(seconds=301))  # the safety lifetime
    assert loads == ["a", "b", "c", "a"]


async def test_an_invalidation_during_a_load_keeps_the_loaded_value_out() -> None:
    gate = asyncio.Event()

    async def load(k: str) -> str:
        await gate.wait()
        return "old"

    now = datetime(2026, 12, 7)
    cache: LoadingCache[str, str] = LoadingCache(load, 300, lambda: now)
    task = asyncio.create_task(cache.get("k", now))
    await asyncio.sleep(0)
    cache.invalidate("k")  # the change event arrives while the old row is being read
    gate.set()
    assert await task == "old"  # that caller gets what it read ...
    assert cache.peek("k", now) is None  # ... but it is not kept
