"""Statements management API (R-BILL-03..06): list and read statements, confirm, dispute, the raw usage
log. camelCase JSON, money as strings (4 decimals; totals in whole fen)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import StreamingResponse

from openability.billing import invoices, reconciliation, statement_rules, statements
from openability.billing.invoice_rules import VatSplit
from openability.billing.models import Dispute, Invoice, Statement, StatementLine
from openability.billing.types import (
    Confirmation,
    DisputeBasis,
    DisputeOutcome,
    DisputeState,
    LineKind,
    StatementState,
)
from openability.catalog.schemas import Page
from openability.kernel.errors import InvalidArgument
from openability.kernel.money import MoneyError, fmt, fmt_fen, parse_money
from openability.kernel.schemas import ApiModel
from openability.kernel.web import CurrentActor, Limit, Offset, container_of, uow_for

router = APIRouter(prefix="/api/v1", tags=["statements"])

# A record list upload: ~40 bytes an id, so about 150,000 records (the upload body limit is above it).
MAX_RECORDS_BYTES = 6 * 1024 * 1024 - 64 * 1024


class StatementOut(ApiModel):
    id: str
    partner_id: str
    month: str
    state: StatementState
    billing_mode: str
    currency: str = "CNY"
    calls: int
    quantity: int
    provisional: str  # charged in real time
    exact: str  # the usage lines: the month re-rated exactly
    adjustments: str  # carried adjustment lines
    rounding: str  # the rounding line
    total: str  # the sum of the lines, whole fen
    true_up: str  # credited back (R-CHARGE-06)
    undercharge: str  # below the exact price in real time: not charged
    note: str
    created_at: datetime
    issued_at: datetime | None
    confirm_by: datetime | None
    confirmed_at: datetime | None
    confirmed_by: str | None
    confirmation: Confirmation | None
    settled_at: datetime | None
    # The total split as its invoice splits it (prices are tax-inclusive): before tax, VAT, the rate.
    net: str = "0.00"
    tax: str = "0.00"
    vat_rate: str = "0.06"
    invoice_id: str | None = None
    invoice_number: str | None = None

    @classmethod
    def of(cls, s: Statement, split: VatSplit | None = None, invoice: Invoice | None = None) -> StatementOut:
        vat = (
            {"net": fmt_fen(split.net), "tax": fmt_fen(split.tax), "vat_rate": str(split.rate)}
            if split
            else {}
        )
        return cls(
            **vat,
            invoice_id=invoice.id if invoice else None,
            invoice_number=invoice.number if invoice else None,
            id=s.id,
            partner_id=s.partner_id,
            month=s.month,
            state=s.state,
            billing_mode=s.billing_mode,
            calls=s.calls,
            quantity=s.quantity,
            provisional=fmt(s.provisional),
            exact=fmt(s.exact),
            adjustments=fmt(s.adjustments),
            rounding=fmt(s.rounding),
            total=fmt_fen(s.total),
            true_up=fmt(s.true_up),
            undercharge=fmt(s.undercharge),
            note=s.note,
            created_at=s.created_at,
            issued_at=s.issued_at,
            confirm_by=s.confirm_by,
            confirmed_at=s.confirmed_at,
            confirmed_by=s.confirmed_by,
            confirmation=s.confirmation,
            settled_at=s.settled_at,
        )


class LineOut(ApiModel):
    seq: int
    kind: LineKind
    description: str
    product_id: str | None
    product: str
    price_plan_id: str | None
    price_version: int | None
    band: str
    scope: str
    tier_from: int | None
    tier_to: int | None
    units: int
    unit_price: str | None
    amount: str

    @classmethod
    def of(cls, ln: StatementLine) -> LineOut:
        return cls(
            seq=ln.seq,
            kind=ln.kind,
            description=ln.description,
            product_id=ln.product_id,
            product=ln.product_code,
            price_plan_id=ln.price_plan_id,
            price_version=ln.plan_version,
            band=ln.band,
            scope=ln.scope,
            tier_from=ln.tier_from,
            tier_to=ln.tier_to,
            units=ln.units,
            unit_price=fmt(ln.unit_price) if ln.unit_price is not None else None,
            amount=fmt(ln.amount),
        )


class DisputeOut(ApiModel):
    id: str
    statement_id: str
    state: DisputeState
    basis: DisputeBasis
    reason: str
    statement_amount: str
    partner_amount: str
    discrepancy: str
    threshold_percent: str
    outcome: DisputeOutcome | None
    adjustment: str  # carried into the next statement (0: the statement stands)
    records_submitted: int
    records_matched: int
    platform_only: int
    partner_only: int
    report: dict[str, Any]
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None

    @classmethod
    def of(cls, d: Dispute) -> DisputeOut:
        return cls(
            id=d.id,
            statement_id=d.statement_id,
            state=d.state,
            basis=d.basis,
            reason=d.reason,
            statement_amount=fmt(d.statement_amount),
            partner_amount=fmt(d.partner_amount),
            discrepancy=fmt(d.discrepancy),
            threshold_percent=d.threshold_percent,
            outcome=d.outcome,
            adjustment=fmt(d.adjustment),
            records_submitted=d.records_submitted,
            records_matched=d.records_matched,
            platform_only=d.platform_only,
            partner_only=d.partner_only,
            report=d.report,
            opened_at=d.opened_at,
            opened_by=d.opened_by,
            closed_at=d.closed_at,
        )


class StatementDetailOut(StatementOut):
    lines: list[LineOut]
    dispute: DisputeOut | None


@router.get("/statements")
async def list_statements(
    request: Request,
    actor: CurrentActor,
    month: str | None = None,
    state: StatementState | None = None,
    partner_id: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[StatementOut]:
    """A partner's own statements (issued or later); operators see every partner's, filtered by month,
    state and partner."""
    async with uow_for(request, actor) as uow:
        rows, total = await statements.list_statements(
            uow, month=month, state=state, partner_id=partner_id, offset=offset, limit=limit
        )
        invs = await invoices.invoices_for_statements(uow, [s.id for s in rows])
        items = [
            StatementOut.of(s, invoices.statement_split(uow.settings, s.total), invs.get(s.id)) for s in rows
        ]
    return Page(items=items, total=total, offset=offset, limit=limit)


async def _detail(request: Request, actor: Any, statement_id: str) -> StatementDetailOut:
    async with uow_for(request, actor) as uow:
        d = await statements.statement_detail(uow, statement_id)
        split = invoices.statement_split(uow.settings, d.statement.total)
        inv = (await invoices.invoices_for_statements(uow, [d.statement.id])).get(d.statement.id)
    base = StatementOut.of(d.statement, split, inv).model_dump()
    return StatementDetailOut(
        **base,
        lines=[LineOut.of(ln) for ln in d.lines],
        dispute=DisputeOut.of(d.dispute) if d.dispute else None,
    )


@router.get("/statements/{statement_id}")
async def get_statement(request: Request, actor: CurrentActor, statement_id: str) -> StatementDetailOut:
    """The statement with its lines (a line per product, price version, band/scope and tier; carried
    adjustments; the rounding line) and its dispute."""
    return await _detail(request, actor, statement_id)


@router.post("/statements/{statement_id}/confirm")
async def confirm_statement(request: Request, actor: CurrentActor, statement_id: str) -> StatementDetailOut:
    """R-BILL-04: confirm the issued statement (until the end of the 15th)."""
    async with uow_for(request, actor) as uow:
        await statements.confirm_statement(uow, statement_id)
    return await _detail(request, actor, statement_id)


@router.post("/statements/{statement_id}/disputes", status_code=201)
async def dispute_statement(
    request: Request,
    actor: CurrentActor,
    statement_id: str,
    partner_total: str | None = Form(default=None, alias="partnerTotal", max_length=40),
    records: UploadFile | None = File(default=None),
    reason: str = Form(default="", max_length=500),
) -> DisputeOut:
    """R-BILL-05/06: dispute the issued statement (until the end of the 15th) with either the partner's
    own total (`partnerTotal`, a decimal string) or its record list (`records`, a CSV file of request,
    message or CDR ids, one a row). Matched, decided and closed at once; the answer is the dispute with
    its figures and the records found on one side only."""
    total = None
    ids = None
    if partner_total is not None:
        try:
            total = parse_money(partner_total, field="partnerTotal", example="123.45")
        except MoneyError as exc:
            raise InvalidArgument(str(exc), code="INVALID_DISPUTE") from None
    if records is not None:
        data = await records.read(MAX_RECORDS_BYTES + 1)
        if len(data) > MAX_RECORDS_BYTES:
            raise InvalidArgument("the record list is too large", code="INVALID_DISPUTE")
        try:
            ids = statement_rules.parse_record_ids(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise InvalidArgument("records: the CSV must be UTF-8", code="INVALID_DISPUTE") from None
        except ValueError as exc:
            raise InvalidArgument(f"records: {exc}", code="INVALID_DISPUTE") from None
    async with uow_for(request, actor) as uow:
        d = await reconciliation.open_dispute(
            uow, statement_id, partner_total=total, record_ids=ids, reason=reason
        )
    return DisputeOut.of(d)


@router.get("/statements/{statement_id}/usage.csv", response_class=StreamingResponse)
async def usage_csv(request: Request, actor: CurrentActor, statement_id: str) -> StreamingResponse:
    """R-BILL-05: the raw usage log: every CDR of the statement's partner and month, streamed; the last
    line is `#sha256=<hex>;rows=<n>`, the SHA-256 of every byte before it."""
    filename, chunks = await reconciliation.usage_log(container_of(request), actor, statement_id)
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
