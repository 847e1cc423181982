"""Statements and their invoices (issue 7 item 7) and the settlement hold (item 10, R-TIER-03), over a
month of real charging: a postpaid statement is invoiced once confirmed, deemed confirmed or past its
window after a dispute; statements show the VAT split; prepaid consumption is invoiced monthly when the
setting says so; a held partner still gets its statement while its true-up waits in settlement:held until
the hold lifts."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select

from openability.billing import holds, service
from openability.billing.models import ConsumptionInvoicing, HeldCredit, Invoice
from openability.billing.types import PaymentMethod
from openability.catalog import service as catalog
from openability.charging import rules as charging_rules
from openability.charging.cdr_writer import CdrWriter
from openability.charging.types import CdrRecord
from openability.kernel.clock import SHANGHAI, business_date
from openability.kernel.errors import Conflict
from openability.kernel.ids import new_id
from openability.kernel.uow import Actor
from openability.ledger.types import AccountType
from openability.partners.types import BillingMode, PartnerKind, Tier

D = Decimal
CLERK = Actor(type="operator", id="op_clerk", roles=frozenset({"billing_clerk"}), name="clerk")


async def write(
    container: Any, world: Any, rows: list[tuple[int, int, Decimal]], mode: str, band: str
) -> None:
    """November CDRs (day, segments, amount charged in real time) of the world's SMS product."""
    async with container.uow() as uow:
        rating = await catalog.product_rating(uow, world.products["sms"])
        assert rating is not None
        plan_id = rating.plans[0].plan_id
    writer = CdrWriter(container)
    await writer.start()
    try:
        for day, q, amount in rows:
            at = datetime(2026, 11, day, 12, tzinfo=SHANGHAI)
            await writer.write(
                CdrRecord(
                    new_id("cdr"), world.partner_id, world.products["sms"], "sms", "sendMessage", world.client_id,
                    new_id("req"), "", q, "segment", amount, mode, plan_id, band, "national", "2026-11", None,
                    at, business_date(at), ["+8613800138000"], {}, [],
                )
            )  # fmt: skip
    finally:
        await writer.stop()


async def postpaid_world(container: Any, kit: Any) -> Any:
    """A postpaid SI whose 100 segments real time charged 5.0000 at the list price; its certified band's
    exact price is 4.5000: true-up 0.5000, total 4.50."""
    w = await kit.make_world(
        container,
        kind=PartnerKind.SI,
        billing_mode=BillingMode.POSTPAID,
        tier=Tier.CERTIFIED,
        balance=D(0),
        caps=("sms",),
    )
    await write(container, w, [(8, 100, D("5.0000"))], "postpaid", "certified")
    return w


async def prepaid_world(container: Any, kit: Any) -> Any:
    """A prepaid AP charged 100.0400 in real time (two workers' month-to-date counts) for 2001 segments
    whose exact price is 90.0400: true-up 10.0000."""
    w = await kit.make_world(container, balance=D("500.0000"), caps=("sms",))
    async with container.uow() as uow:
        rating = await catalog.product_rating(uow, w.products["sms"])
        assert rating is not None
        tiers = rating.plans[0].tiers[("national", "list")]
    amounts = [
        charging_rules.graduated_amount(tiers, 0, 1),
        charging_rules.graduated_amount(tiers, 0, 1000),
        charging_rules.graduated_amount(tiers, 1, 1000),
    ]
    await write(
        container, w, [(2, 1, amounts[0]), (5, 1000, amounts[1]), (20, 1000, amounts[2])], "prepaid", "list"
    )
    return w


async def invoices_of(container: Any, partner_id: str) -> list[Invoice]:
    async with container.uow() as uow:
        return list(
            (await uow.session.scalars(select(Invoice).where(Invoice.partner_id == partner_id))).all()
        )


def pdf_text(data: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


async def test_a_confirmed_postpaid_statement_is_invoiced_and_statements_show_the_vat_split(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await postpaid_world(container, kit)
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    month.at(12, 3, 0, 1)
    await month.run("statement-issue")
    st = await month.statement_of(w)
    assert (st["total"], st["net"], st["tax"], st["vatRate"], st["invoiceNumber"]) == (
        "4.50",
        "4.25",
        "0.25",
        "0.06",
        None,
    )
    assert await invoices_of(container, w.partner_id) == []  # issued, not yet final
    month.at(12, 10, 9)
    r = await month.http.post(f"/api/v1/statements/{st['id']}/confirm", headers=month.partner(w))
    assert r.status_code == 200 and r.json()["invoiceNumber"] == "INV-202612-000001"
    (inv,) = await invoices_of(container, w.partner_id)
    assert (inv.kind.value, inv.period, inv.statement_id) == ("statement", "2026-11", st["id"])
    assert (inv.amount, inv.net, inv.tax) == (D("4.50"), D("4.25"), D("0.25"))
    r = await month.http.get("/api/v1/statements", headers=month.partner(w))
    (item,) = r.json()["items"]
    assert (item["net"], item["tax"], item["invoiceId"]) == ("4.25", "0.25", inv.id)
    r = await month.http.get(f"/api/v1/invoices/{inv.id}/pdf", headers=month.partner(w))
    text = pdf_text(r.content)
    assert "2026-11 月结算单" in text and "肆元伍角" in text and "certified/national" in text
    await month.run("deemed-confirmation", period="2026-11")  # later: no second invoice
    assert len(await invoices_of(container, w.partner_id)) == 1
    await assert_ledger_clean()


async def test_r_bill_04_deemed_and_disputed_postpaid_statements_are_invoiced_when_the_window_closes(
    month: Any, container: Any, kit: Any
) -> None:
    deemed = await postpaid_world(container, kit)
    disputed = await postpaid_world(container, kit)
    prepaid = await prepaid_world(container, kit)
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    month.at(12, 3, 0, 1)
    await month.run("statement-issue")
    st = await month.statement_of(disputed)
    r = await month.http.post(
        f"/api/v1/statements/{st['id']}/disputes",
        data={"partnerTotal": "4.00"},
        headers=month.partner(disputed),
    )
    assert r.status_code == 201, r.text
    assert await invoices_of(container, disputed.partner_id) == []
    month.at(12, 16, 0, 0, 1)
    await month.run("deemed-confirmation")
    (a,) = await invoices_of(container, deemed.partner_id)
    (b,) = await invoices_of(container, disputed.partner_id)
    assert a.amount == b.amount == D("4.50")  # the disputed statement stands as issued (R-BILL-06)
    assert await invoices_of(container, prepaid.partner_id) == []  # invoice_prepaid_mode=top_up: at top-up


async def test_monthly_mode_invoices_prepaid_consumption_once_less_what_was_invoiced_in_advance(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await kit.make_world(container, balance=D(0), caps=("sms",))
    month.at(11, 3, 10)
    async with container.uow(CLERK) as uow:  # invoiced when paid: in advance of the consumption
        p, _ = await service.create_payment(
            uow, w.partner_id, "adv-1", D("0.40"), PaymentMethod.BANK_TRANSFER, bank_reference="x"
        )
        await service.confirm_payment(uow, p.id)
    container.settings.invoice_prepaid_mode = "monthly"
    async with container.uow(CLERK) as uow:  # monthly on consumption: no invoice now
        p, _ = await service.create_payment(
            uow, w.partner_id, "adv-2", D("10.00"), PaymentMethod.BANK_TRANSFER, bank_reference="x"
        )
        await service.confirm_payment(uow, p.id)
    assert [i.amount for i in await invoices_of(container, w.partner_id)] == [D("0.40")]
    month.at(11, 12, 9)
    await month.send(w, 20)  # 20 × 0.05 = 1.00
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    month.at(12, 3, 0, 1)
    await month.run("statement-issue")
    month.at(12, 15, 23, 59)
    assert await month.run("prepaid-consumption-invoices") is None  # due when the 15th ends
    month.at(12, 16, 0, 0, 1)
    await month.run("deemed-confirmation")
    out = await month.run("prepaid-consumption-invoices")
    assert out == "1 prepaid statement(s) of 2026-11 or earlier invoiced on consumption: 1 invoice(s)"
    topup, consumption = sorted(await invoices_of(container, w.partner_id), key=lambda i: i.number)
    assert (topup.kind.value, topup.amount) == ("top_up", D("0.40"))
    assert (consumption.kind.value, consumption.period, consumption.amount, consumption.covered) == (
        "monthly_consumption",
        "2026-11",
        D("0.60"),
        D("0.40"),
    )
    assert (consumption.net, consumption.tax) == (D("0.57"), D("0.03"))
    assert await month.run("prepaid-consumption-invoices", period="2026-11", force=True) is not None
    assert len(await invoices_of(container, w.partner_id)) == 2  # once per statement
    async with container.uow() as uow:
        (row,) = (await uow.session.scalars(select(ConsumptionInvoicing))).all()
    assert (row.consumed, row.covered, row.invoice_id) == (D("1.00"), D("0.40"), consumption.id)
    r = await month.http.get(f"/api/v1/invoices/{consumption.id}/pdf", headers=month.partner(w))
    assert "已于充值时开票的预付款" in pdf_text(r.content)
    await assert_ledger_clean()


async def test_r_tier_03_a_held_partner_gets_its_statement_but_its_true_up_waits_until_the_hold_lifts(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await prepaid_world(container, kit)
    month.at(11, 25, 10)
    r = await month.http.post(
        f"/api/v1/partners/{w.partner_id}/settlement-hold",
        json={"reason": "信用评价末位 10%"},
        headers=month.operator,
    )
    assert r.status_code == 201, r.text
    before = await w.prepaid_total()
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    st = await month.statement_of(w)
    assert (st["trueUp"], st["total"]) == ("10.0000", "90.04")  # the statement is produced as ever
    assert await w.prepaid_total() == before  # its credit is not on the balance
    assert (await w.balances())[AccountType.SETTLEMENT_HELD] == D("10.0000")
    await assert_ledger_clean()  # R-BILL-10: Dr revenue / Cr settlement:held, balanced
    r = await month.http.get(f"/api/v1/partners/{w.partner_id}/settlement-hold", headers=month.partner(w))
    assert (r.json()["held"], r.json()["heldStatements"], r.json()["reason"]) == (
        "10.00",
        1,
        "信用评价末位 10%",
    )
    async with container.uow() as uow:
        try:
            await holds.check_payout_allowed(uow, w.partner_id)
            raise AssertionError("a payout to a held partner was allowed")
        except Conflict as exc:
            assert exc.code == "SETTLEMENT_HELD"
    month.at(12, 3, 0, 1)
    await month.run("statement-issue")
    r = await month.http.get("/api/v1/notifications", headers=month.partner(w))
    (issued,) = [n for n in r.json()["items"] if n["kind"] == "statement-issued"]
    assert "因结算暂停暂存" in issued["body"]

    month.at(12, 20, 10)
    r = await month.http.delete(f"/api/v1/partners/{w.partner_id}/settlement-hold", headers=month.operator)
    assert r.status_code == 200 and (r.json()["released"], r.json()["liftedBy"]) == ("10.00", "op_test")
    assert await w.prepaid_total() == before + D("10.0000")
    assert (await w.balances())[AccountType.SETTLEMENT_HELD] == D(0)
    async with container.uow() as uow:
        (held,) = (await uow.session.scalars(select(HeldCredit))).all()
        await holds.check_payout_allowed(uow, w.partner_id)  # no longer held
    assert held.released_at is not None and held.release_entry_id
    await assert_ledger_clean()  # R-BILL-10: the release is one balanced entry, moving exactly the held 10


async def test_r_tier_03_a_held_postpaid_receivable_comes_down_to_exact_only_when_the_hold_lifts(
    month: Any, container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await postpaid_world(container, kit)
    async with container.uow(CLERK) as uow:
        await holds.place_hold(uow, w.partner_id, "stop settlement")
    month.at(12, 1, 0, 1)
    await month.run("bill-run")
    assert (await w.balances())[AccountType.RECEIVABLE] == D("5.0000")  # the true-up waits
    assert (await w.balances())[AccountType.SETTLEMENT_HELD] == D("0.5000")
    await assert_ledger_clean()
    async with container.uow(CLERK) as uow:
        view = await holds.lift_hold(uow, w.partner_id, "next evaluation")
    assert view.released == D("0.5000")
    assert (await w.balances())[AccountType.RECEIVABLE] == D("4.5000")
    await assert_ledger_clean()


async def test_the_settlement_hold_is_set_and_lifted_by_billing_operators_and_audited(
    month: Any, container: Any, kit: Any
) -> None:
    from openability.kernel.audit import AuditEntry

    a = await kit.make_world(container, caps=("sms",))
    b = await kit.make_world(container, caps=("sms",))
    url = f"/api/v1/partners/{a.partner_id}/settlement-hold"
    body = {"reason": "R-TIER-03"}
    assert (await month.http.get(url, headers=month.operator)).json()["code"] == "NOT_HELD"
    assert (await month.http.post(url, json=body, headers=month.partner(a))).status_code == 403
    assert (
        await month.http.post(url, json=body, headers={"X-Test-Actor": "operator:reviewer"})
    ).status_code == 403
    assert (await month.http.post(url, json={"reason": "   "}, headers=month.operator)).status_code == 400
    assert (
        await month.http.post(url, json=body, headers={"X-Test-Actor": "operator:billing_clerk"})
    ).status_code == 201
    r = await month.http.post(url, json=body, headers=month.operator)
    assert r.status_code == 409 and r.json()["code"] == "ALREADY_HELD"
    assert (await month.http.get(url, headers=month.partner(b))).status_code == 404  # another partner's
    assert (await month.http.get(url, headers=month.partner(a))).status_code == 200
    assert (await month.http.delete(url, headers=month.partner(a))).status_code == 403
    assert (await month.http.delete(url, headers=month.operator)).status_code == 200
    r = await month.http.delete(url, headers=month.operator)
    assert r.status_code == 409 and r.json()["code"] == "NOT_HELD"
    async with container.uow() as uow:
        actions = (
            await uow.session.scalars(
                select(AuditEntry.action).where(AuditEntry.partner_id == a.partner_id).order_by(AuditEntry.at)
            )
        ).all()
    assert [x for x in actions if x.startswith("settlement_hold.")] == [
        "settlement_hold.placed",
        "settlement_hold.lifted",
    ]
