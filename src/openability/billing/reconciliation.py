"""Reconciliation (R-BILL-05/06): the raw usage log of a statement and the partner's dispute.

The raw usage log is every CDR of the statement's partner and month as CSV, streamed from a
server-side cursor (never built in memory), its last line the SHA-256 of every byte before it.

A dispute states the partner's own figures: its total, or its record list (request, message or CDR
ids), which the platform matches against the CDRs, reporting the records on one side only; the
partner's figure is then the statement amount less what the records it does not recognise were
charged. A discrepancy above the threshold (settings.dispute_threshold_percent, 5%) of the statement
amount is carried as an adjustment line into the partner's next statement; otherwise the statement
stands. Either way the dispute is closed at once with the figures recorded and the partner notified."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.billing import statement_rules as rules
from openability.billing.models import CarriedAdjustment, Dispute, Statement
from openability.billing.statements import check_answerable, get_statement, snapshot, statement_for_update
from openability.billing.types import DisputeBasis, DisputeOutcome, DisputeState, StatementState
from openability.catalog import service as catalog
from openability.charging import settlement
from openability.kernel.errors import InvalidArgument
from openability.kernel.ids import new_id
from openability.kernel.money import fmt, fmt_fen
from openability.kernel.notify import notify
from openability.kernel.platform import Platform
from openability.kernel.uow import Actor, UnitOfWork

USAGE_COLUMNS = (
    "cdr_id",
    "request_id",
    "occurred_at",
    "product",
    "capability",
    "units",
    "unit",
    "price_plan_id",
    "price_version",
    "band",
    "scope",
    "amount_cny",
)


# ---- the raw usage log ------------------------------------------------------------------------------


def _csv_line(values: Sequence[object]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue().encode()


async def usage_log(platform: Platform, actor: Actor, statement_id: str) -> tuple[str, AsyncIterator[bytes]]:
    """(file name, CSV chunks) of the statement's raw usage log (R-BILL-05). Visibility is checked
    before the first byte; the stream reads the CDRs in its own unit of work as the client reads."""
    async with platform.uow(actor) as uow:
        stmt = await get_statement(uow, statement_id)
        partner_id, month = stmt.partner_id, stmt.month
    filename = f"usage-{month}-{statement_id}.csv"

    async def chunks() -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        rows = 0
        head = _csv_line(USAGE_COLUMNS)
        digest.update(head)
        yield head
        async with platform.uow(actor) as uow:
            codes: dict[str, str] = {}
            versions: dict[str, int] = {}
            buf: list[bytes] = []
            async for c in settlement.stream_cdrs(uow.session, partner_id, month):
                if c.product_id not in codes:
                    rating = await catalog.product_rating(uow, c.product_id)
                    codes[c.product_id] = rating.code if rating else c.product_id
                    versions.update({p.plan_id: p.version for p in (rating.plans if rating else ())})
                line = _csv_line(
                    (
                        c.id,
                        c.request_key,
                        c.occurred_at.isoformat(),
                        codes[c.product_id],
                        c.capability,
                        c.quantity,
                        c.unit,
                        c.price_plan_id,
                        versions.get(c.price_plan_id, ""),
                        c.band,
                        c.scope,
                        fmt(c.amount),
                    )
                )
                digest.update(line)
                rows += 1
                buf.append(line)
                if len(buf) >= 500:
                    yield b"".join(buf)
                    buf.clear()
            if buf:
                yield b"".join(buf)
        yield f"#sha256={digest.hexdigest()};rows={rows}\r\n".encode()

    return filename, chunks()


# ---- disputes ----------------------------------------------------------------------------------------


def _report(r: settlement.MatchReport | None) -> dict[str, Any]:
    if r is None:
        return {}
    return {
        "platformOnly": r.platform_only_ids,
        "partnerOnly": r.partner_only_ids,
        "platformOnlyAmount": fmt(r.platform_only_amount),
        "truncated": r.platform_only > len(r.platform_only_ids) or r.partner_only > len(r.partner_only_ids),
    }


def _dispute_snapshot(d: Dispute) -> dict[str, Any]:
    return {
        "state": d.state,
        "basis": d.basis,
        "statement_amount": d.statement_amount,
        "partner_amount": d.partner_amount,
        "discrepancy": d.discrepancy,
        "threshold_percent": d.threshold_percent,
        "outcome": d.outcome,
        "adjustment": d.adjustment,
        "records_submitted": d.records_submitted,
        "records_matched": d.records_matched,
        "platform_only": d.platform_only,
        "partner_only": d.partner_only,
    }


async def open_dispute(
    uow: UnitOfWork,
    statement_id: str,
    *,
    partner_total: Decimal | None = None,
    record_ids: Sequence[str] | None = None,
    reason: str = "",
) -> Dispute:
    """R-BILL-05/06: dispute an issued statement before the end of the 15th with the partner's total or
    record list; matched, decided and closed at once."""
    if (partner_total is None) == (record_ids is None):
        raise InvalidArgument("give either the partner's total or its record list", code="INVALID_DISPUTE")
    stmt = await statement_for_update(uow, statement_id)
    check_answerable(uow, stmt, "disputed")
    threshold = uow.settings.dispute_threshold_percent
    report: settlement.MatchReport | None = None
    if partner_total is not None:
        if partner_total < 0:
            raise InvalidArgument("partnerTotal must be >= 0", code="INVALID_DISPUTE")
        basis, partner_amount = DisputeBasis.TOTAL, partner_total
    else:
        report = await settlement.match_records(uow.session, stmt.partner_id, stmt.month, record_ids or ())
        basis, partner_amount = DisputeBasis.RECORDS, stmt.total - report.platform_only_amount
    discrepancy = partner_amount - stmt.total
    carried = rules.dispute_carries(stmt.total, partner_amount, threshold)
    dispute = Dispute(
        id=new_id("dsp"),
        statement_id=stmt.id,
        partner_id=stmt.partner_id,
        state=DisputeState.OPEN,
        basis=basis,
        reason=reason[:500],
        statement_amount=stmt.total,
        partner_amount=partner_amount,
        discrepancy=discrepancy,
        threshold_percent=str(threshold),
        outcome=None,
        adjustment=Decimal("0.0000"),
        records_submitted=report.submitted if report else 0,
        records_matched=report.matched if report else 0,
        platform_only=report.platform_only if report else 0,
        partner_only=report.partner_only if report else 0,
        report=_report(report),
        opened_at=uow.now,
        opened_by=uow.actor.id,
    )
    uow.session.add(dispute)
    await uow.session.flush()
    uow.audit(
        "dispute.opened",
        ("dispute", dispute.id),
        partner_id=stmt.partner_id,
        after=_dispute_snapshot(dispute),
    )
    before = snapshot(stmt)
    stmt.state = StatementState.DISPUTED
    uow.audit(
        "statement.disputed",
        ("statement", stmt.id),
        partner_id=stmt.partner_id,
        before=before,
        after=snapshot(stmt),
    )
    before_d = _dispute_snapshot(dispute)
    if carried:
        dispute.outcome = DisputeOutcome.ADJUSTED
        dispute.adjustment = discrepancy
        uow.session.add(
            CarriedAdjustment(
                id=new_id("adj"),
                partner_id=stmt.partner_id,
                dispute_id=dispute.id,
                from_month=stmt.month,
                amount=discrepancy,
                created_at=uow.now,
            )
        )
    else:
        dispute.outcome = DisputeOutcome.STANDS
    dispute.state = DisputeState.CLOSED
    dispute.closed_at = uow.now
    await uow.session.flush()
    uow.audit(
        "dispute.closed",
        ("dispute", dispute.id),
        partner_id=stmt.partner_id,
        before=before_d,
        after=_dispute_snapshot(dispute),
        note="R-BILL-06",
    )
    await notify(
        uow,
        recipient=("partner", stmt.partner_id),
        kind="dispute-closed",
        subject=f"{stmt.month} 结算单异议已处理 / Dispute of the {stmt.month} statement closed",
        body=_closing_text(stmt, dispute),
        dedup_key=f"dispute-closed:{dispute.id}",
    )
    return dispute


def _closing_text(stmt: Statement, d: Dispute) -> str:
    figures = (
        f"结算单金额 ¥{fmt_fen(d.statement_amount)}，您的核对金额 ¥{fmt_fen(d.partner_amount)}，"
        f"差额 ¥{fmt_fen(d.discrepancy)}（阈值 {d.threshold_percent}%）。"
    )
    if d.outcome == DisputeOutcome.ADJUSTED:
        zh = "差额超过阈值，将作为调整项计入下月结算单。"
        en = (
            f"The difference exceeds {d.threshold_percent}% of the statement amount: CNY {fmt_fen(d.adjustment)} "
            "is carried as an adjustment into your next statement (R-BILL-06)."
        )
    else:
        zh = "差额未超过阈值，结算单维持原样。"
        en = f"The difference is within {d.threshold_percent}%: the statement stands as issued (R-BILL-06)."
    records = ""
    if d.basis == DisputeBasis.RECORDS:
        records = (
            f"\n记录核对 / records: {d.records_submitted} submitted, {d.records_matched} matched, "
            f"{d.platform_only} only on the platform, {d.partner_only} only on your list."
        )
    return (
        f"{figures}{zh}\nStatement {stmt.id} ({stmt.month}): amount CNY {fmt_fen(d.statement_amount)}, your figure "
        f"CNY {fmt_fen(d.partner_amount)}, difference CNY {fmt_fen(d.discrepancy)}. {en}{records}"
    )


async def dispute_of(uow: UnitOfWork, statement_id: str) -> Dispute | None:
    stmt = await get_statement(uow, statement_id)
    return await uow.session.scalar(select(Dispute).where(Dispute.statement_id == stmt.id))
