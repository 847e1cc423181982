"""Invoices (issue 7 item 7): numbered per month (gap-free), split into amount before tax, VAT and
价税合计 (catalog prices are tax-inclusive), made out to the partner's invoice profile, rendered as a
PDF with the Chinese text (billing/invoice_pdf.py) and attached to the partner's notice; the official
fapiao number is recorded once the tax system has issued it (entered by a clerk or imported).

When an invoice is issued:
  * a postpaid statement, once confirmed by the partner or deemed confirmed (R-BILL-04); a disputed one
    once its window has closed (the dispute is decided at once and the statement stands as issued);
  * prepaid money, by `invoice_prepaid_mode`: "top_up" at each confirmed top-up (the money is invoiced
    when paid); "monthly" on the month's consumption (the prepaid statement's total, by the
    `prepaid-consumption-invoices` job once the month's window has closed), less what was already
    invoiced in advance. In both modes the top-up that opens a pending prepaid SI is invoiced at once:
    R-BILL-01 opens the service only after the invoice is issued.
Deposits are security money, not a sale: no invoice.

Numbering: the month's counter row (invoice_counters) is locked (SELECT … FOR UPDATE) and incremented
in the transaction that inserts the invoice, so numbers are unique and gap-free: a transaction that
rolls back takes its number back with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from openability.billing import invoice_pdf
from openability.billing import invoice_rules as rules
from openability.billing.models import (
    ConsumptionInvoicing,
    Invoice,
    InvoiceCounter,
    InvoiceProfile,
    Payment,
    Statement,
    StatementLine,
)
from openability.billing.types import (
    InvoiceKind,
    InvoiceState,
    InvoiceType,
    LineKind,
    PaymentPurpose,
    StatementState,
)
from openability.config import Settings
from openability.kernel import access
from openability.kernel.clock import SHANGHAI, month_key
from openability.kernel.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from openability.kernel.ids import new_id
from openability.kernel.money import fmt_fen, round_fen
from openability.kernel.notify import Attachment, notify
from openability.kernel.uow import UnitOfWork
from openability.partners import service as partners
from openability.partners.rules import PARTNER_ROLE_PREFIX
from openability.partners.types import PartnerRef

BILLING_ROLES = ("admin", "billing_clerk")
PARTNER_ROLES = ("admin", "finance")
ZERO = Decimal("0.00")

KIND_WORDS = {
    InvoiceKind.STATEMENT: ("{period} 月结算单", "statement for {period}"),
    InvoiceKind.TOP_UP: ("预付费充值", "prepaid top-up"),
    InvoiceKind.CONSUMPTION: ("{period} 月预付费消费", "prepaid consumption in {period}"),
}
TYPE_WORDS = {
    InvoiceType.GENERAL: "增值税普通发票 / general VAT invoice",
    InvoiceType.SPECIAL: "增值税专用发票 / special VAT invoice",
}


def rate_of(settings: Settings) -> Decimal:
    return rules.check_vat_rate(Decimal(settings.vat_rate))


def statement_split(settings: Settings, total: Decimal) -> rules.VatSplit:
    """A statement's total split as its invoice will be (statements show the same split)."""
    return rules.vat_split(round_fen(total), rate_of(settings))


# ---- the invoice profile ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    partner_id: str
    data: rules.ProfileInput
    saved: bool  # False: not set yet, the partner's registered name and credit code stand in
    updated_at: datetime | None
    updated_by: str | None


def _may_change(uow: UnitOfWork, partner_id: str) -> None:
    a = uow.actor
    if access.is_staff(a):
        access.require_staff(a, *BILLING_ROLES)
        return
    access.check_partner_visible(a, partner_id)
    if not any(PARTNER_ROLE_PREFIX + r in a.roles for r in PARTNER_ROLES):
        raise PermissionDenied(f"needs one of the partner roles: {', '.join(PARTNER_ROLES)}")


def _data(row: InvoiceProfile) -> rules.ProfileInput:
    return rules.ProfileInput(
        row.buyer_name,
        row.credit_code,
        row.bank_name,
        row.bank_account,
        row.address,
        row.phone,
        row.invoice_type,
    )


async def get_profile(uow: UnitOfWork, partner_id: str) -> Profile:
    access.check_partner_visible(uow.actor, partner_id)
    partner = await partners.partner_ref(uow, partner_id)
    row = await uow.session.get(InvoiceProfile, partner_id)
    if row is None:
        code = partner.credit_code or ""
        data = rules.ProfileInput(partner.name, code, "", "", "", "", InvoiceType.GENERAL)
        return Profile(partner_id, data, False, None, None)
    return Profile(partner_id, _data(row), True, row.updated_at, row.updated_by)


async def set_profile(uow: UnitOfWork, partner_id: str, given: rules.ProfileInput) -> Profile:
    """The partner's admin or finance users, or a billing clerk, set what its invoices are made out to.
    Invoices already issued keep the buyer as it was (a snapshot)."""
    _may_change(uow, partner_id)
    await partners.partner_ref(uow, partner_id, lock=True)
    data = rules.check_profile(given)
    row = await uow.session.get(InvoiceProfile, partner_id)
    before = _profile_snapshot(_data(row)) if row is not None else None
    if row is None:
        row = InvoiceProfile(partner_id=partner_id)
        uow.session.add(row)
    row.buyer_name, row.credit_code, row.bank_name = data.buyer_name, data.credit_code, data.bank_name
    row.bank_account, row.address, row.phone = data.bank_account, data.address, data.phone
    row.invoice_type, row.updated_at, row.updated_by = data.invoice_type, uow.now, uow.actor.id
    await uow.session.flush()
    uow.audit(
        "invoice_profile.updated",
        ("partner", partner_id),
        partner_id=partner_id,
        before=before,
        after=_profile_snapshot(data),
    )
    return Profile(partner_id, data, True, row.updated_at, row.updated_by)


def _profile_snapshot(d: rules.ProfileInput) -> dict[str, Any]:
    # the bank account is masked in the audit trail (last 4 digits)
    masked = ("*" * max(len(d.bank_account) - 4, 0)) + d.bank_account[-4:]
    return {
        "buyer_name": d.buyer_name,
        "credit_code": d.credit_code,
        "bank_name": d.bank_name,
        "bank_account": masked,
        "address": d.address,
        "phone": d.phone,
        "invoice_type": d.invoice_type.value,
    }


# ---- numbering and issuing -------------------------------------------------------------------------


async def next_number(uow: UnitOfWork, month: str) -> str:
    """The month's next number; the counter row stays locked until the transaction ends."""
    session = uow.session
    key = month.replace("-", "")
    counter = await session.scalar(
        select(InvoiceCounter).where(InvoiceCounter.month == key).with_for_update()
    )
    if counter is None:
        try:
            async with session.begin_nested():
                counter = InvoiceCounter(month=key, last=0)
                session.add(counter)
                await session.flush()
        except IntegrityError:
            # Another transaction created this month's counter first: lock and use it.
            counter = await session.scalar(
                select(InvoiceCounter).where(InvoiceCounter.month == key).with_for_update()
            )
            assert counter is not None
    counter.last += 1
    await session.flush()
    return rules.invoice_number(key, counter.last)


async def _issue(
    uow: UnitOfWork,
    partner: PartnerRef,
    kind: InvoiceKind,
    gross: Decimal,
    *,
    period: str | None = None,
    statement_id: str | None = None,
    payment_id: str | None = None,
    covered: Decimal = ZERO,
) -> Invoice:
    profile = await get_profile(uow, partner.id)
    buyer = profile.data
    split = rules.vat_split(round_fen(gross), rate_of(uow.settings))
    month = month_key(uow.now)
    invoice = Invoice(
        id=new_id("inv"),
        number=await next_number(uow, month),
        partner_id=partner.id,
        payment_id=payment_id,
        amount=split.gross,
        title=buyer.buyer_name,
        issued_at=uow.now,
        month=month,
        kind=kind,
        period=period,
        statement_id=statement_id,
        net=split.net,
        tax=split.tax,
        vat_rate=str(split.rate),
        covered=covered,
        invoice_type=buyer.invoice_type,
        buyer_credit_code=buyer.credit_code,
        buyer_bank_name=buyer.bank_name,
        buyer_bank_account=buyer.bank_account,
        buyer_address=buyer.address,
        buyer_phone=buyer.phone,
        state=InvoiceState.ISSUED,
    )
    uow.session.add(invoice)
    await uow.session.flush()
    uow.audit(
        "invoice.issued",
        ("invoice", invoice.id),
        partner_id=partner.id,
        after={
            "number": invoice.number,
            "kind": kind.value,
            "amount": invoice.amount,
            "net": invoice.net,
            "tax": invoice.tax,
            "vat_rate": invoice.vat_rate,
            "payment_id": payment_id,
            "statement_id": statement_id,
            "title": invoice.title,
            "invoice_type": invoice.invoice_type.value,
        },
    )
    await _notify_issued(uow, invoice)
    return invoice


async def _notify_issued(uow: UnitOfWork, inv: Invoice) -> None:
    pdf = await render_pdf(uow, inv)
    zh, en = _kind_words(inv)
    rate = rules.rate_label(Decimal(inv.vat_rate))
    await notify(
        uow,
        recipient=("partner", inv.partner_id),
        kind="invoice-issued",
        subject=f"发票 {inv.number} 已开具 / Invoice {inv.number}: {fmt_fen(inv.amount)} CNY",
        body=(
            f"您的{zh}发票 {inv.number} 已开具：价税合计 ¥{fmt_fen(inv.amount)}（金额 ¥{fmt_fen(inv.net)}，"
            f"税率 {rate}，税额 ¥{fmt_fen(inv.tax)}）。PDF 见附件，也可在控制台“发票”页下载；"
            "税务发票开具后，其号码将显示在发票上。\n"
            f"Your invoice {inv.number} ({en}) is issued: CNY {fmt_fen(inv.amount)} including VAT "
            f"({rate}: CNY {fmt_fen(inv.tax)}; before tax CNY {fmt_fen(inv.net)}). The PDF is attached "
            "and on the console's invoices page."
        ),
        dedup_key=f"invoice-issued:{inv.id}",
        attachments=[Attachment(f"{inv.number}.pdf", invoice_pdf.MEDIA_TYPE, pdf)],
    )


def _kind_words(inv: Invoice) -> tuple[str, str]:
    zh, en = KIND_WORDS[inv.kind]
    return zh.format(period=inv.period or ""), en.format(period=inv.period or "")


async def issue_for_payment(
    uow: UnitOfWork, payment: Payment, partner: PartnerRef, *, activates: bool
) -> Invoice | None:
    """A confirmed top-up's invoice: always in "top_up" mode; in "monthly" mode only when the top-up
    opens a pending prepaid SI (R-BILL-01). Deposits get none."""
    if payment.purpose != PaymentPurpose.TOP_UP:
        return None
    if uow.settings.invoice_prepaid_mode == "monthly" and not activates:
        return None
    return await _issue(uow, partner, InvoiceKind.TOP_UP, payment.amount, payment_id=payment.id)


async def issue_for_statement(uow: UnitOfWork, stmt: Statement) -> Invoice | None:
    """A postpaid statement's invoice, once its total is final (confirmed, deemed confirmed, or its
    window closed after a dispute). Once per statement; none for a total of zero or less."""
    if stmt.billing_mode != "postpaid" or stmt.total <= 0:
        return None
    if await uow.session.scalar(select(Invoice.id).where(Invoice.statement_id == stmt.id)) is not None:
        return None
    partner = await partners.partner_ref(uow, stmt.partner_id)
    return await _issue(
        uow, partner, InvoiceKind.STATEMENT, stmt.total, period=stmt.month, statement_id=stmt.id
    )


async def invoice_consumption(uow: UnitOfWork, through_month: str) -> tuple[int, int]:
    """invoice_prepaid_mode=monthly: invoice every prepaid statement of `through_month` or earlier whose
    confirmation window has closed and that was not dealt with yet (idempotent: one ConsumptionInvoicing
    row per statement), less what the partner had invoiced in advance. Returns (invoices issued,
    statements dealt with)."""
    access.require_staff(uow.actor, *BILLING_ROLES)
    if uow.settings.invoice_prepaid_mode != "monthly":
        return 0, 0
    done = select(ConsumptionInvoicing.statement_id)
    todo = (
        await uow.session.scalars(
            select(Statement)
            .where(
                Statement.billing_mode == "prepaid",
                Statement.month <= through_month,
                Statement.state.in_(
                    (StatementState.CONFIRMED, StatementState.DISPUTED, StatementState.SETTLED)
                ),
                Statement.confirm_by <= uow.now,
                Statement.id.not_in(done),
            )
            .order_by(Statement.partner_id, Statement.month)
        )
    ).all()
    issued = 0
    for stmt in todo:
        advance = await _advance(uow, stmt.partner_id)
        consumed = round_fen(stmt.total)
        covered, gross = rules.consumption_to_invoice(consumed, advance)
        inv = None
        if gross > 0:
            partner = await partners.partner_ref(uow, stmt.partner_id)
            inv = await _issue(
                uow,
                partner,
                InvoiceKind.CONSUMPTION,
                gross,
                period=stmt.month,
                statement_id=stmt.id,
                covered=covered,
            )
            issued += 1
        uow.session.add(
            ConsumptionInvoicing(
                statement_id=stmt.id,
                partner_id=stmt.partner_id,
                month=stmt.month,
                consumed=consumed,
                covered=covered,
                invoice_id=inv.id if inv else None,
                created_at=uow.now,
            )
        )
        await uow.session.flush()
    return issued, len(todo)


async def _advance(uow: UnitOfWork, partner_id: str) -> Decimal:
    """What the partner has had invoiced in advance (top-up invoices) and not yet consumed."""
    topups = await uow.session.scalars(
        select(Invoice.amount).where(Invoice.partner_id == partner_id, Invoice.kind == InvoiceKind.TOP_UP)
    )
    covered = await uow.session.scalars(
        select(ConsumptionInvoicing.covered).where(ConsumptionInvoicing.partner_id == partner_id)
    )
    return sum(topups.all(), ZERO) - sum(covered.all(), ZERO)


# ---- the official fapiao -------------------------------------------------------------------------


def _fapiao_snapshot(inv: Invoice) -> dict[str, Any]:
    return {
        "state": inv.state.value,
        "fapiao_number": inv.fapiao_number,
        "fapiao_date": inv.fapiao_date.isoformat() if inv.fapiao_date else None,
    }


def _today(uow: UnitOfWork) -> date:
    return uow.now.astimezone(SHANGHAI).date()


async def record_fapiao(uow: UnitOfWork, invoice_ref: str, number: str, issued_on: date) -> Invoice:
    """A billing clerk records the fapiao the tax system issued for the invoice. The same number again
    changes nothing; another number for an invoice that has one is 409 FAPIAO_RECORDED, and a number
    already on another invoice 409 FAPIAO_NUMBER_TAKEN."""
    access.require_staff(uow.actor, *BILLING_ROLES)
    number, issued_on = rules.check_fapiao(number, issued_on, _today(uow))
    inv = await uow.session.scalar(
        select(Invoice).where((Invoice.id == invoice_ref) | (Invoice.number == invoice_ref)).with_for_update()
    )
    if inv is None:
        raise NotFound(f"invoice {invoice_ref} not found")
    await _record(uow, inv, number, issued_on)
    return inv


async def _record(uow: UnitOfWork, inv: Invoice, number: str, issued_on: date) -> bool:
    if inv.fapiao_number is not None:
        if inv.fapiao_number == number and inv.fapiao_date == issued_on:
            return False
        raise Conflict(
            f"invoice {inv.number} already has fapiao {inv.fapiao_number} ({inv.fapiao_date})",
            code="FAPIAO_RECORDED",
        )
    taken = await uow.session.scalar(
        select(Invoice.number).where(Invoice.fapiao_number == number, Invoice.id != inv.id)
    )
    if taken is not None:
        raise Conflict(f"fapiao {number} is already recorded on invoice {taken}", code="FAPIAO_NUMBER_TAKEN")
    before = _fapiao_snapshot(inv)
    inv.fapiao_number, inv.fapiao_date = number, issued_on
    inv.fapiao_recorded_at, inv.fapiao_recorded_by = uow.now, uow.actor.id
    inv.state = InvoiceState.FAPIAO_RECORDED
    await uow.session.flush()
    uow.audit(
        "invoice.fapiao_recorded",
        ("invoice", inv.id),
        partner_id=inv.partner_id,
        before=before,
        after=_fapiao_snapshot(inv),
    )
    return True


@dataclass(frozen=True, slots=True)
class ImportResult:
    recorded: int
    unchanged: int


async def import_fapiao(uow: UnitOfWork, csv_text: str) -> ImportResult:
    """The tax system's export (invoice number, fapiao number, date per row): all rows or none. Any bad
    row, unknown invoice or conflicting number is reported (400 INVALID_FAPIAO_IMPORT, every problem by
    line) and nothing is recorded; rows already recorded as given are unchanged."""
    access.require_staff(uow.actor, *BILLING_ROLES)
    rows, problems = rules.parse_fapiao_csv(csv_text, _today(uow))
    by_number: dict[str, Invoice] = {}
    numbers = [r.invoice_number for r in rows]
    for i in range(0, len(numbers), 500):
        chunk = numbers[i : i + 500]
        found = await uow.session.scalars(
            select(Invoice).where(Invoice.number.in_(chunk)).order_by(Invoice.id).with_for_update()
        )
        by_number.update({inv.number: inv for inv in found.all()})
    fapiao_seen: dict[str, int] = {}
    for r in rows:
        inv = by_number.get(r.invoice_number)
        if inv is None:
            problems.append(f"line {r.line}: no invoice {r.invoice_number}")
        elif inv.fapiao_number not in (None, r.fapiao_number):
            problems.append(f"line {r.line}: invoice {inv.number} already has fapiao {inv.fapiao_number}")
        if r.fapiao_number in fapiao_seen:
            problems.append(
                f"line {r.line}: fapiao {r.fapiao_number} is also on line {fapiao_seen[r.fapiao_number]}"
            )
        fapiao_seen[r.fapiao_number] = r.line
    if not rows and not problems:
        problems.append("no rows: expected invoice number, fapiao number, date per row")
    if problems:
        raise InvalidArgument(
            f"{len(problems)} problem(s), nothing recorded: " + "; ".join(problems[:50]),
            code="INVALID_FAPIAO_IMPORT",
            details={"problems": problems[:1000]},
        )
    recorded = 0
    for r in rows:
        try:
            recorded += await _record(uow, by_number[r.invoice_number], r.fapiao_number, r.fapiao_date)
        except Conflict as exc:
            raise InvalidArgument(
                f"line {r.line}: {exc.message}; nothing recorded", code="INVALID_FAPIAO_IMPORT"
            ) from None
    uow.audit(
        "invoice.fapiao_import",
        ("invoice_import", new_id("imp")),
        after={"rows": len(rows), "recorded": recorded},
    )
    return ImportResult(recorded, len(rows) - recorded)


# ---- reads and the PDF -----------------------------------------------------------------------------


async def list_invoices(
    uow: UnitOfWork,
    *,
    partner_id: str | None = None,
    kind: InvoiceKind | None = None,
    state: InvoiceState | None = None,
    month: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Invoice], int]:
    """A partner sees its own invoices; operators every partner's. Newest first."""
    offset, limit = access.page(offset, limit)
    partner_id = access.scope_partner(uow.actor, partner_id)
    stmt = select(Invoice)
    if partner_id is not None:
        stmt = stmt.where(Invoice.partner_id == partner_id)
    if kind is not None:
        stmt = stmt.where(Invoice.kind == kind)
    if state is not None:
        stmt = stmt.where(Invoice.state == state)
    if month is not None:
        stmt = stmt.where(Invoice.month == month)
    total = await uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (
        await uow.session.scalars(
            stmt.order_by(Invoice.issued_at.desc(), Invoice.number.desc()).offset(offset).limit(limit)
        )
    ).all()
    return list(rows), int(total)


async def get_invoice(uow: UnitOfWork, invoice_ref: str) -> Invoice:
    """An invoice by id or number; another partner's is NOT_FOUND, as an unknown one."""
    inv = await uow.session.scalar(
        select(Invoice).where((Invoice.id == invoice_ref) | (Invoice.number == invoice_ref))
    )
    if inv is None or ((not access.is_staff(uow.actor)) and inv.partner_id != uow.actor.partner_id):
        raise NotFound(f"invoice {invoice_ref} not found")
    return inv


async def invoice_pdf_of(uow: UnitOfWork, invoice_ref: str) -> tuple[str, bytes]:
    """(file name, PDF) of an invoice the actor may see."""
    inv = await get_invoice(uow, invoice_ref)
    return f"{inv.number}.pdf", await render_pdf(uow, inv)


async def render_pdf(uow: UnitOfWork, inv: Invoice) -> bytes:
    return invoice_pdf.render(await _doc(uow, inv))


def _four(v: Decimal) -> str:
    return f"{v:,.4f}"


async def _doc(uow: UnitOfWork, inv: Invoice) -> invoice_pdf.InvoiceDoc:
    s = uow.settings
    lines: list[invoice_pdf.DocLine] = []
    if inv.statement_id is not None:
        for ln in (
            await uow.session.scalars(
                select(StatementLine)
                .where(StatementLine.statement_id == inv.statement_id)
                .order_by(StatementLine.seq)
            )
        ).all():
            usage = ln.kind == LineKind.USAGE
            lines.append(
                invoice_pdf.DocLine(
                    ln.description,
                    str(ln.units) if usage else "",
                    _four(ln.unit_price) if usage and ln.unit_price is not None else "",
                    _four(ln.amount),
                )
            )
        if inv.covered:
            lines.append(
                invoice_pdf.DocLine(
                    "已于充值时开票的预付款 / invoiced in advance at top-up", "", "", _four(-inv.covered)
                )
            )
    else:
        pay = await uow.session.get(Payment, inv.payment_id) if inv.payment_id else None
        ref = f" {pay.transaction_id}" if pay is not None else ""
        lines.append(
            invoice_pdf.DocLine(
                f"预付费充值 / prepaid top-up{ref}", "1", fmt_fen(inv.amount), fmt_fen(inv.amount)
            )
        )
    zh, en = _kind_words(inv)
    return invoice_pdf.InvoiceDoc(
        number=inv.number,
        issued_on=inv.issued_at.astimezone(SHANGHAI).date(),
        kind_label=f"{zh} / {en}",
        type_label=TYPE_WORDS[inv.invoice_type],
        seller=invoice_pdf.Party(
            s.invoice_seller_name,
            s.invoice_seller_credit_code,
            s.invoice_seller_address_phone,
            s.invoice_seller_bank_account,
        ),
        buyer=invoice_pdf.Party(
            inv.title,
            inv.buyer_credit_code,
            " ".join(x for x in (inv.buyer_address, inv.buyer_phone) if x),
            " ".join(x for x in (inv.buyer_bank_name, inv.buyer_bank_account) if x),
        ),
        lines=tuple(lines),
        net=inv.net,
        rate=Decimal(inv.vat_rate),
        tax=inv.tax,
        gross=inv.amount,
        fapiao_number=inv.fapiao_number,
        fapiao_date=inv.fapiao_date,
    )


async def invoices_for_statements(uow: UnitOfWork, statement_ids: Sequence[str]) -> dict[str, Invoice]:
    if not statement_ids:
        return {}
    rows = (
        await uow.session.scalars(select(Invoice).where(Invoice.statement_id.in_(list(statement_ids))))
    ).all()
    return {i.statement_id: i for i in rows if i.statement_id is not None}
