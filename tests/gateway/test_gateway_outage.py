"""With the database down, every route answers 503 SERVICE_UNAVAILABLE with Retry-After (translated in
one place: kernel/outage.py + kernel/web.unhandled_error), never a 500 or a dropped connection; the
readiness check says the database is down. Nothing is charged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from openability.kernel.db import make_engine, make_sessionmaker


def _dead_url(backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        return "postgresql+asyncpg://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    return f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"


async def test_every_route_answers_503_while_the_database_is_down(
    container: Any, client: httpx.AsyncClient, world: Any, kit: Any, backend: str, tmp_path: Path, clock: Any
) -> None:
    from openability.partners import identity as partners

    async with container.uow() as uow:
        await partners.create_operator(uow, "ops1", "secret123abc", ["admin"])
    async with container.uow() as uow:
        op_token, _ = await partners.login(uow, "ops1", "secret123abc")
    ops = {"Authorization": f"Bearer {op_token}"}
    assert (
        await client.post("/capabilities/sms/v1/messages", json=kit.sms(), headers=world.auth)
    ).status_code == 201
    assert (await client.get("/api/v1/me", headers=ops)).status_code == 200
    before = await world.prepaid_total()

    live_engine, live_sessions = container.engine, container.sessionmaker
    dead = make_engine(_dead_url(backend, tmp_path))
    container.engine, container.sessionmaker = dead, make_sessionmaker(dead)
    clock.advance(seconds=60)  # every cached token, partner and login has expired
    try:
        answers = {
            "sms": await client.post(
                "/capabilities/sms/v1/messages", json=kit.sms(), headers={**world.auth, "x-correlator": "c1"}
            ),
            "status": await client.get("/capabilities/sms/v1/messages/msg_x", headers=world.auth),
            "me": await client.get("/api/v1/me", headers=ops),
            "partners": await client.get("/api/v1/partners", headers=ops),
            "login": await client.post(
                "/api/v1/auth/login", json={"username": "ops1", "password": "secret123abc"}
            ),
            "oauth": await client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "client_id": world.client_id, "client_secret": "x"},
            ),
            "accounts": await client.get(f"/api/v1/accounts/{world.partner_id}", headers=ops),
        }
        for name, r in answers.items():
            assert r.status_code == 503, (name, r.status_code, r.text)
            assert r.json()["code"] == "SERVICE_UNAVAILABLE", name
            assert int(r.headers["retry-after"]) >= 1, name
        assert answers["sms"].headers["x-correlator"] == "c1"
        health = await client.get("/healthz")
        assert health.status_code == 503 and health.json()["database"] == "down"
        assert (await client.get("/livez")).status_code == 200
    finally:
        container.engine, container.sessionmaker = live_engine, live_sessions
        await dead.dispose()
    assert (await client.get("/healthz")).json()["database"] == "ok"
    assert await world.prepaid_total() == before  # nothing was charged while it was down
