"""R-BILL-08/R-BILL-10 and R-BILL-07's payments: the unpaid amount taken from the deposit in one balanced
deposit_deduction entry; statement payments by bank transfer confirmed by a clerk (Dr cash / Cr
receivable), partial payments, over-payments refused; the ledger audit clean throughout."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.ledger.models import Account, JournalEntry, JournalLine
from openability.ledger.types import AccountType, EntryKind

D = Decimal


async def entry_lines(container: Any, kind: EntryKind) -> list[tuple[JournalEntry, dict[str, Decimal]]]:
    """Entries of a kind, each with its lines by account type."""
    async with container.uow() as uow:
        entries = (await uow.session.scalars(select(JournalEntry).where(JournalEntry.kind == kind))).all()
        out = []
        for e in entries:
            rows = (
                await uow.session.execute(
                    select(Account.owner_id, Account.type, JournalLine.amount)
                    .join(Account, Account.id == JournalLine.account_id)
                    .where(JournalLine.entry_id == e.id)
                )
            ).all()
            out.append((e, {f"{t.value}": a for _o, t, a in rows}))
        return out


async def test_r_bill_08_the_unpaid_amount_is_taken_from_the_deposit_in_one_balanced_entry(
    office: Any, container: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("100.00"))
    (sid,) = await office.november(w)
    assert (await w.balances())[AccountType.RECEIVABLE] == D("4.5000")
    office.m.at(12, 27, 0, 0, 5)
    await office.m.run("collections")

    (entry, lines) = (await entry_lines(container, EntryKind.DEPOSIT_DEDUCTION))[0]
    assert (entry.ref_type, entry.ref_id) == ("statement_deduction", sid)
    assert lines == {"deposit": D("4.5000"), "receivable": D("-4.5000")}  # Dr deposit / Cr receivable
    b = await w.balances()
    assert (b[AccountType.DEPOSIT], b[AccountType.RECEIVABLE]) == (D("95.5000"), D("0.0000"))
    r = await office.http.get(f"/api/v1/partners/{w.partner_id}/deposit", headers=office.user(w))
    assert r.json() == {
        "partnerId": w.partner_id,
        "currency": "CNY",
        "deposit": "95.5000",
        "required": "100.0000",  # the first deposit paid, no clerk's figure
        "requiredSet": False,
        "shortfall": "4.5000",
        "arrears": "0.0000",
        "suspendedForArrears": False,
    }
    (n,) = await office.notices("deposit-deducted")
    assert n.recipient_id == w.partner_id and "4.50" in n.subject and "补足保证金 ¥4.50" in n.body
    assert await office.status(w) == "active"  # the deposit covered it: no suspension
    await assert_ledger_clean()


async def test_r_bill_07_partial_statement_payments_confirmed_by_a_clerk_settle_the_statement(
    office: Any, container: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("100.00"))
    (sid,) = await office.november(w)
    office.m.at(12, 18, 10)
    first = await office.notice(w, sid, "2.00", ref="ICBC-1", tx="stm-pay-1")
    assert first.status_code == 201, first.text
    again = await office.notice(w, sid, "2.00", ref="ICBC-1", tx="stm-pay-1")
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])  # a retry, not a second
    assert (await office.due(w))["noticesPending"] == 1
    assert (
        await office.http.post(f"/api/v1/payments/{first.json()['id']}/confirm", headers=office.user(w))
    ).status_code == 403
    r = await office.confirm(first.json()["id"])
    assert (r.status_code, r.json()["state"], r.json()["invoiceNumber"]) == (200, "confirmed", None)
    due = await office.due(w)
    assert (due["state"], due["paid"], due["unpaid"]) == ("partially_paid", "2.00", "2.50")
    assert (await w.balances())[AccountType.RECEIVABLE] == D("2.5000")

    second = await office.notice(w, sid, "2.50", ref="ICBC-2")
    assert (await office.confirm(second.json()["id"])).status_code == 200
    due = await office.due(w)
    assert (due["state"], due["paid"], due["unpaid"]) == ("paid", "4.50", "0.00")
    stmt = (await office.http.get(f"/api/v1/statements/{sid}", headers=office.user(w))).json()
    assert stmt["state"] == "settled"
    payments = await entry_lines(container, EntryKind.PAYMENT)
    assert sorted(lines["receivable"] for _e, lines in payments) == [D("-2.5000"), D("-2.0000")]
    assert all(lines["cash"] == -lines["receivable"] for _e, lines in payments)  # Dr cash / Cr receivable
    office.m.at(12, 27, 0, 0, 5)
    assert "0 statement(s) collected" in (await office.m.run("collections"))  # nothing left to take
    assert (await w.balances())[AccountType.DEPOSIT] == D("100.0000")
    await assert_ledger_clean()


async def test_r_bill_07_an_over_payment_is_refused_and_posts_nothing(
    office: Any, assert_ledger_clean: Any
) -> None:
    w = await office.postpaid(D("100.00"))
    (sid,) = await office.november(w)
    office.m.at(12, 18, 10)
    r = await office.notice(w, sid, "4.51")
    assert (r.status_code, r.json()["code"]) == (422, "OVERPAYMENT")
    assert "4.50 unpaid" in r.json()["message"]
    # Two notices for the unpaid 4.50 (both fine when filed): the second confirmation would over-pay.
    a = (await office.notice(w, sid, "3.00")).json()["id"]
    b = (await office.notice(w, sid, "3.00")).json()["id"]
    assert (await office.confirm(a)).status_code == 200
    r = await office.confirm(b)
    assert (r.status_code, r.json()["code"]) == (422, "OVERPAYMENT")
    assert (await office.http.get(f"/api/v1/payments/{b}", headers=office.clerk)).json()["state"] == "pending"
    assert (await office.due(w))["paid"] == "3.00"
    r = await office.http.post(
        f"/api/v1/payments/{b}/reject", json={"reason": "多付，请改缴保证金"}, headers=office.clerk
    )
    assert r.status_code == 200
    await assert_ledger_clean()


async def test_r_bill_07_notices_need_a_due_statement_a_bank_reference_and_a_payer_role(
    office: Any, kit: Any, container: Any
) -> None:
    w = await office.postpaid(D("100.00"))
    office.m.at(11, 12, 9)
    await office.m.send(w, 100)
    office.m.at(12, 3, 0, 0, 10)
    await office.m.run("bill-run", period="2026-11")
    await office.m.run("statement-issue")
    r = await office.http.get("/api/v1/statements", headers=office.user(w))
    (stmt,) = r.json()["items"]
    r = await office.notice(w, stmt["id"], "1.00")  # issued, not yet confirmed
    assert (r.status_code, r.json()["code"]) == (422, "STATEMENT_NOT_DUE")
    assert (
        await office.http.post(f"/api/v1/statements/{stmt['id']}/confirm", headers=office.user(w))
    ).status_code == 200
    assert (await office.due(w))["state"] == "due"  # due on the partner's confirmation
    r = await office.http.post(
        f"/api/v1/statements/{stmt['id']}/payment-notices",
        json={"transactionId": "t-dev", "amount": "1.00", "bankReference": "X"},
        headers=office.user(w, "developer"),
    )
    assert (r.status_code, r.json()["code"]) == (403, "PERMISSION_DENIED")
    r = await office.http.post(
        f"/api/v1/statements/{stmt['id']}/payment-notices",
        json={"transactionId": "t-blank", "amount": "1.00", "bankReference": "   "},
        headers=office.user(w, "admin"),
    )
    assert (r.status_code, r.json()["code"]) == (400, "BANK_REFERENCE_REQUIRED")
    r = await office.http.post(
        "/api/v1/payments",
        json={
            "transactionId": "t-sbx",
            "amount": "1.00",
            "method": "online",
            "provider": "alipay",
            "purpose": "statement",
            "statementId": stmt["id"],
        },
        headers=office.user(w, "admin"),
    )
    assert (r.status_code, r.json()["code"]) == (422, "METHOD_NOT_ALLOWED")


async def test_r_bill_07_a_postpaid_statement_with_nothing_to_pay_settles_on_confirmation(
    office: Any, container: Any
) -> None:
    from openability.billing.models import Statement, StatementLine
    from openability.billing.types import LineKind, StatementState
    from openability.kernel.ids import new_id

    w = await office.postpaid(D("10.00"))
    zero = D("0.0000")
    async with container.uow() as uow:
        stmt = Statement(
            id=new_id("stm"),
            partner_id=w.partner_id,
            month="2026-10",
            state=StatementState.ISSUED,
            billing_mode="postpaid",
            provisional=zero,
            exact=zero,
            adjustments=zero,
            rounding=zero,
            total=zero,
            true_up=zero,
            undercharge=zero,
            created_at=uow.now,
            issued_at=uow.now,
            confirm_by=datetime(2100, 1, 1, tzinfo=UTC),
        )
        uow.session.add(stmt)
        await uow.session.flush()
        uow.session.add(StatementLine(statement_id=stmt.id, seq=1, kind=LineKind.ROUNDING, amount=zero))
        sid = stmt.id
    r = await office.http.post(f"/api/v1/statements/{sid}/confirm", headers=office.user(w))
    assert r.status_code == 200 and r.json()["state"] == "settled"
    due = await office.due(w)
    assert (due["state"], due["amount"]) == ("paid", "0.00")
    assert await office.notices("statement-due") == []
