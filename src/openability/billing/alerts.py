"""Low-balance alerts (issue 7 item 9): a prepaid partner sets a threshold; when its balance (available +
reserved) falls below it, the `low-balance-alerts` job sends one notice, and no other until the balance
has been back at or above the threshold (a top-up re-arms it). Checked by the job, never on the charging
path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from openability.billing import rules
from openability.billing.models import LowBalanceAlert
from openability.kernel import access
from openability.kernel.errors import InvalidArgument, NotFound, PermissionDenied, RuleViolation
from openability.kernel.money import fmt_fen
from openability.kernel.notify import notify
from openability.kernel.uow import UnitOfWork
from openability.ledger import service as ledger
from openability.ledger.types import AccountType
from openability.partners import service as partners
from openability.partners.rules import PARTNER_ROLE_PREFIX

BILLING_ROLES = ("admin", "billing_clerk")
PARTNER_ROLES = ("admin", "finance")


@dataclass(frozen=True, slots=True)
class AlertSetting:
    partner_id: str
    threshold: Decimal
    armed: bool
    notified_at: datetime | None


def _of(row: LowBalanceAlert) -> AlertSetting:
    return AlertSetting(row.partner_id, row.threshold, row.armed, row.notified_at)


def _may_change(uow: UnitOfWork, partner_id: str) -> None:
    a = uow.actor
    if access.is_staff(a):
        access.require_staff(a, *BILLING_ROLES)
        return
    access.check_partner_visible(a, partner_id)
    if not any(PARTNER_ROLE_PREFIX + r in a.roles for r in PARTNER_ROLES):
        raise PermissionDenied(f"needs one of the partner roles: {', '.join(PARTNER_ROLES)}")


async def get_alert(uow: UnitOfWork, partner_id: str) -> AlertSetting | None:
    access.check_partner_visible(uow.actor, partner_id)
    row = await uow.session.get(LowBalanceAlert, partner_id)
    return _of(row) if row is not None else None


async def set_alert(uow: UnitOfWork, partner_id: str, threshold: Decimal) -> AlertSetting:
    _may_change(uow, partner_id)
    partner = await partners.partner_ref(uow, partner_id)
    if partner.billing_mode.value != "prepaid":
        raise RuleViolation("low-balance alerts are for prepaid partners", code="NOT_PREPAID")
    if threshold <= 0 or threshold > rules.MAX_PAYMENT:
        raise InvalidArgument(
            f"threshold must be above 0 and at most {rules.MAX_PAYMENT}", code="INVALID_AMOUNT"
        )
    row = await uow.session.get(LowBalanceAlert, partner_id)
    before = {"threshold": row.threshold} if row is not None else None
    if row is None:
        row = LowBalanceAlert(partner_id=partner_id, threshold=threshold, armed=True, updated_at=uow.now)
        uow.session.add(row)
    else:
        row.threshold, row.armed, row.updated_at = threshold, True, uow.now
    uow.audit(
        "low_balance_alert.set",
        ("partner", partner_id),
        partner_id=partner_id,
        before=before,
        after={"threshold": threshold},
    )
    await uow.session.flush()
    return _of(row)


async def clear_alert(uow: UnitOfWork, partner_id: str) -> None:
    _may_change(uow, partner_id)
    row = await uow.session.get(LowBalanceAlert, partner_id)
    if row is None:
        raise NotFound(f"no low-balance alert for partner {partner_id}")
    uow.audit(
        "low_balance_alert.cleared",
        ("partner", partner_id),
        partner_id=partner_id,
        before={"threshold": row.threshold},
    )
    await uow.session.delete(row)


async def scan(uow: UnitOfWork) -> tuple[int, int]:
    """Notify the partners whose balance crossed below their threshold; re-arm those back above it.
    Returns (notified, re-armed)."""
    rows = (await uow.session.scalars(select(LowBalanceAlert).with_for_update())).all()
    notified = rearmed = 0
    for row in rows:
        b = await ledger.balances(uow.session, row.partner_id)
        balance = b.get(AccountType.PREPAID_AVAILABLE, Decimal(0)) + b.get(
            AccountType.PREPAID_RESERVED, Decimal(0)
        )
        if balance < row.threshold and row.armed:
            sent = await notify(
                uow,
                recipient=("partner", row.partner_id),
                kind="low-balance",
                subject=f"余额不足提醒：当前余额 ¥{fmt_fen(balance)}",
                body=(
                    f"您的预付余额为 ¥{fmt_fen(balance)}，已低于您设置的提醒金额 ¥{fmt_fen(row.threshold)}。"
                    "请及时充值，余额不足时调用将被拒绝。"
                ),
                dedup_key=f"low-balance:{row.partner_id}:{uow.now.isoformat()}",
            )
            row.armed, row.notified_at, row.updated_at = False, uow.now, uow.now
            notified += 1 if sent is not None else 0
        elif balance >= row.threshold and not row.armed:
            row.armed, row.updated_at = True, uow.now
            rearmed += 1
    return notified, rearmed
