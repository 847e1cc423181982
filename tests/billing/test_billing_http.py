"""Payments, invoices and balances through HTTP, with bad input of each kind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openability.billing.models import Payment

# Most of these pay with the sandbox (a demo installation's method): the settings fixture turns it on.
# With it off (production), see test_payments_sandbox.py.
pytestmark = pytest.mark.payments_sandbox


def err(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    b: dict[str, Any] = r.json()
    assert b["status"] == status
    if code:
        assert b["code"] == code, b
    return b


TOP_UP = {"transactionId": "web-0001", "amount": "100.00", "method": "sandbox"}


async def test_sandbox_top_up_and_balance(
    api: httpx.AsyncClient, auth: Any, make_partner: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")
    h = auth.partner(ap.id)
    r = await api.post("/api/v1/payments", json=TOP_UP, headers=h)
    assert r.status_code == 201, r.text
    pay = r.json()
    assert pay["state"] == "confirmed" and pay["amount"] == "100.00" and pay["purpose"] == "top_up"
    assert pay["invoiceNumber"] == "INV-202611-000001" and pay["partnerId"] == ap.id
    # retry: same answer, 200, nothing posted again
    r = await api.post("/api/v1/payments", json=TOP_UP, headers=h)
    assert r.status_code == 200 and r.json()["id"] == pay["id"]
    r = await api.post("/api/v1/payments", json={**TOP_UP, "amount": "100.01"}, headers=h)
    err(r, 409, "TRANSACTION_ID_REUSED")
    r = await api.get(f"/api/v1/accounts/{ap.id}", headers=h)
    assert r.json() == {
        "partnerId": ap.id,
        "currency": "CNY",
        "available": "100.0000",
        "reserved": "0.0000",
        "balance": "100.0000",
        "deposit": "0.0000",
        "receivable": "0.0000",
    }
    r = await api.get("/api/v1/invoices", headers=h)
    inv = r.json()["items"][0]
    assert r.json()["total"] == 1 and inv["amount"] == "100.00" and inv["paymentId"] == pay["id"]
    assert (await api.get(f"/api/v1/invoices/{inv['number']}", headers=h)).json()["id"] == inv["id"]
    assert (await api.get(f"/api/v1/invoices/{inv['id']}", headers=h)).json()["number"] == inv["number"]
    r = await api.get(f"/api/v1/payments/{pay['id']}", headers=h)
    assert r.json()["invoiceId"] == inv["id"]
    await assert_ledger_clean()


async def test_bank_transfer_confirm_and_reject(
    api: httpx.AsyncClient, auth: Any, make_partner: Any, assert_ledger_clean: Any
) -> None:
    si = await make_partner("SI", status="pending")
    h = auth.partner(si.id)
    body = {"transactionId": "bt-1", "amount": "5000.00", "method": "bank_transfer", "bankReference": "ABC-1"}
    r = await api.post("/api/v1/payments", json=body, headers=h)
    assert r.status_code == 201 and r.json()["state"] == "pending" and r.json()["invoiceNumber"] is None
    pid = r.json()["id"]
    err(await api.post(f"/api/v1/payments/{pid}/confirm", headers=h), 403, "PERMISSION_DENIED")
    err(await api.post(f"/api/v1/payments/{pid}/confirm", headers=auth.roles("reviewer")), 403)
    err(await api.post("/api/v1/payments/pay_none/confirm", headers=auth.roles("billing_clerk")), 404)
    r = await api.post(f"/api/v1/payments/{pid}/confirm", headers=auth.roles("billing_clerk"))
    assert r.status_code == 200 and r.json()["state"] == "confirmed" and r.json()["invoiceNumber"]
    assert (await api.get(f"/api/v1/accounts/{si.id}", headers=h)).json()["available"] == "5000.0000"
    r = await api.get(
        "/api/v1/payments", headers=auth.operator, params={"partner_id": si.id, "state": "confirmed"}
    )
    assert r.json()["total"] == 1
    # reject flow
    r = await api.post("/api/v1/payments", json={**body, "transactionId": "bt-2"}, headers=h)
    pid2 = r.json()["id"]
    err(await api.post(f"/api/v1/payments/{pid2}/reject", json={}, headers=auth.operator), 400)
    err(await api.post(f"/api/v1/payments/{pid2}/reject", json={"reason": ""}, headers=auth.operator), 400)
    r = await api.post(f"/api/v1/payments/{pid2}/reject", json={"reason": "no funds"}, headers=auth.operator)
    assert r.status_code == 200 and r.json()["state"] == "rejected" and r.json()["rejectReason"] == "no funds"
    err(await api.post(f"/api/v1/payments/{pid2}/confirm", headers=auth.operator), 409, "PAYMENT_REJECTED")
    err(await api.post(f"/api/v1/payments/{pid}/reject", json={"reason": "x"}, headers=auth.operator), 409)
    await assert_ledger_clean()


async def test_rejected_payment_has_rejected_at_by_not_confirmed_at_by(
    api: httpx.AsyncClient, auth: Any, make_partner: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    # confirmedAt/confirmedBy mean a confirmation only; a rejection shows rejectedAt/rejectedBy (read
    # from the payment.rejected audit row) and leaves the confirmation pair null.
    ap = await make_partner("AP")
    h = auth.partner(ap.id)
    body = {"transactionId": "bt-r", "amount": "80.00", "method": "bank_transfer"}
    pid = (await api.post("/api/v1/payments", json=body, headers=h)).json()["id"]
    clock.advance(minutes=5)
    clerk = auth.roles("billing_clerk")
    r = await api.post(f"/api/v1/payments/{pid}/reject", json={"reason": "no funds"}, headers=clerk)
    assert r.status_code == 200, r.text
    expected_at = clock.now().astimezone(UTC)
    for pay in (
        r.json(),
        (await api.get(f"/api/v1/payments/{pid}", headers=h)).json(),
        (await api.get("/api/v1/payments", headers=h)).json()["items"][0],
        (await api.post("/api/v1/payments", json=body, headers=h)).json(),  # the idempotent retry
    ):
        assert pay["state"] == "rejected" and pay["confirmedAt"] is None and pay["confirmedBy"] is None
        assert pay["rejectedBy"] == "op_billing_clerk"
        assert datetime.fromisoformat(pay["rejectedAt"]) == expected_at
    # rejecting again changes nothing, not even who/when
    clock.advance(minutes=5)
    r = await api.post(f"/api/v1/payments/{pid}/reject", json={"reason": "again"}, headers=auth.operator)
    assert r.json()["rejectedBy"] == "op_billing_clerk" and r.json()["rejectReason"] == "no funds"
    # a confirmed payment: the other way round
    ok = (await api.post("/api/v1/payments", json=TOP_UP, headers=h)).json()
    assert ok["confirmedBy"] == "sandbox" and ok["confirmedAt"] is not None
    assert ok["rejectedAt"] is None and ok["rejectedBy"] is None
    await assert_ledger_clean()


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"amount": 10.5}, 400, "INVALID_ARGUMENT"),  # a JSON number: refused, money is a string
        ({"amount": 10}, 400, "INVALID_ARGUMENT"),
        ({"amount": "abc"}, 400, "INVALID_ARGUMENT"),
        ({"amount": "0"}, 400, "INVALID_AMOUNT"),
        ({"amount": "-5.00"}, 400, "INVALID_AMOUNT"),
        ({"amount": "10.001"}, 400, "INVALID_AMOUNT"),
        ({"amount": "10.00001"}, 400, "INVALID_ARGUMENT"),
        ({"amount": "1000000.01"}, 400, "INVALID_AMOUNT"),
        ({"amount": None}, 400, "INVALID_ARGUMENT"),
        ({"transactionId": None}, 400, "INVALID_ARGUMENT"),
        ({"transactionId": ""}, 400, "INVALID_ARGUMENT"),
        ({"transactionId": "has space"}, 400, "INVALID_TRANSACTION_ID"),
        ({"transactionId": 123}, 400, "INVALID_ARGUMENT"),
        ({"method": "cash"}, 400, "INVALID_ARGUMENT"),
        ({"method": None}, 400, "INVALID_ARGUMENT"),
        ({"purpose": "deposit"}, 422, "PURPOSE_NOT_ALLOWED"),
        ({"purpose": "gift"}, 400, "INVALID_ARGUMENT"),
        ({"extra": "field"}, 400, "INVALID_ARGUMENT"),
    ],
)
async def test_payment_bad_input(
    api: httpx.AsyncClient,
    auth: Any,
    make_partner: Any,
    change: dict[str, Any],
    status: int,
    code: str,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP")
    data = {**TOP_UP, **change}
    data = {k: v for k, v in data.items() if v is not None}
    err(await api.post("/api/v1/payments", json=data, headers=auth.partner(ap.id)), status, code)
    r = await api.get("/api/v1/payments", headers=auth.operator)
    assert r.json()["total"] == 0
    await assert_ledger_clean()


async def test_other_partners_money_is_invisible(
    api: httpx.AsyncClient, auth: Any, make_partner: Any, assert_ledger_clean: Any
) -> None:
    a = await make_partner("AP")
    b = await make_partner("AP")
    rb = await api.post("/api/v1/payments", json=TOP_UP, headers=auth.partner(b.id))
    b_pay = rb.json()
    ha = auth.partner(a.id)
    err(await api.get(f"/api/v1/accounts/{b.id}", headers=ha), 404)
    err(await api.get(f"/api/v1/payments/{b_pay['id']}", headers=ha), 404)
    err(await api.get(f"/api/v1/invoices/{b_pay['invoiceNumber']}", headers=ha), 404)
    err(await api.get("/api/v1/payments", headers=ha, params={"partner_id": b.id}), 404)
    err(await api.get("/api/v1/invoices", headers=ha, params={"partner_id": b.id}), 404)
    err(await api.post("/api/v1/payments", json={**TOP_UP, "partnerId": b.id}, headers=ha), 404)
    assert (await api.get("/api/v1/payments", headers=ha)).json()["total"] == 0
    assert (await api.get("/api/v1/invoices", headers=ha)).json()["total"] == 0
    # unknown ids
    err(await api.get("/api/v1/accounts/ptn_nobody", headers=auth.operator), 404)
    err(await api.get("/api/v1/payments/pay_nothing", headers=auth.operator), 404)
    err(await api.get("/api/v1/invoices/INV-000000-000000", headers=auth.operator), 404)
    # operators: must say whose payment it is
    err(await api.post("/api/v1/payments", json=TOP_UP, headers=auth.operator), 400)
    r = await api.post(
        "/api/v1/payments", json={**TOP_UP, "partnerId": a.id}, headers=auth.roles("billing_clerk")
    )
    assert r.status_code == 201
    err(
        await api.post(
            "/api/v1/payments", json={**TOP_UP, "partnerId": a.id}, headers=auth.roles("reviewer")
        ),
        403,
    )
    err(await api.get("/api/v1/payments", headers=auth.operator, params={"limit": 500}), 400)
    err(await api.get("/api/v1/payments", headers=auth.operator, params={"state": "lost"}), 400)
    assert (await api.get("/api/v1/accounts/" + a.id, headers=auth.operator)).json()[
        "available"
    ] == "100.0000"
    err(await api.get(f"/api/v1/accounts/{a.id}"), 401)
    await assert_ledger_clean()


# Money strictness (DESIGN.md "Money": JSON money is a plain decimal string; no rule ID covers it).
@pytest.mark.parametrize("amount", ["1e3", "1E+2", "1_000.00", "１.00", " 2.00", "+3.00", "Infinity"])
async def test_top_up_amount_not_plain_decimal_is_refused(
    api: httpx.AsyncClient,
    auth: Any,
    make_partner: Any,
    container: Any,
    amount: str,
    assert_ledger_clean: Any,
) -> None:
    ap = await make_partner("AP")
    h = auth.partner(ap.id)
    b = err(await api.post("/api/v1/payments", json={**TOP_UP, "amount": amount}, headers=h), 400)
    assert b["code"] == "INVALID_ARGUMENT"
    assert b["message"].startswith("amount: ") and 'like "100.00"' in b["message"], b
    # nothing written: no payment row, no money on the account
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Payment)) == 0
    r = await api.get(f"/api/v1/accounts/{ap.id}", headers=h)
    assert r.json()["available"] == "0.0000" and r.json()["balance"] == "0.0000"
    await assert_ledger_clean()
