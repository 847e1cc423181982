"""Payments (prepaid top-ups, deposits), invoices and the balance read model.

A payment is idempotent by (partner, transaction id). Confirming it posts one balanced journal entry
(Dr platform cash / Cr the partner's prepaid:available or deposit, R-BILL-10), issues a top-up's invoice
(billing/invoices.py, by invoice_prepaid_mode) and, for a pending SI, opens the service (R-BILL-01, R-ADMIT-05) — when the funds are real: a bank
transfer a billing clerk confirmed, or an online payment its provider confirmed by a signed
notification. Sandbox payments (a demo feature, settings.payments_sandbox) credit a demo balance and
never open a service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from openability.billing import collection_rules, dues, invoices, providers, rules
from openability.billing.models import Invoice, Payment, ProviderOrder
from openability.billing.providers.base import NotifyReply, OrderRequest, ProviderUnavailable
from openability.billing.types import PaymentMethod, PaymentPurpose, PaymentState
from openability.kernel import access
from openability.kernel.audit import AuditEntry
from openability.kernel.errors import AppError, Conflict, InvalidArgument, NotFound, PermissionDenied
from openability.kernel.events import BALANCE_CHANGED, FUNDS_CONFIRMED
from openability.kernel.ids import new_id
from openability.kernel.uow import Actor, UnitOfWork
from openability.ledger import service as ledger
from openability.ledger.types import PLATFORM, AccountType, EntryKind
from openability.partners import service as partners
from openability.partners.rules import PARTNER_ROLE_PREFIX
from openability.partners.types import PartnerRef

BILLING_ROLES = ("admin", "billing_clerk")
# Where a confirmed payment goes (Dr platform cash / Cr this account of the partner), and its entry kind.
PURPOSE_POSTING = {
    PaymentPurpose.TOP_UP: (AccountType.PREPAID_AVAILABLE, EntryKind.TOP_UP),
    PaymentPurpose.DEPOSIT: (AccountType.DEPOSIT, EntryKind.DEPOSIT),
    PaymentPurpose.STATEMENT: (AccountType.RECEIVABLE, EntryKind.PAYMENT),  # R-BILL-07
}
STATEMENT_PAYER_ROLES = ("admin", "finance")  # partner users who file a statement's payment notice
SANDBOX_CONFIRMER = "sandbox"


def _snapshot(p: Payment) -> dict[str, Any]:
    return {
        "transaction_id": p.transaction_id,
        "method": p.method,
        "purpose": p.purpose,
        "amount": p.amount,
        "state": p.state,
        "bank_reference": p.bank_reference,
    } | ({"statement_id": p.statement_id} if p.statement_id else {})


async def _partner(uow: UnitOfWork, partner_id: str, *, lock: bool = False) -> PartnerRef:
    access.check_partner_visible(uow.actor, partner_id)
    return await partners.partner_ref(uow, partner_id, lock=lock)


# ---- payments ----


async def create_payment(
    uow: UnitOfWork,
    partner_id: str,
    transaction_id: str,
    amount: Decimal,
    method: PaymentMethod,
    purpose: PaymentPurpose = PaymentPurpose.TOP_UP,
    bank_reference: str = "",
    provider: str | None = None,
    statement_id: str | None = None,
) -> tuple[Payment, bool]:
    """Record a payment; returns (payment, created). A retry with the same transaction id and the
    same amount, method, purpose (and provider) returns the first payment (created=False); any
    difference is a 409 TRANSACTION_ID_REUSED. Bank transfers wait for a billing clerk; online
    payments open an order at their provider and wait for its signed notification; sandbox payments
    (only when settings.payments_sandbox is on, else 403 SANDBOX_DISABLED) confirm at once.

    Purpose `statement` (with `statement_id`) is a postpaid statement's payment notice (R-BILL-07): a
    bank transfer with its reference, for at most what is unpaid (billing/collections.py)."""
    if uow.actor.is_operator:
        access.require_staff(uow.actor, *BILLING_ROLES)
    method, purpose = PaymentMethod(method), PaymentPurpose(purpose)
    if purpose == PaymentPurpose.STATEMENT:
        _may_pay_statements(uow)
        rules.check_statement_method(method.value)
        bank_reference = collection_rules.check_bank_reference(bank_reference)
        if not statement_id:
            raise InvalidArgument(
                "statementId: a statement payment names its statement", code="STATEMENT_REQUIRED"
            )
    elif statement_id is not None:
        raise InvalidArgument("statementId: only a payment of purpose statement names one")
    if method == PaymentMethod.SANDBOX and not uow.settings.payments_sandbox:
        raise PermissionDenied(
            "sandbox payments are a demo feature and are off here: pay online or by bank transfer",
            code="SANDBOX_DISABLED",
        )
    rules.check_provider_choice(method.value, provider)
    rules.check_transaction_id(transaction_id)
    amount = rules.check_payment_amount(amount)
    partner = await _partner(uow, partner_id)

    existing = await _by_transaction(uow, partner_id, transaction_id)
    if existing is not None:
        return await _replay(uow, existing, amount, method, purpose, provider, statement_id), False
    rules.check_payment_allowed(
        partner.kind.value, partner.billing_mode.value, partner.status.value, purpose.value
    )
    if statement_id is not None:
        due = await dues.check_payment(uow, statement_id, amount)
        if due.partner_id != partner_id:
            raise NotFound(f"statement {statement_id} not found")

    payment = Payment(
        id=new_id("pay"),
        partner_id=partner_id,
        transaction_id=transaction_id,
        method=method,
        purpose=purpose,
        amount=amount,
        state=PaymentState.PENDING,
        bank_reference=bank_reference,
        created_at=uow.now,
        created_by=uow.actor.id,
        reject_reason="",
        statement_id=statement_id,
    )
    order: ProviderOrder | None = None
    if provider is not None:
        # The order is opened at the provider before anything is written (this transaction has only
        # read so far): a provider that refuses or does not answer leaves nothing behind (502).
        adapter = providers.get(uow.settings, provider)
        opened = await adapter.create_order(
            OrderRequest(
                order_id=payment.id,
                amount=amount,
                subject=rules.order_subject(purpose.value, transaction_id),
                notify_url=providers.notify_url(uow.settings, adapter.name),
                requested_at=uow.now,
                timeout_minutes=uow.settings.payment_order_timeout_minutes,
            )
        )
        order = ProviderOrder(
            payment_id=payment.id, provider=adapter.name, pay_url=opened.pay_url, created_at=uow.now
        )
    # A concurrent request with the same transaction id may win the insert; the savepoint lets us
    # read its row and answer as a retry instead of failing the whole unit of work.
    try:
        async with uow.session.begin_nested():
            uow.session.add(payment)
            await uow.session.flush()
            if order is not None:
                uow.session.add(order)
                await uow.session.flush()
    except IntegrityError:
        existing = await _by_transaction(uow, partner_id, transaction_id)
        if existing is None:
            raise
        return await _replay(uow, existing, amount, method, purpose, provider, statement_id), False
    after = _snapshot(payment) | ({"provider": order.provider, "pay_url": order.pay_url} if order else {})
    uow.audit("payment.created", ("payment", payment.id), partner_id=partner_id, after=after)
    if method == PaymentMethod.SANDBOX:
        # The simulated provider answers synchronously: a demo balance is credited, but no real
        # funds arrived, so a pending SI stays pending (R-BILL-01).
        await _confirm(uow, payment, partner, confirmed_by=SANDBOX_CONFIRMER, real_funds=False)
    return payment, True


def _may_pay_statements(uow: UnitOfWork) -> None:
    """A statement's payment notice: a billing clerk, or the partner's admin or finance user."""
    a = uow.actor
    if access.is_staff(a) or any(PARTNER_ROLE_PREFIX + r in a.roles for r in STATEMENT_PAYER_ROLES):
        return
    raise PermissionDenied(f"needs one of the partner roles: {', '.join(STATEMENT_PAYER_ROLES)}")


async def _by_transaction(uow: UnitOfWork, partner_id: str, transaction_id: str) -> Payment | None:
    return await uow.session.scalar(
        select(Payment).where(Payment.partner_id == partner_id, Payment.transaction_id == transaction_id)
    )


async def _replay(
    uow: UnitOfWork,
    existing: Payment,
    amount: Decimal,
    method: PaymentMethod,
    purpose: PaymentPurpose,
    provider: str | None,
    statement_id: str | None = None,
) -> Payment:
    order = await uow.session.get(ProviderOrder, existing.id)
    if (
        not rules.same_payment(
            (existing.amount, existing.method.value, existing.purpose.value),
            (amount, method.value, purpose.value),
        )
        or (order.provider if order else None) != provider
        or existing.statement_id != statement_id
    ):
        raise Conflict(
            f"transaction id {existing.transaction_id} was already used for a different payment",
            code="TRANSACTION_ID_REUSED",
        )
    return existing


async def _locked_payment(uow: UnitOfWork, payment_id: str) -> Payment:
    p = await uow.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if p is None or ((not access.is_staff(uow.actor)) and p.partner_id != uow.actor.partner_id):
        raise NotFound(f"payment {payment_id} not found")
    return p


async def confirm_payment(uow: UnitOfWork, payment_id: str) -> Payment:
    """An operator (admin, billing_clerk) confirms that a bank transfer arrived. Confirming a
    confirmed payment again is a no-op (no second journal entry)."""
    access.require_staff(uow.actor, *BILLING_ROLES)
    payment = await _locked_payment(uow, payment_id)
    if payment.state == PaymentState.CONFIRMED:
        return payment
    if payment.state == PaymentState.REJECTED:
        raise Conflict(f"payment {payment_id} was rejected", code="PAYMENT_REJECTED")
    if payment.method == PaymentMethod.ONLINE:
        raise Conflict(
            f"payment {payment_id} is an online payment: its provider confirms it by notification",
            code="CONFIRMED_BY_PROVIDER",
        )
    partner = await _partner(uow, payment.partner_id, lock=True)
    await _confirm(uow, payment, partner, confirmed_by=uow.actor.id)
    return payment


async def reject_payment(uow: UnitOfWork, payment_id: str, reason: str) -> Payment:
    """An operator rejects a bank-transfer notice whose funds never arrived."""
    access.require_staff(uow.actor, *BILLING_ROLES)
    payment = await _locked_payment(uow, payment_id)
    if payment.state == PaymentState.REJECTED:
        return payment
    if payment.state == PaymentState.CONFIRMED:
        raise Conflict(f"payment {payment_id} is already confirmed", code="PAYMENT_CONFIRMED")
    before = _snapshot(payment)
    payment.state = PaymentState.REJECTED
    payment.reject_reason = reason[:300]
    # confirmed_at/by mean a confirmation only; who rejected and when is the payment.rejected audit
    # row (the payments table has no columns of its own for it), see rejections_for_payments.
    await uow.session.flush()
    uow.audit(
        "payment.rejected",
        ("payment", payment.id),
        partner_id=payment.partner_id,
        before=before,
        after=_snapshot(payment),
        note=reason,
    )
    return payment


# ---- online payments: the provider's notification ----


@dataclass(frozen=True)
class NotifyOutcome:
    """The answer to a provider's notification: `reply` (what the provider expects) when it was
    handled, else `refusal` (a 4xx; the refusal is audited in the same, committed, unit of work)."""

    reply: NotifyReply | None
    refusal: AppError | None = None
    payment_id: str | None = None


def provider_actor(name: str) -> Actor:
    """Who acts when a provider's notification confirms a payment (the audit's actor)."""
    return Actor(type="system", id=f"provider:{name}", name=name)


async def handle_notification(
    uow: UnitOfWork, provider: str, content_type: str, body: bytes
) -> NotifyOutcome:
    """A provider's asynchronous notification: its signature verified with the provider's public key,
    then its app id / merchant, order, provider and amount checked against the platform's records.
    Paid: the payment is confirmed exactly as a clerk-confirmed bank transfer (ledger entry, invoice,
    R-BILL-01 activation: the funds are real). Idempotent by the provider's transaction id: the same
    notification again answers success and changes nothing. Anything that does not fit is refused,
    audited, and nothing is credited."""
    order: ProviderOrder | None = None
    payment: Payment | None = None
    fields: dict[str, str] = {}
    try:
        adapter = providers.get(uow.settings, provider)
        fields = adapter.parse_notification(content_type, body)
        note = adapter.verify_notification(fields)
        rules.check_merchant(adapter.app_id, note.app_id, adapter.merchant_id, note.merchant_id)
        order = await uow.session.get(ProviderOrder, note.order_id)
        payment = await uow.session.scalar(
            select(Payment).where(Payment.id == note.order_id).with_for_update()
        )
        if order is None or payment is None:
            raise NotFound(f"no online payment order {note.order_id}", code="UNKNOWN_PAYMENT_ORDER")
        decision = rules.judge_notification(
            provider=adapter.name,
            order_provider=order.provider,
            payment_state=payment.state.value,
            order_amount=payment.amount,
            notified_amount=note.amount,
            recorded_transaction=order.provider_transaction_id,
            transaction=note.transaction_id,
            status=note.status.value,
        )
        if decision == rules.CONFIRM:
            taken = await uow.session.scalar(
                select(ProviderOrder.payment_id).where(
                    ProviderOrder.provider == adapter.name,
                    ProviderOrder.provider_transaction_id == note.transaction_id,
                )
            )
            if taken is not None:
                raise Conflict(
                    f"transaction {note.transaction_id} already paid order {taken}",
                    code="TRANSACTION_ID_REUSED",
                )
    except AppError as exc:
        if isinstance(exc, ProviderUnavailable):
            raise  # a set-up error (502): the provider retries later; nothing to audit as refused
        _audit_refusal(uow, provider, exc, fields, order, payment)
        return NotifyOutcome(reply=None, refusal=exc, payment_id=payment.id if payment else None)

    if decision == rules.CONFIRM:
        order.provider_transaction_id = note.transaction_id
        order.notified_at = uow.now
        partner = await _partner(uow, payment.partner_id, lock=True)
        await _confirm(uow, payment, partner, confirmed_by=uow.actor.id)
    elif decision == rules.CLOSE:
        before = _snapshot(payment)
        payment.state = PaymentState.REJECTED
        payment.reject_reason = f"closed unpaid at {adapter.name} ({note.raw_status})"
        order.notified_at = uow.now
        await uow.session.flush()
        uow.audit(
            "payment.rejected",
            ("payment", payment.id),
            partner_id=payment.partner_id,
            before=before,
            after=_snapshot(payment),
            note=payment.reject_reason,
        )
    return NotifyOutcome(reply=adapter.success_reply(), payment_id=payment.id)


def _audit_refusal(
    uow: UnitOfWork,
    provider: str,
    exc: AppError,
    fields: dict[str, str],
    order: ProviderOrder | None,
    payment: Payment | None,
) -> None:
    """What was refused and why; the claimed fields are recorded as claims (the signature may be bad)."""
    entity = ("payment", payment.id) if payment is not None else ("payment_provider", provider[:40])
    claimed = {
        k: fields.get(k, "")[:80]
        for k in ("app_id", "out_trade_no", "trade_no", "total_amount", "trade_status")
    }
    uow.audit(
        "payment.notification_refused",
        entity,
        partner_id=payment.partner_id if payment is not None else None,
        after={
            "provider": provider[:40],
            "code": exc.code,
            "order_provider": order.provider if order is not None else None,
            "claimed": claimed,
        },
        note=exc.message[:300],
    )


async def _confirm(
    uow: UnitOfWork, payment: Payment, partner: PartnerRef, *, confirmed_by: str, real_funds: bool = True
) -> None:
    session = uow.session
    await ledger.ensure_platform_accounts(session, uow.now)
    await ledger.ensure_partner_accounts(session, partner.id, uow.now)
    target, kind = PURPOSE_POSTING[payment.purpose]
    if payment.purpose == PaymentPurpose.STATEMENT:
        # R-BILL-07: the statement's paid amount rises (an over-payment is refused before any posting).
        await dues.apply_payment(uow, payment)
    cash = await ledger.get_account(session, PLATFORM, AccountType.CASH)
    account = await ledger.get_account(session, partner.id, target)
    entry = await ledger.post(
        session,
        kind=kind,
        legs=[ledger.debit(cash, payment.amount), ledger.credit(account, payment.amount)],
        now=uow.now,
        ref=("payment", payment.id),
        memo=f"{payment.purpose.value} {payment.transaction_id} ({payment.method.value})",
    )
    before = _snapshot(payment)
    payment.state = PaymentState.CONFIRMED
    payment.confirmed_at = uow.now
    payment.confirmed_by = confirmed_by
    payment.journal_entry_id = entry.id
    activates = real_funds and rules.activates_partner(
        partner.kind.value, partner.billing_mode.value, partner.status.value, payment.purpose.value
    )
    # R-BILL-01: the invoice is issued before the service opens (in either invoice_prepaid_mode), also
    # for an SI applicant, whose service the admission domain opens on FUNDS_CONFIRMED below. A
    # statement's payment is not invoiced here: the statement is (billing/invoices.py).
    opens = activates or (real_funds and partner.status.value == "applicant")
    invoice = await invoices.issue_for_payment(uow, payment, partner, activates=opens)
    await session.flush()
    uow.audit(
        "payment.confirmed",
        ("payment", payment.id),
        partner_id=partner.id,
        before=before,
        after=_snapshot(payment)
        | {"journal_entry_id": entry.id, "invoice": invoice.number if invoice else None},
    )
    if real_funds and payment.purpose in (PaymentPurpose.DEPOSIT, PaymentPurpose.STATEMENT):
        # R-BILL-09: arrears paid and the deposit restored resume a partner suspended for arrears.
        await dues.maybe_resume(uow, partner.id)
    if activates:
        # The confirmer (a billing clerk or the payment provider) is not a reviewer, yet confirmed real
        # funds open the service by rule: the partners domain performs it as such.
        issued = f", invoice {invoice.number}" if invoice else ""
        await partners.activate_on_funds(
            uow,
            partner.id,
            f"funds confirmed: payment {payment.id} (R-BILL-01)",
            note=f"R-BILL-01: funds confirmed by payment {payment.id}{issued}",
        )
    if real_funds:  # the admission domain activates a contracted SI applicant (kernel.events)
        await uow.emit(FUNDS_CONFIRMED, payment.id)
    uow.publish(BALANCE_CHANGED, partner.id)


# ---- reads ----


async def get_payment(uow: UnitOfWork, payment_id: str) -> Payment:
    p = await uow.session.get(Payment, payment_id)
    if p is None or ((not access.is_staff(uow.actor)) and p.partner_id != uow.actor.partner_id):
        raise NotFound(f"payment {payment_id} not found")
    return p


async def list_payments(
    uow: UnitOfWork,
    *,
    partner_id: str | None = None,
    state: PaymentState | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Payment], int]:
    offset, limit = access.page(offset, limit)
    partner_id = access.scope_partner(uow.actor, partner_id)
    stmt = select(Payment)
    if partner_id is not None:
        stmt = stmt.where(Payment.partner_id == partner_id)
    if state is not None:
        stmt = stmt.where(Payment.state == state)
    total = await uow.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (
        await uow.session.scalars(
            stmt.order_by(Payment.created_at.desc(), Payment.id.desc()).offset(offset).limit(limit)
        )
    ).all()
    return list(rows), int(total)


async def invoices_for_payments(uow: UnitOfWork, payment_ids: Sequence[str]) -> dict[str, Invoice]:
    if not payment_ids:
        return {}
    rows = (await uow.session.scalars(select(Invoice).where(Invoice.payment_id.in_(list(payment_ids))))).all()
    return {i.payment_id: i for i in rows if i.payment_id is not None}


async def orders_for_payments(uow: UnitOfWork, payment_ids: Sequence[str]) -> dict[str, ProviderOrder]:
    """The provider orders of online payments."""
    if not payment_ids:
        return {}
    rows = (
        await uow.session.scalars(
            select(ProviderOrder).where(ProviderOrder.payment_id.in_(list(payment_ids)))
        )
    ).all()
    return {o.payment_id: o for o in rows}


def offered_methods(uow: UnitOfWork) -> tuple[list[PaymentMethod], list[str]]:
    """The payment methods and online providers this installation offers a payer."""
    names = providers.configured(uow.settings)
    methods = [PaymentMethod.BANK_TRANSFER]
    if names:
        methods.append(PaymentMethod.ONLINE)
    if uow.settings.payments_sandbox:
        methods.append(PaymentMethod.SANDBOX)
    return methods, names


async def rejections_for_payments(
    uow: UnitOfWork, payment_ids: Sequence[str]
) -> dict[str, tuple[datetime, str]]:
    """When and by whom each rejected payment was rejected, from its payment.rejected audit row."""
    if not payment_ids:
        return {}
    rows = (
        await uow.session.execute(
            select(AuditEntry.entity_id, AuditEntry.at, AuditEntry.actor_id)
            .where(
                AuditEntry.entity_type == "payment",
                AuditEntry.action == "payment.rejected",
                AuditEntry.entity_id.in_(list(payment_ids)),
            )
            .order_by(AuditEntry.at)
        )
    ).all()
    return {pid: (at, who) for pid, at, who in rows}


async def list_invoices(
    uow: UnitOfWork, *, partner_id: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[Invoice], int]:
    return await invoices.list_invoices(uow, partner_id=partner_id, offset=offset, limit=limit)


async def get_invoice(uow: UnitOfWork, invoice_ref: str) -> Invoice:
    """An invoice by id or number."""
    return await invoices.get_invoice(uow, invoice_ref)


@dataclass(frozen=True)
class Balance:
    partner_id: str
    available: Decimal
    reserved: Decimal
    deposit: Decimal
    receivable: Decimal

    @property
    def total(self) -> Decimal:
        return self.available + self.reserved


async def get_balance(uow: UnitOfWork, partner_id: str) -> Balance:
    """The partner's ledger balances (zero where no account exists yet)."""
    await _partner(uow, partner_id)
    b = await ledger.balances(uow.session, partner_id)
    zero = Decimal("0.0000")
    return Balance(
        partner_id=partner_id,
        available=b.get(AccountType.PREPAID_AVAILABLE, zero),
        reserved=b.get(AccountType.PREPAID_RESERVED, zero),
        deposit=b.get(AccountType.DEPOSIT, zero),
        receivable=b.get(AccountType.RECEIVABLE, zero),
    )
