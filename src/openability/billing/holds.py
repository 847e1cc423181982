"""The settlement hold (R-TIER-03 "stop settlement", issue 7 item 10): a partner under sanctions still
gets its statements, but what the platform owes it waits until the hold lifts.

While a hold is active (one per partner at a time; set and lifted by an admin or billing clerk, later
also by the credit evaluation as the system actor):
  * the bill run still makes the partner's statement, but its credits — the true-up (R-CHARGE-06) and a
    carried adjustment in its favour (R-BILL-06) — are credited to the partner's settlement:held account
    (a liability to it) instead of its prepaid balance or receivable: Dr revenue / Cr settlement:held,
    one balanced entry each as before (R-BILL-10), and a HeldCredit row per statement;
  * payouts and refunds to it are refused (`check_payout_allowed`, 409 SETTLEMENT_HELD): the platform
    has no refund flow yet; one must call it.
Lifting the hold releases every held credit of the partner, one balanced entry per statement:
Dr settlement:held / Cr prepaid:available (prepaid statement) or receivable (postpaid).

Concurrency: setting and lifting lock the partner row; the bill run locks the active hold row
(SELECT … FOR UPDATE) while it books, so a hold lifted meanwhile is either seen as lifted or waits for
the booking, whose held credit the lift then releases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.billing.models import HeldCredit, SettlementHold, Statement
from openability.billing.types import HOLD_RELEASE_REF
from openability.kernel import access
from openability.kernel.errors import Conflict, InvalidArgument, NotFound
from openability.kernel.events import BALANCE_CHANGED
from openability.kernel.ids import new_id
from openability.kernel.money import fmt_fen
from openability.kernel.notify import notify
from openability.kernel.uow import UnitOfWork
from openability.ledger import service as ledger
from openability.ledger.types import AccountType, EntryKind
from openability.partners import service as partners

HOLD_ROLES = ("admin", "billing_clerk")
ZERO = Decimal("0.0000")


@dataclass(frozen=True, slots=True)
class HoldView:
    hold: SettlementHold
    held: Decimal  # credits waiting in settlement:held
    statements: int  # statements whose credits wait
    released: Decimal = ZERO  # released by the lift that answered this


def _snapshot(h: SettlementHold) -> dict[str, Any]:
    return {"reason": h.reason, "since": h.since, "lifted_at": h.lifted_at, "set_by": h.set_by}


async def active_hold(uow: UnitOfWork, partner_id: str, *, lock: bool = False) -> SettlementHold | None:
    stmt = select(SettlementHold).where(
        SettlementHold.partner_id == partner_id, SettlementHold.lifted_at.is_(None)
    )
    if lock:
        stmt = stmt.with_for_update()
    return await uow.session.scalar(stmt.order_by(SettlementHold.since.desc()).limit(1))


async def is_held(uow: UnitOfWork, partner_id: str) -> bool:
    return await active_hold(uow, partner_id) is not None


async def check_payout_allowed(uow: UnitOfWork, partner_id: str) -> None:
    """R-TIER-03: payouts and refunds to a held partner wait until the hold lifts."""
    hold = await active_hold(uow, partner_id)
    if hold is not None:
        raise Conflict(
            f"settlement of partner {partner_id} is held since {hold.since:%Y-%m-%d} ({hold.reason}): "
            "payouts and refunds wait until the hold is lifted (R-TIER-03)",
            code="SETTLEMENT_HELD",
        )


async def _pending(uow: UnitOfWork, partner_id: str) -> list[HeldCredit]:
    return list(
        (
            await uow.session.scalars(
                select(HeldCredit)
                .where(HeldCredit.partner_id == partner_id, HeldCredit.released_at.is_(None))
                .order_by(HeldCredit.created_at, HeldCredit.statement_id)
            )
        ).all()
    )


async def get_hold(uow: UnitOfWork, partner_id: str) -> HoldView:
    """The partner's active hold (a partner sees its own); none: NOT_FOUND."""
    access.check_partner_visible(uow.actor, partner_id)
    hold = await active_hold(uow, partner_id)
    if hold is None:
        raise NotFound(f"no settlement hold on partner {partner_id}", code="NOT_HELD")
    pending = await _pending(uow, partner_id)
    return HoldView(hold, sum((c.amount for c in pending), ZERO), len(pending))


async def place_hold(uow: UnitOfWork, partner_id: str, reason: str) -> HoldView:
    """Hold the partner's settlement (audited; the partner is notified). Already held: 409 ALREADY_HELD."""
    access.require_staff(uow.actor, *HOLD_ROLES)
    reason = " ".join(reason.split())
    if not reason or len(reason) > 500:
        raise InvalidArgument("reason: 1-500 characters", code="INVALID_REASON")
    await partners.partner_ref(uow, partner_id, lock=True)
    if await active_hold(uow, partner_id) is not None:
        raise Conflict(f"the settlement of partner {partner_id} is already held", code="ALREADY_HELD")
    hold = SettlementHold(
        id=new_id("hld"),
        partner_id=partner_id,
        reason=reason,
        set_by=uow.actor.id,
        since=uow.now,
        lift_note="",
    )
    uow.session.add(hold)
    await uow.session.flush()
    uow.audit(
        "settlement_hold.placed", ("settlement_hold", hold.id), partner_id=partner_id, after=_snapshot(hold)
    )
    await notify(
        uow,
        recipient=("partner", partner_id),
        kind="settlement-hold",
        subject="结算暂停 / Settlement held",
        body=(
            f"您的结算已暂停：{reason}。结算单照常出具，多收退回、调账退款及其他付款将在暂停解除后一并处理"
            "（R-TIER-03）。\n"
            f"Your settlement is held: {reason}. Statements are still issued; true-up credits, refunds and "
            "other payouts wait until the hold is lifted (R-TIER-03)."
        ),
        dedup_key=f"settlement-hold:{hold.id}",
    )
    return HoldView(hold, ZERO, 0)


async def lift_hold(uow: UnitOfWork, partner_id: str, note: str = "") -> HoldView:
    """Lift the hold and release every held credit of the partner, one balanced entry per statement
    (R-BILL-10). No active hold: 409 NOT_HELD."""
    access.require_staff(uow.actor, *HOLD_ROLES)
    await partners.partner_ref(uow, partner_id, lock=True)
    hold = await active_hold(uow, partner_id, lock=True)
    if hold is None:
        raise Conflict(f"the settlement of partner {partner_id} is not held", code="NOT_HELD")
    before = _snapshot(hold)
    pending = await _pending(uow, partner_id)
    released = ZERO
    if pending:
        session = uow.session
        refs = await ledger.account_refs(session, {partner_id})
        modes = dict(
            (
                await session.execute(
                    select(Statement.id, Statement.billing_mode).where(
                        Statement.id.in_([c.statement_id for c in pending])
                    )
                )
            ).all()
        )
        held_acc = refs[(partner_id, AccountType.SETTLEMENT_HELD)]
        for c in pending:
            target = (
                AccountType.PREPAID_AVAILABLE
                if modes[c.statement_id] == "prepaid"
                else AccountType.RECEIVABLE
            )
            entry = await ledger.post(
                session,
                kind=EntryKind.ADJUSTMENT,
                legs=sorted(
                    [ledger.debit(held_acc, c.amount), ledger.credit(refs[(partner_id, target)], c.amount)],
                    key=lambda leg: leg.account.id,
                ),
                now=uow.now,
                ref=(HOLD_RELEASE_REF, c.statement_id),
                memo=f"settlement hold {hold.id} lifted: held credits of statement {c.statement_id} released",
            )
            c.released_at, c.release_entry_id = uow.now, entry.id
            released += c.amount
        uow.publish(BALANCE_CHANGED, partner_id)
    hold.lifted_at, hold.lifted_by, hold.lift_note = uow.now, uow.actor.id, " ".join(note.split())[:500]
    await uow.session.flush()
    uow.audit(
        "settlement_hold.lifted",
        ("settlement_hold", hold.id),
        partner_id=partner_id,
        before=before,
        after=_snapshot(hold) | {"released": released, "statements": [c.statement_id for c in pending]},
        note=hold.lift_note,
    )
    await notify(
        uow,
        recipient=("partner", partner_id),
        kind="settlement-hold-lifted",
        subject="结算恢复 / Settlement hold lifted",
        body=(
            f"您的结算暂停已解除，暂存的 ¥{fmt_fen(released)} 已计入您的账户。\n"
            f"The hold on your settlement is lifted; the CNY {fmt_fen(released)} held is credited to your account."
        ),
        dedup_key=f"settlement-hold-lifted:{hold.id}",
    )
    return HoldView(hold, ZERO, 0, released)


async def hold_for_booking(uow: UnitOfWork, partner_id: str) -> SettlementHold | None:
    """The bill run's view: the active hold, locked while the statement's credits are booked."""
    return await active_hold(uow, partner_id, lock=True)


async def held_statements(uow: UnitOfWork, statement_ids: Sequence[str]) -> set[str]:
    """Which of these statements have credits held (released or not)."""
    if not statement_ids:
        return set()
    rows = await uow.session.scalars(
        select(HeldCredit.statement_id).where(HeldCredit.statement_id.in_(list(statement_ids)))
    )
    return set(rows.all())


async def record_held(uow: UnitOfWork, stmt: Statement, hold: SettlementHold, amount: Decimal) -> None:
    uow.session.add(
        HeldCredit(
            statement_id=stmt.id,
            partner_id=stmt.partner_id,
            hold_id=hold.id,
            amount=amount,
            created_at=uow.now,
        )
    )
    await uow.session.flush()
    uow.audit(
        "settlement_hold.credit_held",
        ("statement", stmt.id),
        partner_id=stmt.partner_id,
        after={"hold_id": hold.id, "amount": amount},
        note="R-TIER-03: the statement's credits wait in settlement:held until the hold lifts",
    )
