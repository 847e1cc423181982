"""Payments, invoices and balances (R-BILL-01, R-BILL-10, R-ADMIT-05) at the service level."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.billing import service
from openability.billing.models import Invoice, Payment
from openability.billing.types import PaymentMethod, PaymentPurpose, PaymentState
from openability.bootstrap import Container
from openability.kernel.audit import AuditEntry
from openability.kernel.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, RuleViolation
from openability.kernel.events import BALANCE_CHANGED, PARTNER_CHANGED
from openability.kernel.uow import Actor
from openability.ledger.models import JournalEntry, JournalLine
from openability.ledger.service import balances
from openability.ledger.types import PLATFORM, AccountType, EntryKind
from openability.partners.models import Partner
from openability.partners.types import PartnerStatus

# Sandbox payments (a demo installation's) fund most of these: the settings fixture turns them on.
# With them off (production), see test_payments_sandbox.py; online payments, test_online_payments.py.
pytestmark = pytest.mark.payments_sandbox

D = Decimal
CLERK = Actor(type="operator", id="op_clerk", roles=frozenset({"billing_clerk"}))
REVIEWER = Actor(type="operator", id="op_rev", roles=frozenset({"reviewer"}))
SANDBOX = PaymentMethod.SANDBOX
BANK = PaymentMethod.BANK_TRANSFER


def partner_actor(pid: str) -> Actor:
    return Actor(type="partner_user", id="pu_" + pid, partner_id=pid)


async def count(container: Container, model: Any, *where: Any) -> int:
    async with container.uow() as uow:
        stmt = select(func.count()).select_from(model)
        for w in where:
            stmt = stmt.where(w)
        return int(await uow.session.scalar(stmt) or 0)


async def bal(container: Container, owner: str) -> dict[AccountType, Decimal]:
    async with container.uow() as uow:
        return await balances(uow.session, owner)


async def test_r_bill_10_sandbox_top_up_confirms_at_once(
    container: Container, make_partner: Any, assert_ledger_clean: Any, events: Callable[[str], list[str]]
) -> None:
    ap = await make_partner("AP", name="示例应用有限公司")
    seen = events(BALANCE_CHANGED)
    async with container.uow(partner_actor(ap.id)) as uow:
        p, created = await service.create_payment(uow, ap.id, "txn-1", D("100.50"), SANDBOX)
    assert created and p.state == PaymentState.CONFIRMED and p.confirmed_by == "sandbox"
    assert p.journal_entry_id is not None
    assert seen == [ap.id]
    b = await bal(container, ap.id)
    assert b[AccountType.PREPAID_AVAILABLE] == D("100.5000")
    assert (await bal(container, PLATFORM))[AccountType.CASH] == D("100.5000")
    async with container.uow() as uow:
        entry = await uow.session.get(JournalEntry, p.journal_entry_id)
        assert entry is not None and entry.kind == EntryKind.TOP_UP
        assert (entry.ref_type, entry.ref_id) == ("payment", p.id)
        lines = (await uow.session.scalars(select(JournalLine).where(JournalLine.entry_id == entry.id))).all()
        assert sorted(ln.amount for ln in lines) == [D("-100.50"), D("100.50")]
        inv = await uow.session.scalar(select(Invoice).where(Invoice.payment_id == p.id))
    assert inv is not None
    assert inv.number == "INV-202611-000001" and inv.amount == D("100.50") and inv.title == "示例应用有限公司"
    await assert_ledger_clean()


async def test_same_transaction_id_twice_posts_one_payment(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")
    async with container.uow(partner_actor(ap.id)) as uow:
        first, created1 = await service.create_payment(uow, ap.id, "txn-dup", D("50"), SANDBOX)
    async with container.uow(partner_actor(ap.id)) as uow:
        again, created2 = await service.create_payment(uow, ap.id, "txn-dup", D("50.00"), SANDBOX)
    assert created1 and not created2 and again.id == first.id
    assert await count(container, JournalEntry, JournalEntry.ref_id == first.id) == 1
    assert await count(container, Invoice) == 1
    assert (await bal(container, ap.id))[AccountType.PREPAID_AVAILABLE] == D("50")
    for amount, method in [(D("51"), SANDBOX), (D("50"), BANK)]:
        async with container.uow(partner_actor(ap.id)) as uow:
            with pytest.raises(Conflict) as exc:
                await service.create_payment(uow, ap.id, "txn-dup", amount, method)
        assert exc.value.code == "TRANSACTION_ID_REUSED"
    # the same transaction id is another payment for another partner
    other = await make_partner("AP")
    async with container.uow() as uow:
        _, created = await service.create_payment(uow, other.id, "txn-dup", D("50"), SANDBOX)
    assert created
    await assert_ledger_clean()


async def test_concurrent_retries_of_one_transaction(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")

    async def pay() -> tuple[str, bool]:
        async with container.uow(partner_actor(ap.id)) as uow:
            p, created = await service.create_payment(uow, ap.id, "txn-race", D("10"), SANDBOX)
            return p.id, created

    results = await asyncio.gather(*(pay() for _ in range(4)))
    assert len({r[0] for r in results}) == 1
    assert sum(1 for r in results if r[1]) == 1
    assert (await bal(container, ap.id))[AccountType.PREPAID_AVAILABLE] == D("10")
    await assert_ledger_clean()


async def test_bank_transfer_waits_for_operator(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")
    async with container.uow(partner_actor(ap.id)) as uow:
        p, _ = await service.create_payment(uow, ap.id, "bank-1", D("2000"), BANK, bank_reference="ICBC 123")
    assert p.state == PaymentState.PENDING and p.journal_entry_id is None
    assert (await bal(container, ap.id))[AccountType.PREPAID_AVAILABLE] == 0
    assert await count(container, Invoice) == 0
    for actor in (partner_actor(ap.id), REVIEWER):
        async with container.uow(actor) as uow:
            with pytest.raises(PermissionDenied):
                await service.confirm_payment(uow, p.id)
    async with container.uow(CLERK) as uow:
        done = await service.confirm_payment(uow, p.id)
    assert done.state == PaymentState.CONFIRMED and done.confirmed_by == "op_clerk"
    async with container.uow(CLERK) as uow:
        again = await service.confirm_payment(uow, p.id)  # no-op
        with pytest.raises(Conflict):
            await service.reject_payment(uow, p.id, "late")
    assert again.journal_entry_id == done.journal_entry_id
    assert await count(container, JournalEntry) == 1
    assert (await bal(container, ap.id))[AccountType.PREPAID_AVAILABLE] == D("2000")
    async with container.uow() as uow:
        acts = (
            await uow.session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == p.id))
        ).all()
    assert set(acts) == {"payment.created", "payment.confirmed"}
    await assert_ledger_clean()


async def test_bank_transfer_rejected(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")
    async with container.uow(partner_actor(ap.id)) as uow:
        p, _ = await service.create_payment(uow, ap.id, "bank-2", D("10"), BANK)
    async with container.uow(CLERK) as uow:
        r = await service.reject_payment(uow, p.id, "funds never arrived")
    assert r.state == PaymentState.REJECTED and r.reject_reason == "funds never arrived"
    assert r.confirmed_at is None and r.confirmed_by is None  # confirmed_* mean a confirmation only
    async with container.uow(CLERK) as uow:
        assert await service.rejections_for_payments(uow, [p.id]) == {p.id: (uow.now, CLERK.id)}
    async with container.uow(CLERK) as uow:
        with pytest.raises(Conflict) as exc:
            await service.confirm_payment(uow, p.id)
    assert exc.value.code == "PAYMENT_REJECTED"
    assert await count(container, JournalEntry) == 0
    async with container.uow(CLERK) as uow:
        with pytest.raises(NotFound):
            await service.confirm_payment(uow, "pay_missing")
    await assert_ledger_clean()


async def test_r_bill_01_pending_prepaid_si_activated_by_first_top_up(
    container: Container, make_partner: Any, assert_ledger_clean: Any, events: Callable[[str], list[str]]
) -> None:
    si = await make_partner("SI", status="pending", billing_mode="prepaid")
    seen = events(PARTNER_CHANGED)
    async with container.uow(partner_actor(si.id)) as uow:
        p, _ = await service.create_payment(uow, si.id, "si-first", D("5000"), BANK)
    async with container.uow() as uow:
        assert (await uow.session.get(Partner, si.id)).status == PartnerStatus.PENDING  # type: ignore[union-attr]
    async with container.uow(CLERK) as uow:
        await service.confirm_payment(uow, p.id)
    assert seen == [si.id]
    async with container.uow() as uow:
        partner = await uow.session.get(Partner, si.id)
        assert partner is not None and partner.status == PartnerStatus.ACTIVE
        audit = await uow.session.scalar(
            select(AuditEntry).where(AuditEntry.action == "partner.activated", AuditEntry.entity_id == si.id)
        )
    assert audit is not None and audit.before is not None and audit.before["status"] == "pending"
    assert audit.after is not None and audit.after["status"] == "active" and audit.actor_id == "op_clerk"
    assert audit.note is not None and "INV-202611-" in audit.note
    await assert_ledger_clean()


async def test_r_admit_05_postpaid_si_deposit(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    si = await make_partner("SI", status="pending", billing_mode="postpaid")
    async with container.uow(CLERK) as uow:
        with pytest.raises(RuleViolation) as exc:
            await service.create_payment(uow, si.id, "dep-0", D("100"), BANK, PaymentPurpose.TOP_UP)
    assert exc.value.code == "PURPOSE_NOT_ALLOWED"
    async with container.uow(CLERK) as uow:
        p, _ = await service.create_payment(uow, si.id, "dep-1", D("30000"), BANK, PaymentPurpose.DEPOSIT)
        await service.confirm_payment(uow, p.id)
    b = await bal(container, si.id)
    assert b[AccountType.DEPOSIT] == D("30000") and b[AccountType.PREPAID_AVAILABLE] == 0
    async with container.uow() as uow:
        entry = await uow.session.get(JournalEntry, p.journal_entry_id)
        partner = await uow.session.get(Partner, si.id)
    assert entry is not None and entry.kind == EntryKind.DEPOSIT
    assert partner is not None and partner.status == PartnerStatus.ACTIVE
    await assert_ledger_clean()


async def test_payment_refusals_leave_nothing(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")
    other = await make_partner("AP")
    exited = await make_partner("SI", status="exited")
    me = partner_actor(ap.id)
    cases: list[tuple[Actor, str, str, Decimal, PaymentMethod, PaymentPurpose, type[Exception], str]] = [
        (me, ap.id, "t1", D("0"), SANDBOX, PaymentPurpose.TOP_UP, InvalidArgument, "INVALID_AMOUNT"),
        (me, ap.id, "t1", D("-1"), SANDBOX, PaymentPurpose.TOP_UP, InvalidArgument, "INVALID_AMOUNT"),
        (me, ap.id, "t1", D("1.001"), SANDBOX, PaymentPurpose.TOP_UP, InvalidArgument, "INVALID_AMOUNT"),
        (me, ap.id, "t1", D("1000000.01"), SANDBOX, PaymentPurpose.TOP_UP, InvalidArgument, "INVALID_AMOUNT"),
        (
            me,
            ap.id,
            "bad id",
            D("1"),
            SANDBOX,
            PaymentPurpose.TOP_UP,
            InvalidArgument,
            "INVALID_TRANSACTION_ID",
        ),
        (me, ap.id, "t1", D("1"), SANDBOX, PaymentPurpose.DEPOSIT, RuleViolation, "PURPOSE_NOT_ALLOWED"),
        (me, other.id, "t1", D("1"), SANDBOX, PaymentPurpose.TOP_UP, NotFound, "NOT_FOUND"),
        (CLERK, "ptn_missing", "t1", D("1"), SANDBOX, PaymentPurpose.TOP_UP, NotFound, "NOT_FOUND"),
        (CLERK, exited.id, "t1", D("1"), BANK, PaymentPurpose.TOP_UP, RuleViolation, "PARTNER_EXITED"),
        (REVIEWER, ap.id, "t1", D("1"), BANK, PaymentPurpose.TOP_UP, PermissionDenied, "PERMISSION_DENIED"),
    ]
    for actor, pid, txn, amount, method, purpose, exc_type, code in cases:
        async with container.uow(actor) as uow:
            with pytest.raises(exc_type) as exc:
                await service.create_payment(uow, pid, txn, amount, method, purpose)
        assert getattr(exc.value, "code", None) == code, (pid, amount, code)
    assert await count(container, Payment) == 0
    assert await count(container, JournalEntry) == 0
    await assert_ledger_clean()


async def test_reads_are_scoped_to_the_partner(
    container: Container, make_partner: Any, assert_ledger_clean: Any
) -> None:
    a = await make_partner("AP")
    b = await make_partner("AP")
    async with container.uow() as uow:
        pa, _ = await service.create_payment(uow, a.id, "a1", D("10"), SANDBOX)
        pb, _ = await service.create_payment(uow, b.id, "b1", D("20"), SANDBOX)
        await service.create_payment(uow, b.id, "b2", D("30"), BANK)
    async with container.uow(partner_actor(a.id)) as uow:
        rows, total = await service.list_payments(uow)
        assert total == 1 and rows[0].id == pa.id
        with pytest.raises(NotFound):
            await service.get_payment(uow, pb.id)
        with pytest.raises(NotFound):
            await service.list_payments(uow, partner_id=b.id)
        invs, n = await service.list_invoices(uow)
        assert n == 1 and invs[0].partner_id == a.id
        with pytest.raises(NotFound):
            await service.get_invoice(uow, (await service.invoices_for_payments(uow, [pb.id]))[pb.id].number)
        with pytest.raises(NotFound):
            await service.get_balance(uow, b.id)
        mine = await service.get_balance(uow, a.id)
        assert mine.available == D("10") and mine.total == D("10")
    async with container.uow(CLERK) as uow:
        _, total = await service.list_payments(uow)
        assert total == 3
        _, total = await service.list_payments(uow, partner_id=b.id, state=PaymentState.PENDING)
        assert total == 1
        invs, n = await service.list_invoices(uow)
        assert n == 2 and {i.number for i in invs} == {"INV-202611-000001", "INV-202611-000002"}
        with pytest.raises(NotFound):
            await service.get_balance(uow, "ptn_missing")
    await assert_ledger_clean()


async def test_invoice_numbers_restart_each_month(
    container: Container, make_partner: Any, clock: Any, assert_ledger_clean: Any
) -> None:
    ap = await make_partner("AP")
    async with container.uow() as uow:
        await service.create_payment(uow, ap.id, "m1", D("1"), SANDBOX)
        await service.create_payment(uow, ap.id, "m2", D("2"), SANDBOX)
    clock.advance(days=30)  # 2026-12-02
    async with container.uow() as uow:
        p, _ = await service.create_payment(uow, ap.id, "m3", D("3"), SANDBOX)
        inv = (await service.invoices_for_payments(uow, [p.id]))[p.id]
    assert inv.number == "INV-202612-000001"
    await assert_ledger_clean()
