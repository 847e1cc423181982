"""Invoices of prepaid money and the official fapiao (issue 7 item 7): the VAT split and the buyer's invoice
profile on the invoice, the PDF with its Chinese text, the notice with the PDF attached, R-BILL-01 in both
invoice_prepaid_modes, the fapiao number entered and imported, partner isolation, numbering under
concurrency. Statement invoices are in tests/billing/statements/test_invoices_and_holds.py."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request
from pypdf import PdfReader
from sqlalchemy import func, select
from typer.testing import CliRunner

from openability.billing import invoices, service
from openability.billing.models import Invoice
from openability.billing.types import InvoiceKind, PaymentMethod, PaymentPurpose
from openability.bootstrap import Container, build_container
from openability.kernel.audit import AuditEntry
from openability.kernel.db import make_engine
from openability.kernel.errors import InvalidArgument
from openability.kernel.notify import Notification, NotificationAttachment
from openability.kernel.uow import Actor
from openability.partners.rules import PARTNER_ROLE_PREFIX
from support_direct_partners import fake_authenticator

D = Decimal
CLERK = Actor(type="operator", id="op_clerk", roles=frozenset({"billing_clerk"}), name="clerk")
CODE = "91350100M000100Y43"
SPECIAL = {
    "buyerName": "福州示例科技有限公司",
    "creditCode": CODE,
    "bankName": "中国工商银行福州分行",
    "bankAccount": "1402 0230 0920 0123 456",
    "address": "福州市鼓楼区五四路 1 号",
    "phone": "0591-88888888",
    "invoiceType": "special",
}


async def authn(request: Request) -> Actor | None:
    """The shared fake actors, plus `puser:<partner>:<role>`: a partner user with one partner role."""
    who = request.headers.get("x-test-actor", "")
    if who.startswith("puser:"):
        _, pid, role = who.split(":")
        return Actor(
            type="partner_user",
            id=f"pu_{pid}_{role}",
            partner_id=pid,
            roles=frozenset({PARTNER_ROLE_PREFIX + role}),
        )
    return await fake_authenticator(request)


@pytest.fixture
async def http(api: httpx.AsyncClient, container: Container) -> httpx.AsyncClient:
    container.authenticator = authn
    return api


def user(pid: str, role: str = "finance") -> dict[str, str]:
    return {"X-Test-Actor": f"puser:{pid}:{role}"}


OPERATOR = {"X-Test-Actor": "operator:billing_clerk"}


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def pay(container: Container, pid: str, amount: str, tx: str) -> str:
    """A bank transfer a billing clerk confirms: returns the payment id."""
    async with container.uow(CLERK) as uow:
        p, _ = await service.create_payment(
            uow, pid, tx, D(amount), PaymentMethod.BANK_TRANSFER, bank_reference="ICBC"
        )
    async with container.uow(CLERK) as uow:
        await service.confirm_payment(uow, p.id)
    return p.id


async def invoice_count(container: Container) -> int:
    async with container.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Invoice)) or 0)


async def test_a_top_up_invoice_splits_the_vat_and_is_made_out_to_the_invoice_profile(
    http: httpx.AsyncClient, container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")
    r = await http.put(f"/api/v1/partners/{ap.id}/invoice-profile", json=SPECIAL, headers=user(ap.id))
    assert r.status_code == 200, r.text
    await pay(container, ap.id, "106.00", "bank-1")
    r = await http.get("/api/v1/invoices", headers=user(ap.id))
    (inv,) = r.json()["items"]
    assert (inv["number"], inv["kind"], inv["month"], inv["state"]) == (
        "INV-202611-000001",
        "top_up",
        "2026-11",
        "issued",
    )
    assert (inv["amount"], inv["net"], inv["tax"], inv["vatRate"]) == ("106.00", "100.00", "6.00", "0.06")
    assert (inv["title"], inv["invoiceType"], inv["buyerCreditCode"]) == (
        SPECIAL["buyerName"],
        "special",
        CODE,
    )
    assert inv["buyerBankAccount"] == "1402023009200123456" and inv["fapiaoNumber"] is None
    # the profile changes later: the invoice keeps the buyer as it was
    later = SPECIAL | {"buyerName": "福州示例科技股份有限公司"}
    assert (
        await http.put(f"/api/v1/partners/{ap.id}/invoice-profile", json=later, headers=user(ap.id))
    ).status_code == 200
    r = await http.get(f"/api/v1/invoices/{inv['id']}", headers=user(ap.id))
    assert r.json()["title"] == SPECIAL["buyerName"]

    r = await http.get(inv["pdfUrl"], headers=user(ap.id))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == 'attachment; filename="INV-202611-000001.pdf"'
    text = pdf_text(r.content)
    for expected in (
        "INV-202611-000001",
        "福州示例科技有限公司",
        CODE,
        "中国工商银行福州分行 1402023009200123456",
        "增值税专用发票",
        "价税合计（大写）",
        "壹佰零陆元整",
        "¥100.00",
        "¥6.00",
        "6%",
        "能力开放平台运营方",
        "待税务系统开具",
    ):
        assert expected in text, expected
    await assert_ledger_clean()


async def test_the_invoice_notice_carries_the_pdf_and_the_email_attaches_it(
    container: Container, make_partner: Any
) -> None:
    from openability.notifications import rules as mail_rules
    from openability.notifications import service as notifications

    ap = await make_partner("AP", name="示例应用有限公司")
    await pay(container, ap.id, "64.00", "bank-2")
    async with container.uow() as uow:
        (n,) = (
            await uow.session.scalars(select(Notification).where(Notification.kind == "invoice-issued"))
        ).all()
        (att,) = (await uow.session.scalars(select(NotificationAttachment))).all()
    assert (n.recipient_type, n.recipient_id) == ("partner", ap.id)
    assert "INV-202611-000001" in n.subject and "64.00" in n.subject
    assert "价税合计 ¥64.00（金额 ¥60.38，税率 6%，税额 ¥3.62）" in n.body
    assert (att.notification_id, att.filename, att.content_type) == (
        n.id,
        "INV-202611-000001.pdf",
        "application/pdf",
    )
    assert "示例应用有限公司" in pdf_text(att.content) and "陆拾肆元整" in pdf_text(att.content)
    # the delivery claims the notice with its file, and the email carries it as a PDF part
    from datetime import timedelta

    async with container.uow() as uow:
        claimed = await notifications.claim_due(uow, "t", limit=10, lease=timedelta(minutes=5))
    (item,) = [c for c in claimed if c.id == n.id]
    msg = mail_rules.compose(
        notification_id=item.id,
        to="finance@example.cn",
        from_address="openability <noreply@example.cn>",
        subject=item.subject,
        body=item.body,
        inbox_url="http://x/console/portal/notifications",
        now=container.clock.now(),
        attachments=item.attachments,
    )
    assert msg.get_content_type() == "multipart/mixed"
    (part,) = list(msg.iter_attachments())
    assert part.get_content_type() == "application/pdf" and part.get_filename() == "INV-202611-000001.pdf"
    assert part.get_content() == att.content


async def test_the_invoice_profile_is_validated_and_set_by_admin_or_finance_users_or_a_clerk(
    http: httpx.AsyncClient, container: Container, make_partner: Any
) -> None:
    ap = await make_partner("AP", name="示例应用有限公司")
    other = await make_partner("AP")
    url = f"/api/v1/partners/{ap.id}/invoice-profile"
    r = await http.get(url, headers=user(ap.id, "developer"))
    assert r.status_code == 200
    assert (r.json()["buyerName"], r.json()["invoiceType"], r.json()["saved"]) == (
        "示例应用有限公司",
        "general",
        False,
    )
    r = await http.put(url, json={"buyerName": "示例", "invoiceType": "special"}, headers=user(ap.id))
    assert r.status_code == 400 and r.json()["code"] == "INVALID_INVOICE_PROFILE"
    assert all(
        f in r.json()["message"] for f in ("creditCode", "bankName", "bankAccount", "address", "phone")
    )
    r = await http.put(url, json=SPECIAL | {"creditCode": "91350100M000100Y44"}, headers=user(ap.id))
    assert r.status_code == 400 and "creditCode" in r.json()["message"]
    assert (await http.get(url, headers=user(ap.id))).json()["saved"] is False  # nothing written
    assert (await http.put(url, json=SPECIAL, headers=user(ap.id, "developer"))).status_code == 403
    assert (await http.put(url, json=SPECIAL, headers=user(other.id, "admin"))).status_code == 404
    assert (await http.get(url, headers=user(other.id, "admin"))).status_code == 404
    assert (await http.put(url, json=SPECIAL, headers=user(ap.id, "admin"))).status_code == 200
    r = await http.put(url, json=SPECIAL | {"invoiceType": "general"}, headers=OPERATOR)
    assert r.status_code == 200 and r.json()["saved"] and r.json()["updatedBy"] == "op_billing_clerk"
    async with container.uow() as uow:
        rows = (
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.action == "invoice_profile.updated")
            )
        ).all()
    assert len(rows) == 2
    assert "1402023009200123456" not in str(rows[0].after)  # the account is masked in the trail


@pytest.mark.parametrize("mode", ["top_up", "monthly"])
async def test_r_bill_01_a_prepaid_si_opens_only_after_its_top_up_invoice_in_either_mode(
    container: Container, make_partner: Any, mode: str, assert_ledger_clean: Any
) -> None:
    container.settings.invoice_prepaid_mode = mode  # type: ignore[assignment]
    si = await make_partner("SI", status="pending", billing_mode="prepaid")
    await pay(container, si.id, "500.00", "contract-1")
    async with container.uow() as uow:
        (inv,) = (await uow.session.scalars(select(Invoice).where(Invoice.partner_id == si.id))).all()
        from openability.partners import service as partners

        assert (await partners.partner_ref(uow, si.id)).status.value == "active"
        note = await uow.session.scalar(
            select(AuditEntry.note).where(
                AuditEntry.partner_id == si.id, AuditEntry.note.contains("R-BILL-01")
            )
        )
    assert (
        inv.kind == InvoiceKind.TOP_UP
        and inv.amount == D("500.00")
        and f"invoice {inv.number}" in (note or "")
    )
    # later top-ups: invoiced when paid ("top_up"), or monthly on consumption ("monthly": none now)
    await pay(container, si.id, "100.00", "later-1")
    assert await invoice_count(container) == (2 if mode == "top_up" else 1)
    await assert_ledger_clean()


async def test_a_deposit_is_no_sale_and_gets_no_invoice(container: Container, make_partner: Any) -> None:
    si = await make_partner("SI", status="pending", billing_mode="postpaid")
    async with container.uow(CLERK) as uow:
        p, _ = await service.create_payment(
            uow, si.id, "dep-1", D("5000"), PaymentMethod.BANK_TRANSFER, PaymentPurpose.DEPOSIT, "ICBC"
        )
    async with container.uow(CLERK) as uow:
        await service.confirm_payment(uow, p.id)
    assert await invoice_count(container) == 0


async def test_the_fapiao_number_is_recorded_by_a_billing_clerk(
    http: httpx.AsyncClient, container: Container, make_partner: Any
) -> None:
    ap = await make_partner("AP")
    await pay(container, ap.id, "10.00", "f-1")
    await pay(container, ap.id, "20.00", "f-2")
    first, second = "INV-202611-000001", "INV-202611-000002"
    url = f"/api/v1/invoices/{first}/fapiao"
    body = {"fapiaoNumber": "26112000000000000001", "fapiaoDate": "2026-11-02"}
    assert (await http.post(url, json=body, headers=user(ap.id, "admin"))).status_code == 403
    assert (await http.post(url, json=body, headers={"X-Test-Actor": "operator:reviewer"})).status_code == 403
    for bad in (
        {"fapiaoNumber": "12AB5678", "fapiaoDate": "2026-11-02"},
        body | {"fapiaoDate": "2026-11-03"},
    ):
        r = await http.post(url, json=bad, headers=OPERATOR)
        assert r.status_code == 400 and r.json()["code"] == "INVALID_FAPIAO", r.text
    r = await http.post(url, json=body, headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["fapiaoNumber"], r.json()["fapiaoDate"]) == (
        "fapiao_recorded",
        "26112000000000000001",
        "2026-11-02",
    )
    assert (await http.post(url, json=body, headers=OPERATOR)).status_code == 200  # the same again
    r = await http.post(url, json=body | {"fapiaoNumber": "26112000000000000009"}, headers=OPERATOR)
    assert r.status_code == 409 and r.json()["code"] == "FAPIAO_RECORDED"
    r = await http.post(f"/api/v1/invoices/{second}/fapiao", json=body, headers=OPERATOR)
    assert r.status_code == 409 and r.json()["code"] == "FAPIAO_NUMBER_TAKEN"
    assert (
        await http.post("/api/v1/invoices/INV-209901-000001/fapiao", json=body, headers=OPERATOR)
    ).status_code == 404
    r = await http.get(f"/api/v1/invoices/{first}/pdf", headers=user(ap.id))
    assert "26112000000000000001（2026-11-02）" in pdf_text(r.content)
    r = await http.get("/api/v1/invoices", params={"state": "issued"}, headers=user(ap.id))
    assert [i["number"] for i in r.json()["items"]] == [second]
    async with container.uow() as uow:
        (row,) = (
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.action == "invoice.fapiao_recorded")
            )
        ).all()
    assert row.actor_id == "op_billing_clerk" and row.after["fapiao_number"] == "26112000000000000001"


async def test_the_fapiao_import_records_all_rows_or_none(container: Container, make_partner: Any) -> None:
    ap = await make_partner("AP")
    await pay(container, ap.id, "10.00", "i-1")
    await pay(container, ap.id, "20.00", "i-2")
    bad = (
        "invoice,fapiao,date\nINV-202611-000001,11111111,2026-11-02\nINV-202611-000099,22222222,2026-11-02\n"
    )
    async with container.uow(CLERK) as uow:
        with pytest.raises(InvalidArgument) as exc:
            await invoices.import_fapiao(uow, bad)
    assert (
        exc.value.code == "INVALID_FAPIAO_IMPORT"
        and "line 3: no invoice INV-202611-000099" in exc.value.message
    )
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).where(Invoice.fapiao_number.is_not(None))) == 0
    good = "INV-202611-000001,11111111,2026-11-02\nINV-202611-000002,22222222,2026/11/02\n"
    async with container.uow(CLERK) as uow:
        assert await invoices.import_fapiao(uow, good) == invoices.ImportResult(2, 0)
    async with container.uow(CLERK) as uow:
        assert await invoices.import_fapiao(uow, good) == invoices.ImportResult(0, 2)
    conflicting = "INV-202611-000002,33333333,2026-11-02\n"
    async with container.uow(CLERK) as uow:
        with pytest.raises(InvalidArgument, match="already has fapiao 22222222"):
            await invoices.import_fapiao(uow, conflicting)


def test_the_fapiao_import_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`openability billing fapiao-import FILE` against a SQLite file: recorded, audited, all or none."""
    from openability.cli import app
    from openability.config import Settings
    from openability.kernel.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("OPENABILITY_DATABASE_URL", url)
    monkeypatch.setenv("OPENABILITY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    async def setup() -> None:
        from openability.partners.models import Partner
        from openability.partners.types import BillingMode, PartnerKind, PartnerStatus, Scope

        c = build_container(Settings(database_url=url, _env_file=None), engine=make_engine(url))  # type: ignore[call-arg]
        try:
            async with c.uow() as uow:
                uow.session.add(
                    Partner(
                        id="ptn_cli",
                        kind=PartnerKind.AP,
                        name="命令行伙伴",
                        billing_mode=BillingMode.PREPAID,
                        status=PartnerStatus.ACTIVE,
                        scope=Scope.NATIONAL,
                        created_at=uow.now,
                        updated_at=uow.now,
                    )
                )
            await pay(c, "ptn_cli", "10.00", "cli-1")
        finally:
            await c.engine.dispose()

    asyncio.run(setup())
    number = f"INV-{date.today():%Y%m}-000001"
    (tmp_path / "bad.csv").write_text(f"{number},1234,2026-01-05\n", encoding="utf-8")
    (tmp_path / "good.csv").write_text(
        f"发票号,税务发票号码,日期\n{number},12345678,2026-01-05\n", encoding="utf-8"
    )
    runner = CliRunner()
    r = runner.invoke(app, ["billing", "fapiao-import", str(tmp_path / "bad.csv")])
    assert r.exit_code == 1 and "INVALID_FAPIAO_IMPORT" in r.output and "line 1" in r.output
    r = runner.invoke(app, ["billing", "fapiao-import", str(tmp_path / "good.csv")])
    assert r.exit_code == 0, r.output
    assert "1 fapiao number(s) recorded, 0 already recorded" in r.output


async def test_a_partner_sees_only_its_own_invoices(
    http: httpx.AsyncClient, container: Container, make_partner: Any
) -> None:
    a = await make_partner("AP")
    b = await make_partner("AP")
    await pay(container, a.id, "10.00", "a-1")
    await pay(container, b.id, "20.00", "b-1")
    b_number = "INV-202611-000002"
    for path in (f"/api/v1/invoices/{b_number}", f"/api/v1/invoices/{b_number}/pdf"):
        r = await http.get(path, headers=user(a.id))
        assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND", path
    r = await http.get("/api/v1/invoices", headers=user(a.id))
    assert [i["partnerId"] for i in r.json()["items"]] == [a.id]
    assert (
        await http.get("/api/v1/invoices", params={"partner_id": b.id}, headers=user(a.id))
    ).status_code == 404
    r = await http.get("/api/v1/invoices", params={"kind": "top_up", "month": "2026-11"}, headers=OPERATOR)
    assert r.json()["total"] == 2
    assert (
        await http.get("/api/v1/invoices", params={"month": "2026-13"}, headers=OPERATOR)
    ).status_code == 400


class Boom(Exception):
    pass


@pytest.mark.postgres_only
async def test_invoice_numbers_are_gap_free_under_concurrency(
    container: Container, make_partner: Any, db: Any, assert_ledger_clean: Any
) -> None:
    """Confirmations on two connection pools at once, one in four rolled back after its invoice was
    numbered: the committed invoices are numbered 1..n, each once, no gaps."""
    partners = [await make_partner("AP") for _ in range(6)]
    payments = []
    for i in range(24):
        async with container.uow(CLERK) as uow:
            p, _ = await service.create_payment(
                uow, partners[i % 6].id, f"c-{i}", D("10.00"), PaymentMethod.BANK_TRANSFER, bank_reference="x"
            )
            payments.append(p.id)
    other = build_container(
        container.settings, clock=container.clock, engine=make_engine(db.url, search_path=db.schema)
    )

    async def confirm(i: int, pid: str) -> bool:
        try:
            async with (container, other)[i % 2].uow(CLERK) as uow:
                await service.confirm_payment(uow, pid)
                if i % 4 == 3:
                    raise Boom
        except Boom:
            return False
        return True

    try:
        done = await asyncio.gather(*(confirm(i, pid) for i, pid in enumerate(payments)))
    finally:
        await other.engine.dispose()
    async with container.uow() as uow:
        numbers = sorted((await uow.session.scalars(select(Invoice.number))).all())
    assert len(numbers) == sum(done) == 18
    assert numbers == [f"INV-202611-{n:06d}" for n in range(1, 19)]
    await assert_ledger_clean()
