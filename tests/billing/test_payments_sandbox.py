"""Sandbox payments are a demo feature: refused unless `payments_sandbox` is on, and even then they
never open a pending SI's service (R-BILL-01: only confirmed real funds do)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openability.billing import service
from openability.billing.models import Invoice, Payment
from openability.billing.types import PaymentMethod, PaymentState
from openability.bootstrap import Container
from openability.kernel.errors import PermissionDenied
from openability.kernel.uow import Actor
from openability.ledger.models import JournalEntry
from openability.ledger.service import balances
from openability.ledger.types import AccountType
from openability.partners.models import Partner
from openability.partners.types import PartnerStatus

D = Decimal
CLERK = Actor(type="operator", id="op_clerk", roles=frozenset({"billing_clerk"}))


def partner_actor(pid: str) -> Actor:
    return Actor(type="partner_user", id="pu_" + pid, partner_id=pid)


async def rows(container: Container, model: Any) -> int:
    async with container.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def status_of(container: Container, pid: str) -> PartnerStatus:
    async with container.uow() as uow:
        p = await uow.session.get(Partner, pid)
        assert p is not None
        return p.status


async def test_sandbox_top_up_is_refused_when_the_setting_is_off(
    api: httpx.AsyncClient, auth: Any, make_partner: Any, container: Container, assert_ledger_clean: Any
) -> None:
    assert container.settings.payments_sandbox is False  # the production default
    ap = await make_partner("AP")
    body = {"transactionId": "mint-1", "amount": "0.01", "method": "sandbox"}
    r = await api.post("/api/v1/payments", json=body, headers=auth.partner(ap.id))
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "SANDBOX_DISABLED"
    # an operator cannot use it either
    r = await api.post(
        "/api/v1/payments", json={**body, "partnerId": ap.id}, headers=auth.roles("billing_clerk")
    )
    assert r.status_code == 403 and r.json()["code"] == "SANDBOX_DISABLED"
    async with container.uow(partner_actor(ap.id)) as uow:
        with pytest.raises(PermissionDenied) as exc:
            await service.create_payment(uow, ap.id, "mint-2", D("1000"), PaymentMethod.SANDBOX)
    assert exc.value.code == "SANDBOX_DISABLED"
    # nothing credited, nothing recorded
    assert (await api.get(f"/api/v1/accounts/{ap.id}", headers=auth.partner(ap.id))).json()["balance"] == (
        "0.0000"
    )
    assert await rows(container, Payment) == 0
    assert await rows(container, JournalEntry) == 0
    assert await rows(container, Invoice) == 0
    await assert_ledger_clean()


async def test_r_bill_01_sandbox_top_up_with_the_setting_off_leaves_a_pending_si_pending(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    si = await make_partner("SI", status="pending", billing_mode="prepaid")
    async with container.uow(partner_actor(si.id)) as uow:
        with pytest.raises(PermissionDenied):
            await service.create_payment(uow, si.id, "self-open", D("0.01"), PaymentMethod.SANDBOX)
    assert await status_of(container, si.id) == PartnerStatus.PENDING
    await assert_ledger_clean()


@pytest.mark.payments_sandbox
async def test_r_bill_01_sandbox_top_up_never_activates_a_pending_prepaid_si(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    si = await make_partner("SI", status="pending", billing_mode="prepaid")
    async with container.uow(partner_actor(si.id)) as uow:
        p, created = await service.create_payment(uow, si.id, "demo-1", D("0.01"), PaymentMethod.SANDBOX)
    # a demo balance may be credited, but the service stays closed: no real funds were confirmed
    assert created and p.state == PaymentState.CONFIRMED
    async with container.uow() as uow:
        assert (await balances(uow.session, si.id))[AccountType.PREPAID_AVAILABLE] == D("0.01")
    assert await status_of(container, si.id) == PartnerStatus.PENDING
    # real funds (a bank transfer the clerk confirms) do open it
    async with container.uow(partner_actor(si.id)) as uow:
        bank, _ = await service.create_payment(uow, si.id, "bank-1", D("5000"), PaymentMethod.BANK_TRANSFER)
    async with container.uow(CLERK) as uow:
        await service.confirm_payment(uow, bank.id)
    assert await status_of(container, si.id) == PartnerStatus.ACTIVE
    await assert_ledger_clean()


@pytest.mark.payments_sandbox
async def test_r_bill_01_sandbox_deposit_never_activates_a_pending_postpaid_si(
    api: httpx.AsyncClient, auth: Any, make_partner: Any, container: Container, assert_ledger_clean: Any
) -> None:
    si = await make_partner("SI", status="pending", billing_mode="postpaid")
    body = {"transactionId": "dep-demo", "amount": "30000.00", "method": "sandbox", "purpose": "deposit"}
    r = await api.post("/api/v1/payments", json=body, headers=auth.partner(si.id))
    assert r.status_code == 201 and r.json()["state"] == "confirmed", r.text
    assert await status_of(container, si.id) == PartnerStatus.PENDING
    await assert_ledger_clean()
