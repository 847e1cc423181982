"""Exactly-once sends through the HTTP API (R-CHARGE-04): what a caller sees when another worker holds
the call's Idempotency-Key (charging/claims.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from openability.charging.claims import ClaimStore
from openability.charging.service import request_hash
from openability.charging.types import ClaimState

URL = "/capabilities/sms/v1/messages"


async def test_r_charge_04_a_key_held_by_another_worker_is_not_sent_409_then_replayed(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, runtime: Any, assert_ledger_clean: Any
) -> None:
    engine = runtime().engine
    engine.claims.settings = engine.claims.settings.model_copy(update={"idempotency_wait_seconds": 0.05})
    other = ClaimStore(world.container, "worker-elsewhere")
    canonical = ["sms", ["+8613800138000"], "hello"]
    assert await other.try_claim(world.partner_id, "held", request_hash(canonical))
    h = {**world.auth, "Idempotency-Key": "held"}
    r = await client.post(URL, json=kit.sms(), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "REQUEST_IN_PROGRESS", r.text
    assert r.headers["retry-after"] == "1"
    r = await client.post(URL, json=kit.sms(text="another text"), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "IDEMPOTENCY_KEY_REUSED", r.text
    assert fakes.sms.submits == []  # neither was sent
    # the other worker's call ends without reaching the network: the key is free for a retry
    assert await other.fail(world.partner_id, "held", 402, {"code": "INSUFFICIENT_BALANCE"})
    r = await client.post(URL, json=kit.sms(), headers=h)
    assert r.status_code == 201, r.text
    again = await client.post(URL, json=kit.sms(), headers=h)
    assert again.status_code == 201 and again.json() == r.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(fakes.sms.submits) == 1
    assert await world.prepaid_total() == Decimal("10.0000") - Decimal("0.0500")
    await assert_ledger_clean()


async def test_database_down_at_the_claim_is_503_and_nothing_is_sent(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, runtime: Any, monkeypatch: Any
) -> None:
    from sqlalchemy.exc import OperationalError

    async def down(self: Any, reqs: Any) -> None:
        raise OperationalError("INSERT", {}, ConnectionRefusedError("the database is restarting"))

    monkeypatch.setattr(ClaimStore, "_claim_batch", down)
    r = await client.post(URL, json=kit.sms(), headers={**world.auth, "Idempotency-Key": "k-down"})
    assert r.status_code == 503 and r.json()["code"] == "SERVICE_UNAVAILABLE", r.text
    assert "retry-after" in r.headers
    assert fakes.sms.submits == []
    monkeypatch.undo()
    r = await client.post(URL, json=kit.sms(), headers={**world.auth, "Idempotency-Key": "k-down"})
    assert r.status_code == 201, r.text
    assert len(fakes.sms.submits) == 1


async def test_r_charge_04_a_copy_given_the_503_of_the_call_it_waited_for_has_its_retry_after(
    client: httpx.AsyncClient, world: Any, fakes: Any, kit: Any, runtime: Any
) -> None:
    """Found by the PostgreSQL-restart fault test (tests/faults): the copy got the other worker's 503
    with `details.retryAfter` but no Retry-After header."""
    import asyncio

    engine = runtime().engine
    engine.claims.settings = engine.claims.settings.model_copy(update={"idempotency_wait_seconds": 5})
    other = ClaimStore(world.container, "worker-elsewhere")
    canonical = ["sms", ["+8613800138000"], "hello"]
    assert await other.try_claim(world.partner_id, "k-wait", request_hash(canonical))
    # The copy's claim reads, watched: once one has seen the other worker's live claim, the copy is
    # waiting for its answer (a fixed sleep was not always enough on a loaded machine).
    claims = engine.claims
    read = claims._read
    waiting = asyncio.Event()

    async def watched_read(partner_id: str, key: str) -> Any:
        row = await read(partner_id, key)
        if row is not None and row[0] == ClaimState.CLAIMED:
            waiting.set()
        return row

    claims._read = watched_read  # type: ignore[method-assign]
    copy = asyncio.create_task(
        client.post(URL, json=kit.sms(), headers={**world.auth, "Idempotency-Key": "k-wait"})
    )
    await asyncio.wait_for(waiting.wait(), 10)
    body = {"status": 503, "code": "SERVICE_UNAVAILABLE", "message": "down", "details": {"retryAfter": 2}}
    assert await other.fail(world.partner_id, "k-wait", 503, body)
    r = await copy
    assert r.status_code == 503 and r.json() == body, r.text
    assert r.headers["retry-after"] == "2"
    assert fakes.sms.submits == []
