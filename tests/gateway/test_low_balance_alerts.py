"""Low-balance alerts (issue 7 item 9): a prepaid partner sets a threshold; crossing below it sends one
notice per crossing — none while it stays below, a new one after a top-up took it back above."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from openability.jobs.scheduler import run_job
from openability.jobs_catalog import all_jobs
from openability.kernel.notify import Notification


async def _notices(container: Any, partner_id: str) -> list[Notification]:
    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(Notification).where(
                Notification.kind == "low-balance", Notification.recipient_id == partner_id
            )
        )
        return list(rows.all())


async def test_one_notice_per_crossing(
    container: Any, client: httpx.AsyncClient, world: Any, kit: Any, clock: Any
) -> None:
    from openability.partners import identity

    async with container.uow() as uow:
        await identity.create_operator(uow, "clerk", "secret123abc", ["billing_clerk"])
    async with container.uow() as uow:
        token, _ = await identity.login(uow, "clerk", "secret123abc")
    clerk = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/accounts/{world.partner_id}/low-balance-alert"
    assert (await client.get(url, headers=clerk)).status_code == 404
    r = await client.put(url, json={"threshold": "9.90"}, headers=clerk)
    assert r.status_code == 200 and r.json()["threshold"] == "9.9000" and r.json()["armed"] is True
    assert (await client.put(url, json={"threshold": "1e3"}, headers=clerk)).status_code == 400
    job = all_jobs()["low-balance-alerts"]

    async def tick() -> None:
        clock.advance(minutes=1)
        await run_job(container, job)

    await tick()
    assert await _notices(container, world.partner_id) == []  # 10.00 is above 9.90
    for _ in range(3):  # 0.05 each: the balance falls to 9.85
        assert (
            await client.post("/capabilities/sms/v1/messages", json=kit.sms(), headers=world.auth)
        ).status_code == 201
    await tick()
    await tick()  # still below: no second notice
    notices = await _notices(container, world.partner_id)
    assert len(notices) == 1 and "9.85" in notices[0].subject
    assert (await client.get(url, headers=clerk)).json()["armed"] is False

    from openability.billing import service as billing
    from openability.billing.types import PaymentMethod

    async with container.uow() as uow:
        p = await billing.create_payment(
            uow, world.partner_id, "top-up-2", Decimal("1.00"), PaymentMethod.BANK_TRANSFER
        )
    async with container.uow() as uow:
        await billing.confirm_payment(uow, p[0].id if isinstance(p, tuple) else p.id)
    await tick()  # back above: re-armed
    assert (await client.get(url, headers=clerk)).json()["armed"] is True
    for _ in range(21):
        await client.post("/capabilities/sms/v1/messages", json=kit.sms(), headers=world.auth)
    await tick()
    assert len(await _notices(container, world.partner_id)) == 2
    assert (await client.delete(url, headers=clerk)).status_code == 204
    assert (await client.get(url, headers=clerk)).status_code == 404
