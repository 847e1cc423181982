"""SLA policies as data (R-CS-03), the breach scan (R-CS-05) and the monthly compliance report,
plus the operator lookups the ticket service shares with them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from openability.kernel.clock import month_bounds
from openability.kernel.errors import InvalidArgument, PermissionDenied
from openability.kernel.ids import new_id
from openability.kernel.notify import notify
from openability.kernel.uow import UnitOfWork
from openability.partners import service as partners
from openability.partners.types import OperatorRef
from openability.tickets import rules
from openability.tickets.models import SlaPolicy, Ticket, TicketBreach
from openability.tickets.rules import (
    DeadlineMode,
    Importance,
    PolicyRow,
    SlaUnit,
    Term,
    TicketState,
)
from openability.tickets.schemas import PolicySetIn

AGENT_ROLES = ("service_agent", "service_lead")
LEAD_ROLES = ("service_lead",)


# ---------------------------------------------------------------- SLA policies


def _row_from_model(p: SlaPolicy) -> PolicyRow:
    return PolicyRow(
        p.type,
        p.subtype,
        p.importance,
        Term(p.first_response_amount, p.first_response_unit, p.first_response_mode),
        Term(p.final_amount, p.final_unit, p.final_mode),
        p.note,
    )


async def current_policies(uow: UnitOfWork) -> tuple[int, list[PolicyRow]]:
    """The policy set in force: the highest version, or the R-CS-03 defaults (version 0)."""
    version = await uow.session.scalar(select(func.max(SlaPolicy.version)))
    if not version:
        return 0, list(rules.DEFAULT_POLICIES)
    rows = (await uow.session.scalars(select(SlaPolicy).where(SlaPolicy.version == version))).all()
    return int(version), [_row_from_model(r) for r in rows]


async def put_policies(uow: UnitOfWork, cmd: PolicySetIn) -> tuple[int, list[PolicyRow]]:
    """Replace the whole policy set with a new version (old versions stay for the tickets that used them)."""
    a = uow.actor
    if not (a.type == "system" or (a.is_operator and a.has_role("admin"))):
        raise PermissionDenied("SLA policies are changed by an admin")
    rows = [
        PolicyRow(
            r.type,
            str(r.subtype),  # plain strings: "" (any) or the enum's value, as stored
            str(r.importance),
            Term(r.first_response_amount, r.first_response_unit, r.first_response_mode),
            Term(r.final_amount, r.final_unit, r.final_mode),
            r.note,
        )
        for r in cmd.items
    ]
    try:
        for r in rows:
            if r.subtype:
                rules.validate_kind(r.type.value, r.subtype)
            if r.importance and r.importance not in {i.value for i in Importance}:
                raise rules.PolicyError(f"unknown importance {r.importance!r}")
        rules.validate_policy_set(rows)
    except (rules.PolicyError, rules.KindError) as exc:
        raise InvalidArgument(str(exc), code="BAD_POLICY") from exc
    old_version, old_rows = await current_policies(uow)
    version = old_version + 1
    for r in rows:
        uow.session.add(
            SlaPolicy(
                id=new_id("sla"),
                version=version,
                type=r.type,
                subtype=r.subtype,
                importance=r.importance,
                first_response_amount=r.first_response.amount,
                first_response_unit=r.first_response.unit,
                first_response_mode=r.first_response.mode,
                final_amount=r.final.amount,
                final_unit=r.final.unit,
                final_mode=r.final.mode,
                note=r.note,
                created_by=f"{a.type}:{a.id}",
                created_at=uow.now,
            )
        )
    uow.audit(
        "sla_policy.replaced",
        ("sla_policy", str(version)),
        before={"version": old_version, "items": [policy_dict(r) for r in old_rows]},
        after={"version": version, "items": [policy_dict(r) for r in rows]},
        note=cmd.note or None,
    )
    await uow.session.flush()
    return version, rows


def policy_dict(r: PolicyRow) -> dict[str, Any]:
    return {
        "type": r.type.value,
        "subtype": r.subtype,
        "importance": r.importance,
        "first_response_amount": r.first_response.amount,
        "first_response_unit": r.first_response.unit.value,
        "first_response_mode": r.first_response.mode.value,
        "final_amount": r.final.amount,
        "final_unit": r.final.unit.value,
        "final_mode": r.final.mode.value,
        "note": r.note,
    }


def span_str(term: Term) -> str:
    """The time a term allows as stored on the ticket, e.g. "1 working_days" (its mode has a column)."""
    return f"{term.amount} {term.unit.value}"


def parse_span(s: str) -> Term:
    """The time allowed, as stored on the ticket (the ticket's mode columns say limit or target)."""
    amount, unit = s.split(" ", 1)
    return Term(int(amount), SlaUnit(unit))


async def active_agents(uow: UnitOfWork, roles: tuple[str, ...] = ("service_agent",)) -> list[OperatorRef]:
    return [o for o in await partners.active_operators(uow) if any(r in o.roles for r in roles)]


async def operator_names(uow: UnitOfWork, ids: set[str]) -> dict[str, str]:
    return await partners.operator_labels(uow, {i for i in ids if i})


# ---------------------------------------------------------------- breaches (R-CS-05)


async def scan_breaches(uow: UnitOfWork) -> int:
    """Mark every limit that passed unanswered and escalate it to the owner's lead, once per
    ticket+deadline (dedup key). Targets are goals, never breaches (R-CS-03). Paused tickets are
    skipped: their deadlines are not running."""
    now = uow.now
    rows = (
        await uow.session.scalars(
            select(Ticket)
            .where(
                Ticket.state.in_(rules.OPEN_STATES),
                Ticket.paused_since.is_(None),
                or_(
                    (Ticket.first_response_mode == DeadlineMode.LIMIT)
                    & (Ticket.first_responded_at.is_(None))
                    & (Ticket.first_response_breached_at.is_(None))
                    & (Ticket.first_response_due < now),
                    (Ticket.final_mode == DeadlineMode.LIMIT)
                    & (Ticket.resolved_at.is_(None))
                    & (Ticket.final_breached_at.is_(None))
                    & (Ticket.final_due < now),
                ),
            )
            .order_by(Ticket.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    found = 0
    for t in rows:
        for kind, due in _missed(t, now):
            found += 1
            before = t.snapshot()
            if kind == "first_response":
                t.first_response_breached_at = now
            else:
                t.final_breached_at = now
            t.breached = True
            recipients = await _escalation_targets(uow, t.owner_id)
            uow.session.add(
                TicketBreach(
                    id=new_id("tbr"),
                    ticket_id=t.id,
                    partner_id=t.partner_id,
                    kind=kind,
                    due_at=due,
                    detected_at=now,
                    owner_id=t.owner_id,
                    escalated_to=recipients[0] if recipients else None,
                )
            )
            uow.audit(
                "ticket.sla_breached",
                ("ticket", t.id),
                partner_id=t.partner_id,
                before=before,
                after={"kind": kind, "due": due, "escalated_to": recipients},
            )
            for rid in recipients:
                await notify(
                    uow,
                    recipient=("operator", rid),
                    kind="sla-breach",
                    subject=f"工单超时 {t.id}（{rules.label(kind, 'zh')}）",
                    body=f"{t.subject}; 截止 {due.isoformat()}; 处理人 {t.owner_id or '-'}",
                    dedup_key=f"sla-breach:{t.id}:{kind}:{due.isoformat()}:{rid}",
                )
    await uow.session.flush()
    return found


def _missed(t: Ticket, now: datetime) -> list[tuple[str, datetime]]:
    recorded = {"first_response": t.first_response_breached_at, "final": t.final_breached_at}
    return [
        (d.kind, d.due)
        for d in t.deadlines()
        if d.mode == DeadlineMode.LIMIT and d.done_at is None and recorded[d.kind] is None and d.due < now
    ]


async def _escalation_targets(uow: UnitOfWork, owner_id: str | None) -> list[str]:
    """The owner's lead; without one, every active service lead."""
    if owner_id:
        owner = await partners.operator_ref(uow, owner_id)
        if owner is not None and owner.lead_id:
            return [owner.lead_id]
    return [o.id for o in await active_agents(uow, LEAD_ROLES)]


# ---------------------------------------------------------------- report (R-CS-05)


async def sla_report(uow: UnitOfWork, month: str) -> dict[str, Any]:
    """Compliance of the tickets received in a month (Asia/Shanghai), by type and by owner.
    Cancelled tickets are left out. A ticket is breached if any of its deadlines was missed."""
    if not uow.actor.is_operator and uow.actor.type != "system":
        raise PermissionDenied("reports are for operators")
    try:
        rules.parse_month(month)
    except ValueError as exc:
        raise InvalidArgument(str(exc), code="BAD_MONTH") from exc
    start, end = month_bounds(month)
    tickets = (
        await uow.session.scalars(
            select(Ticket).where(
                Ticket.received_at >= start, Ticket.received_at < end, Ticket.state != TicketState.CANCELLED
            )
        )
    ).all()
    ids = [t.id for t in tickets]
    breach_rows = (
        (
            await uow.session.execute(
                select(TicketBreach.ticket_id, TicketBreach.kind).where(TicketBreach.ticket_id.in_(ids))
            )
        ).all()
        if ids
        else []
    )
    breach_events = len(breach_rows)
    recorded = {tid for tid, _ in breach_rows}
    total = rules.Compliance()
    by_type: dict[str, rules.Compliance] = defaultdict(rules.Compliance)
    by_owner: dict[str, rules.Compliance] = defaultdict(rules.Compliance)
    for t in tickets:
        deadlines = t.deadlines()
        outcome = rules.ticket_outcome(deadlines, t.resolved_at, t.id in recorded or t.breached, uow.now)
        target = rules.target_outcome(deadlines, uow.now)
        total.add(outcome, target)
        by_type[t.type.value].add(outcome, target)
        by_owner[t.owner_id or ""].add(outcome, target)
    names = await operator_names(uow, set(by_owner))

    def row(c: rules.Compliance) -> dict[str, Any]:
        return {
            "tickets": c.total,
            "met": c.met,
            "breached": c.breached,
            "open": c.open,
            "compliance_percent": c.percent,
            "target_tickets": c.target_tickets,
            "target_met": c.target_met,
            "target_missed": c.target_missed,
            "target_met_percent": c.target_percent,
        }

    return {
        "month": month,
        "total": row(total),
        "breach_events": breach_events,
        "by_type": [{"type": k} | row(v) for k, v in sorted(by_type.items())],
        "by_owner": [
            {"owner_id": k or None, "owner_name": names.get(k, "") if k else ""} | row(v)
            for k, v in sorted(by_owner.items())
        ],
    }
