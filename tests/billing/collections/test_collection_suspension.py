"""R-BILL-09: a deposit too small to cover the unpaid amount leaves the rest receivable and suspends the
partner: the gateway refuses its calls with 403 PARTNER_SUSPENDED at once in the worker that suspended it
and within the cache lifetime (seconds) on every other worker; paying the arrears and restoring the
deposit resumes it automatically. An operator's own suspension is never lifted that way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from openability.bootstrap import build_container
from openability.kernel.audit import AuditEntry
from openability.kernel.db import make_engine
from openability.ledger.types import AccountType

D = Decimal


@asynccontextmanager
async def second_worker(container: Any, db: Any, fakes: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """Another worker process: its own engine, caches and event bus on the same database and clock."""
    from openability.app import create_app

    other = build_container(
        container.settings, clock=container.clock, engine=make_engine(db.url, search_path=db.schema)
    )
    other.connectors.sms, other.connectors.mms, other.connectors.voice = fakes.sms, fakes.mms, fakes.voice
    app = create_app(other, manage_container=False)
    try:
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://worker-2") as c:
                yield c, other
    finally:
        await other.engine.dispose()


async def status_audit(container: Any, partner_id: str) -> list[tuple[str, str, str]]:
    async with container.uow() as uow:
        rows = (
            await uow.session.execute(
                select(AuditEntry.action, AuditEntry.actor_type, AuditEntry.note)
                .where(
                    AuditEntry.partner_id == partner_id,
                    AuditEntry.action.in_(("partner.suspended", "partner.activated")),
                )
                .order_by(AuditEntry.at)
            )
        ).all()
    return [(a, t, n or "") for a, t, n in rows]


async def test_r_bill_09_a_short_deposit_suspends_the_partner_and_paying_up_resumes_it(
    office: Any, container: Any, db: Any, fakes: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("2.00"))
    (sid,) = await office.november(w)
    async with second_worker(container, db, fakes) as (worker2, other):
        office.m.at(12, 27, 0, 0, 0)
        assert (await office.sms(w, worker2)).status_code == 201  # worker 2 has the partner cached
        assert "1 short (1 partner(s) suspended)" in (await office.m.run("collections"))

        due = await office.due(w)
        assert (due["state"], due["deducted"], due["unpaid"]) == ("overdue", "2.00", "2.50")
        b = await w.balances()
        assert b[AccountType.DEPOSIT] == D("0.0000")
        assert b[AccountType.RECEIVABLE] == D("2.5450")  # the rest of November + a December call
        assert await office.status(w) == "suspended"
        r = await office.sms(w)  # the worker that suspended it: at once
        assert (r.status_code, r.json()["code"]) == (403, "PARTNER_SUSPENDED")
        # every other worker: at its next poll of the change feed (once a second, kernel/changes.py)
        await other.changes.poll()
        r = await office.sms(w, worker2)
        assert (r.status_code, r.json()["code"]) == (403, "PARTNER_SUSPENDED")
        (n,) = await office.notices("partner-suspended")
        assert "2.50" in n.body and n.recipient_id == w.partner_id
        level = (
            await office.http.get(f"/api/v1/partners/{w.partner_id}/deposit", headers=office.user(w))
        ).json()
        assert (level["arrears"], level["shortfall"], level["suspendedForArrears"]) == (
            "2.5000",
            "2.0000",
            True,
        )

        # The arrears paid: still suspended, the deposit is not restored.
        office.m.at(12, 28, 10)
        notice = await office.notice(w, sid, "2.50", ref="ICBC-ARREARS")
        assert (await office.confirm(notice.json()["id"])).status_code == 200
        assert (await office.due(w))["state"] == "paid"
        assert await office.status(w) == "suspended"
        # The deposit restored: resumed automatically, calls accepted again on every worker.
        office.m.at(12, 28, 11)
        await office.pay_deposit(w, D("2.00"))
        assert await office.status(w) == "active"
        assert (await office.sms(w)).status_code == 201
        await other.changes.poll()
        assert (await office.sms(w, worker2)).status_code == 201
    (n,) = await office.notices("partner-resumed")
    assert n.recipient_id == w.partner_id
    audit = await status_audit(container, w.partner_id)
    assert [a for a, _t, _n in audit] == ["partner.suspended", "partner.activated"]
    assert "R-BILL-09" in audit[0][2] and "R-BILL-09" in audit[1][2]
    await assert_ledger_clean()


async def test_r_bill_09_an_operators_suspension_is_not_lifted_by_paying_up(
    office: Any, container: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("1.00"))
    (sid,) = await office.november(w)
    office.m.at(12, 27, 0, 0, 1)
    await office.m.run("collections")
    assert await office.status(w) == "suspended"
    # An operator lifts the suspension, then suspends the partner on its own account.
    office.m.at(12, 27, 9)
    for action, reason in (("activate", "分期还款协议"), ("suspend", "资质复核")):
        r = await office.http.post(
            f"/api/v1/partners/{w.partner_id}/{action}", json={"reason": reason}, headers=office.clerk
        )
        assert r.status_code == 200, r.text
    office.m.at(12, 28, 10)
    notice = await office.notice(w, sid, "3.50")
    assert (await office.confirm(notice.json()["id"])).status_code == 200
    await office.pay_deposit(w, D("1.00"))
    office.m.at(1, 1, 0, 0, 1, year=2027)
    await office.m.run("collections-deferred")  # its sweep does not lift it either
    assert await office.status(w) == "suspended"
    assert await office.notices("partner-resumed") == []
    level = (await office.http.get(f"/api/v1/partners/{w.partner_id}/deposit", headers=office.clerk)).json()
    assert (level["arrears"], level["suspendedForArrears"]) == ("0.0000", False)
    await assert_ledger_clean()


async def test_r_bill_09_a_partner_suspended_by_an_operator_before_collection_stays_so(
    office: Any, container: Any
) -> None:
    w = await office.postpaid(D("1.00"))
    (sid,) = await office.november(w)
    r = await office.http.post(
        f"/api/v1/partners/{w.partner_id}/suspend", json={"reason": "合同到期"}, headers=office.clerk
    )
    assert r.status_code == 200
    office.m.at(12, 27, 0, 0, 1)
    await office.m.run("collections")
    assert (await office.due(w))["unpaid"] == "3.50"
    notice = await office.notice(w, sid, "3.50")
    assert (await office.confirm(notice.json()["id"])).status_code == 200
    await office.pay_deposit(w, D("1.00"))
    assert await office.status(w) == "suspended"


async def test_r_bill_09_the_required_deposit_is_the_clerks_figure_and_lowering_it_can_resume(
    office: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("3.00"))
    (sid,) = await office.november(w)
    url = f"/api/v1/partners/{w.partner_id}/required-deposit"
    r = await office.http.put(url, json={"amount": "5.00"}, headers=office.user(w, "admin"))
    assert r.status_code == 403
    r = await office.http.put(url, json={"amount": "5.00"}, headers=office.clerk)
    assert r.status_code == 200 and (r.json()["required"], r.json()["requiredSet"]) == ("5.0000", True)
    ap = await kit.make_world(container, caps=("sms",))
    r = await office.http.put(
        f"/api/v1/partners/{ap.partner_id}/required-deposit", json={"amount": "1.00"}, headers=office.clerk
    )
    assert (r.status_code, r.json()["code"]) == (422, "NOT_POSTPAID")
    office.m.at(12, 27, 0, 0, 1)
    await office.m.run("collections")
    assert await office.status(w) == "suspended"
    office.m.at(12, 28, 10)
    notice = await office.notice(w, sid, "1.50")
    assert (await office.confirm(notice.json()["id"])).status_code == 200
    await office.pay_deposit(w, D("4.00"))  # 4.00 held, 5.00 required: still suspended
    assert await office.status(w) == "suspended"
    r = await office.http.put(url, json={"amount": "4.00"}, headers=office.clerk)
    assert r.json()["suspendedForArrears"] is False
    assert await office.status(w) == "active"
    await assert_ledger_clean()
