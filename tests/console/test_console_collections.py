"""Collections pages (R-BILL-07..09): the billing clerks' board (due statements, notices to confirm, funds to
record, required deposits) and the partner portal's amounts due with the payment-notice form."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from openability.billing import dues
from openability.billing import service as billing
from openability.billing.models import Statement, StatementLine
from openability.billing.types import LineKind, PaymentMethod, PaymentPurpose, StatementState
from openability.bootstrap import Container
from openability.kernel.ids import new_id
from openability.partners import lifecycle
from openability.partners.schemas import CreateSi

PASSWORD = "Secret123"


async def postpaid_si_with_a_due_statement(container: Container) -> tuple[str, str]:
    """A postpaid SI (user `si1admin`) with a 10.00 deposit and its October statement (CNY 12.34) due."""
    async with container.uow() as uow:
        si = await lifecycle.create_si(
            uow,
            CreateSi(
                name="华东集成有限公司",
                billing_mode="postpaid",
                activate=True,
                admin_username="si1admin",
                admin_password=PASSWORD,
            ),
        )
        pid = si.id
    async with container.uow() as uow:
        pay, _ = await billing.create_payment(
            uow, pid, "dep-1", Decimal("10.00"), PaymentMethod.BANK_TRANSFER, PaymentPurpose.DEPOSIT, "ICBC-D"
        )
        await billing.confirm_payment(uow, pay.id)
    total, zero = Decimal("12.3400"), Decimal("0.0000")
    async with container.uow() as uow:
        stmt = Statement(
            id=new_id("stm"),
            partner_id=pid,
            month="2026-10",
            state=StatementState.CONFIRMED,
            billing_mode="postpaid",
            provisional=total,
            exact=total,
            adjustments=zero,
            rounding=zero,
            total=total,
            true_up=zero,
            undercharge=zero,
            created_at=uow.now,
            issued_at=uow.now,
            confirm_by=datetime(2026, 11, 1, tzinfo=UTC),
        )
        uow.session.add(stmt)
        await uow.session.flush()
        uow.session.add(StatementLine(statement_id=stmt.id, seq=1, kind=LineKind.USAGE, amount=total))
        await dues.open_due(uow, stmt)
        return pid, stmt.id


async def test_r_bill_07_the_partner_files_a_notice_and_the_clerk_confirms_it_on_the_board(
    browser: Any, world: Any, container: Container
) -> None:
    _pid, sid = await postpaid_si_with_a_due_statement(container)
    await browser.login("si1admin")
    page = await browser.get("/console/portal/dues")
    assert page.status_code == 200 and "应付账款" in page.text
    assert 'id="amount-owed">¥12.34<' in page.text and 'id="deposit-required">¥10.00<' in page.text
    assert f'id="notice-{sid}"' in page.text and 'value="12.34"' in page.text
    tx = re.search(rf'id="notice-{sid}".*?name="transaction_id" value="([^"]+)"', page.text, re.S)
    assert tx
    r = await browser.post(
        f"/console/portal/dues/{sid}/notice",
        {"transaction_id": tx.group(1), "amount": "20.00", "bank_reference": "ICBC-7"},
    )
    assert browser.flash(await browser.follow(r))[0] == "err"  # more than is unpaid
    r = await browser.post(
        f"/console/portal/dues/{sid}/notice",
        {"transaction_id": tx.group(1), "amount": "12.34", "bank_reference": "ICBC-7"},
    )
    page = await browser.follow(r)
    assert browser.flash(page) == ("ok", "付款通知已提交：¥12.34，待平台确认到账")
    assert "ICBC-7" in page.text
    en = await browser.get("/console/portal/dues?lang=en")
    assert "Amounts due" in en.text and "File a payment notice" in en.text

    await browser.login("clerk")
    board = await browser.get("/console/ops/collections?lang=zh")
    assert board.status_code == 200 and "后付费收款" in board.text and f'id="due-{sid}"' in board.text
    notice = re.search(r'action="/console/ops/collections/notices/(pay_[^/"]+)/confirm"', board.text)
    assert notice
    page = await browser.follow(
        await browser.post(f"/console/ops/collections/notices/{notice.group(1)}/confirm")
    )
    assert browser.flash(page) == ("ok", "已确认到账 ¥12.34")
    assert "已付清" in page.text
    en = await browser.get("/console/ops/collections?lang=en&state=paid")
    assert "Collections" in en.text and "paid" in en.text


async def test_r_bill_09_the_clerk_records_funds_and_sets_the_required_deposit(
    browser: Any, world: Any, container: Container
) -> None:
    pid, sid = await postpaid_si_with_a_due_statement(container)
    await browser.login("clerk")
    board = await browser.get("/console/ops/collections")
    assert f'id="deposit-{pid}"' in board.text and "（首缴金额）" in board.text
    r = await browser.post(
        f"/console/ops/collections/{sid}/payments",
        {"transaction_id": "web-rec-1", "amount": "2.34", "bank_reference": "ICBC-8"},
    )
    page = await browser.follow(r)
    assert browser.flash(page) == ("ok", "已确认到账 ¥2.34")
    assert "部分付款" in page.text
    r = await browser.post(f"/console/ops/collections/deposits/{pid}", {"required": "50000.00"})
    page = await browser.follow(r)
    assert browser.flash(page) == ("ok", "应缴保证金已设为 ¥50,000.00")
    # partner users and other operators cannot act here
    await browser.login("agent")
    r = await browser.post(f"/console/ops/collections/deposits/{pid}", {"required": "1.00"})
    assert browser.flash(await browser.follow(r))[0] == "err"
    await browser.login("si1admin")
    r = await browser.get("/console/ops/collections")
    assert r.status_code == 303 and r.headers["location"] == "/console/portal"
