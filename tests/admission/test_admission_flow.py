"""Admission end to end through the API, on the test clock (kernel/testclock.py) moved by the admin:
an applicant registers, uploads, submits; a reviewer judges the checklist and approves; the contract is
recorded; a prepaid SI is activated when its payment is confirmed with its invoice issued (R-BILL-01),
a postpaid SI when its deposit is received (R-ADMIT-05); an expired certificate blocks activation
until a renewed one is uploaded (R-ADMIT-01)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from admission_support import FULL_CHECKLIST, Applicant, Ops, approve, register

from openability.bootstrap import Container
from openability.config import Settings
from openability.kernel.notify import Notification


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        smsc_enabled=False,
        run_test_smsc=False,
        run_scheduler=False,
        test_clock=True,
        _env_file=None,
    )


async def move_clock(client: httpx.AsyncClient, ops: Ops, to: datetime, *applicants: Applicant) -> None:
    r = await client.post("/api/v1/test/clock", json={"now": to.isoformat()}, headers=ops.admin)
    assert r.status_code == 200, r.text
    for a in applicants:
        await a.login()


async def pay(
    client: httpx.AsyncClient, ops: Ops, headers: dict[str, str], tx: str, amount: str, purpose: str
) -> str:
    r = await client.post(
        "/api/v1/payments",
        json={"transactionId": tx, "amount": amount, "method": "bank_transfer", "purpose": purpose},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    c = await client.post(f"/api/v1/payments/{pid}/confirm", headers=ops.clerk)
    assert c.status_code == 200, c.text
    return str(pid)


async def partner(client: httpx.AsyncClient, headers: dict[str, str], pid: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/partners/{pid}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def notices(container: Container, pid: str) -> list[str]:
    from sqlalchemy import select

    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(Notification.kind)
            .where(Notification.recipient_id == pid)
            .order_by(Notification.created_at)
        )
        return list(rows.all())


def codes(items: list[dict[str, Any]]) -> list[str]:
    return [i["code"] for i in items]


async def test_r_admit_05_a_prepaid_si_from_application_to_active(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, assert_ledger_clean: Any
) -> None:
    c = app_client
    a = await register(c, 1)
    view = await a.view()
    assert view["state"] == "draft" and (await partner(c, a.headers, a.partner_id))["status"] == "applicant"
    # the automatic checks say what is missing before anything is submitted
    assert codes(view["checks"]) == ["CERTIFICATE_MISSING"] * 4 + ["BUSINESS_PLAN_MISSING"]
    r = await a.submit()
    assert r.status_code == 422 and r.json()["code"] == "ADMISSION_CHECKS_FAILED"
    assert codes(r.json()["details"]["failures"]) == codes(view["checks"])

    await a.upload_all()
    r = await a.submit()
    assert r.status_code == 200 and r.json()["state"] == "submitted", r.text

    queue = await c.get("/api/v1/applications", params={"state": "submitted"}, headers=ops.reviewer)
    assert [x["id"] for x in queue.json()["items"]] == [a.application_id]

    await move_clock(c, ops, datetime(2026, 11, 4, 2, 0, tzinfo=UTC), a)  # two days in the queue
    url = f"/api/v1/applications/{a.application_id}"
    r = await c.post(f"{url}/decision", json={"decision": "approve"}, headers=ops.reviewer)
    assert r.status_code == 422 and r.json()["code"] == "CHECKLIST_INCOMPLETE", r.text  # R-ADMIT-04
    r = await c.post(
        f"{url}/decision", json={"decision": "approve", "checklist": FULL_CHECKLIST}, headers=ops.reviewer
    )
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    assert r.json()["decidedAt"].startswith("2026-11-04")
    view = await a.view()
    assert {(x["item"], x["reviewerName"]) for x in view["checklist"]} == {
        ("compliance", "审核员王"),
        ("industry_expertise", "审核员王"),
        ("service_system", "审核员王"),
    }

    contract = {
        "number": "SI-2026-001",
        "billingMode": "prepaid",
        "priceBand": "close",
        "validFrom": "2026-11-04",
        "validTo": "2027-11-03",
    }
    r = await c.post(f"{url}/contract", json={**contract, "deposit": "1000.00"}, headers=ops.reviewer)
    assert r.status_code == 422 and r.json()["code"] == "ONE_BILLING_MODE"  # R-PARTNER-02
    r = await c.post(f"{url}/contract", json=contract, headers=ops.reviewer)
    assert r.status_code == 201, r.text
    view = await a.view()
    assert view["state"] == "contracted" and codes(view["activationBlockers"]) == ["PAYMENT_PENDING"]
    # not active yet: no orders
    r = await c.post("/api/v1/orders", json={"productId": "sms-standard"}, headers=a.headers)
    assert r.status_code in (404, 422), r.text

    await move_clock(c, ops, datetime(2026, 11, 6, 2, 0, tzinfo=UTC), a)
    payment_id = await pay(c, ops, a.headers, "si1-first", "1000.00", "top_up")
    view = await a.view()
    assert view["state"] == "active" and view["activatedAt"].startswith("2026-11-06")
    assert view["contracts"][0]["state"] == "inForce"
    p = await partner(c, a.headers, a.partner_id)
    assert p["status"] == "active" and p["tier"] == "close" and p["billingMode"] == "prepaid"
    invoices = (await c.get("/api/v1/invoices", headers=a.headers)).json()["items"]
    assert [i["paymentId"] for i in invoices] == [payment_id]
    # every act is in the history (the rows of one transaction share its time, their order among them is open)
    actions = sorted(h["action"] for h in view["history"])
    assert actions == sorted(
        [
            "application.created",
            *["application.document_added"] * 5,
            "application.submitted",
            "application.underReview",
            *["application.checklist"] * 3,
            "application.approved",
            "application.contracted",
            "contract.recorded",
            "application.active",
        ]
    )
    kinds = await notices(container, a.partner_id)
    for k in (
        "admission.submitted",
        "admission.review",
        "admission.approve",
        "admission.contracted",
        "admission.active",
    ):
        assert k in kinds
    await assert_ledger_clean()


async def test_r_admit_05_a_postpaid_local_si_is_activated_when_its_deposit_is_received(
    app_client: httpx.AsyncClient, container: Container, ops: Ops, assert_ledger_clean: Any
) -> None:
    c = app_client
    a = await register(c, 2, billingMode="postpaid", scope="local")
    await a.upload_all()
    r = await a.submit()
    assert r.status_code == 422
    assert set(codes(r.json()["details"]["failures"])) == {
        "LOCAL_RESOURCES_MISSING",
        "LOCAL_EVIDENCE_MISSING",
    }
    r = await c.patch(
        f"/api/v1/applications/{a.application_id}",
        json={
            "localCustomerResources": "本市政企客户 40 家",
            "localPromotionResources": "本地营业厅合作 15 个",
        },
        headers=a.headers,
    )
    assert r.status_code == 200, r.text
    for kind in ("local_customer_evidence", "local_promotion_evidence"):
        assert (await a.upload(kind, number="", issuer="", valid_from="", valid_to="")).status_code == 201
    assert (await a.submit()).status_code == 200
    url = f"/api/v1/applications/{a.application_id}"
    assert (await c.post(f"{url}/review", headers=ops.reviewer)).json()["state"] == "underReview"
    await approve(c, ops, a.application_id)
    body = {
        "number": "SI-2026-002",
        "billingMode": "postpaid",
        "validFrom": "2026-11-02",
        "validTo": "2027-11-01",
    }
    r = await c.post(f"{url}/contract", json=body, headers=ops.reviewer)
    assert r.status_code == 422 and r.json()["code"] == "DEPOSIT_REQUIRED"
    r = await c.post(f"{url}/contract", json={**body, "deposit": "50000.00"}, headers=ops.reviewer)
    assert r.status_code == 201, r.text

    await move_clock(c, ops, datetime(2026, 11, 9, 2, 0, tzinfo=UTC), a)
    await pay(c, ops, a.headers, "si2-dep-1", "20000.00", "deposit")
    view = await a.view()
    assert view["state"] == "contracted"
    assert codes(view["activationBlockers"]) == ["DEPOSIT_PENDING"]
    assert "admission.activation_blocked" in await notices(container, a.partner_id)
    await pay(c, ops, a.headers, "si2-dep-2", "30000.00", "deposit")
    view = await a.view()
    assert view["state"] == "active"
    p = await partner(c, a.headers, a.partner_id)
    assert (p["status"], p["billingMode"], p["scope"]) == ("active", "postpaid", "local")
    bal = (await c.get(f"/api/v1/accounts/{a.partner_id}", headers=a.headers)).json()
    assert Decimal(bal["deposit"]) == Decimal("50000")
    await assert_ledger_clean()


async def test_r_admit_01_a_certificate_expired_by_activation_blocks_it_until_renewed(
    app_client: httpx.AsyncClient, container: Container, ops: Ops
) -> None:
    c = app_client
    a = await register(c, 3)
    await a.upload_all(valid_to="2026-11-20")
    assert (await a.submit()).status_code == 200
    await approve(c, ops, a.application_id)
    url = f"/api/v1/applications/{a.application_id}"
    body = {
        "number": "SI-2026-003",
        "billingMode": "prepaid",
        "validFrom": "2026-11-02",
        "validTo": "2027-11-01",
    }
    assert (await c.post(f"{url}/contract", json=body, headers=ops.reviewer)).status_code == 201

    await move_clock(
        c, ops, datetime(2026, 11, 25, 2, 0, tzinfo=UTC), a
    )  # the certificates expired on the 20th
    await pay(c, ops, a.headers, "si3-first", "500.00", "top_up")
    view = await a.view()
    assert view["state"] == "contracted"
    assert codes(view["activationBlockers"]) == ["CERTIFICATE_EXPIRED"] * 4
    r = await c.post(f"{url}/activate", headers=ops.reviewer)
    assert r.status_code == 422 and r.json()["code"] == "ACTIVATION_BLOCKED"
    # renewed certificates are accepted on a contracted application; other materials are not
    assert (
        await a.upload("business_plan", number="", issuer="", valid_from="", valid_to="")
    ).status_code == 409
    for kind in ("business_licence", "bank_account_permit", "tax_registration", "org_code_certificate"):
        r = await a.upload(kind, number=f"{kind}-2", valid_from="2026-11-21", valid_to="2031-11-20")
        assert r.status_code == 201, r.text
    r = await c.post(f"{url}/activate", headers=ops.reviewer)
    assert r.status_code == 200 and r.json()["state"] == "active", r.text
    assert (await partner(c, a.headers, a.partner_id))["status"] == "active"
