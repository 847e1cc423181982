"""Logins and client-secret checks are throttled and audited (issue 8 item 4): after 5 failures in a
row an account or API client is locked, exponentially longer with each further failure; a source
address after 20; a refusal is 429 with Retry-After, decided before any hashing; failures are audited
even though the login itself is refused; password hashing runs in a bounded pool off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openability.bootstrap import Container
from openability.kernel.audit import AuditEntry
from openability.kernel.clock import FrozenClock
from openability.partners import identity, oauth, passwords
from openability.partners.models import Partner, PartnerUser
from openability.partners.rules import lockout_seconds

MakeAp = Callable[..., Awaitable[tuple[Partner, PartnerUser]]]
LOGIN = "/api/v1/auth/login"


async def _actions(container: Container, prefix: str) -> list[str]:
    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.startswith(prefix))
        )
        return list(rows.all())


def test_lockout_grows_exponentially_up_to_the_cap() -> None:
    assert [lockout_seconds(n, 5, 30, 900) for n in (1, 4, 5, 6, 7, 10)] == [0, 0, 30, 60, 120, 900]


async def test_five_wrong_passwords_lock_the_account_then_it_opens_again(
    app_client: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    async with container.uow() as uow:
        await identity.create_operator(uow, "ops1", "secret123abc", ["admin"])
    for _ in range(5):
        r = await app_client.post(LOGIN, json={"username": "ops1", "password": "wrong-guess-1"})
        assert r.status_code == 401
    r = await app_client.post(LOGIN, json={"username": "ops1", "password": "secret123abc"})
    assert r.status_code == 429 and r.json()["code"] == "TOO_MANY_REQUESTS"
    assert int(r.headers["retry-after"]) == 30
    assert await _actions(container, "auth.login.") == ["auth.login.failed"] * 5 + ["auth.login.throttled"]

    clock.advance(seconds=31)
    ok = await app_client.post(LOGIN, json={"username": "ops1", "password": "secret123abc"})
    assert ok.status_code == 200  # the lock expired; the success clears the count
    for _ in range(4):
        assert (
            await app_client.post(LOGIN, json={"username": "ops1", "password": "nope-nope-1"})
        ).status_code == 401
    assert (
        await app_client.post(LOGIN, json={"username": "ops1", "password": "secret123abc"})
    ).status_code == 200


async def test_each_further_failure_doubles_the_lock(
    app_client: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    for _ in range(5):
        await app_client.post(LOGIN, json={"username": "ghost", "password": "whatever-123"})  # unknown name
    clock.advance(seconds=31)
    assert (
        await app_client.post(LOGIN, json={"username": "ghost", "password": "again-123"})
    ).status_code == 401
    r = await app_client.post(LOGIN, json={"username": "ghost", "password": "again-123"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 60


async def test_one_source_guessing_many_accounts_is_locked(
    app_client: httpx.AsyncClient, container: Container
) -> None:
    container.settings.login_source_max_failures = 8
    for i in range(8):
        r = await app_client.post(LOGIN, json={"username": f"user{i}", "password": "guess-guess-1"})
        assert r.status_code == 401
    r = await app_client.post(LOGIN, json={"username": "someone-else", "password": "guess-guess-1"})
    assert r.status_code == 429


async def test_wrong_client_secrets_lock_the_client(
    app_client: httpx.AsyncClient, container: Container, make_ap: MakeAp
) -> None:
    partner, user = await make_ap(1)
    async with container.uow(identity.partner_user_actor(user)) as uow:
        client, secret = await oauth.create_api_client(uow, partner.id, "app", ["sms"])
    form = {"grant_type": "client_credentials", "client_id": client.id}
    for _ in range(5):
        r = await app_client.post("/oauth/token", data={**form, "client_secret": "not-it"})
        assert r.status_code == 401
    r = await app_client.post("/oauth/token", data={**form, "client_secret": secret})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert (await _actions(container, "client.token.")).count("client.token.failed") == 5


async def test_hashing_runs_in_a_bounded_pool_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    running = peak = 0
    lock = threading.Lock()
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def slow_verify(secret: str, hashed: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.02)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(passwords, "verify_secret", slow_verify)
    for limit in (1, 3):
        passwords.configure_hash_threads(limit)
        peak = 0
        results: list[Any] = await asyncio.gather(
            *(passwords.verify_secret_async("x", "h") for _ in range(12))
        )
        assert results == [False] * 12
        assert peak == limit
    assert loop_thread not in threads
    passwords.configure_hash_threads(1)


async def test_old_unlocked_failures_are_pruned_locked_and_recent_ones_kept(
    app_client: httpx.AsyncClient, container: Container, clock: FrozenClock
) -> None:
    """login-failures-prune: `login_failures` does not grow with every key ever seen failing."""
    from openability.jobs_catalog import all_jobs
    from openability.partners.jobs import prune_login_failures
    from openability.partners.models import LoginFailure

    for _ in range(5):  # locks user:ghost for 30 s
        r = await app_client.post(LOGIN, json={"username": "ghost", "password": "wrong-guess-1"})
        assert r.status_code == 401
    clock.advance(hours=23)
    r = await app_client.post(LOGIN, json={"username": "other", "password": "wrong-guess-1"})
    assert r.status_code == 401
    async with container.uow() as uow:  # user:ghost is 23 h old: kept
        assert await prune_login_failures(uow) == 0
    clock.advance(hours=2)  # ghost 25 h old and unlocked; other 2 h old
    async with container.uow() as uow:
        uow.session.add(  # a key still locked, failed long ago: kept until its lock expires
            LoginFailure(
                key="client:c1",
                failures=9,
                locked_until=clock.now() + timedelta(minutes=5),
                updated_at=clock.now() - timedelta(days=3),
            )
        )
    result = await all_jobs()["login-failures-prune"].fn(container)
    assert "deleted" in result
    async with container.uow() as uow:
        keys = set((await uow.session.scalars(select(LoginFailure.key))).all())
    # the source address of both attempts failed within the retention: its row stays
    assert "user:ghost" not in keys and {"user:other", "client:c1"} <= keys
