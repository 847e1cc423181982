"""Ticket use cases (R-CS-01..05): open, assign to the partner's service owner, converse, move through
the TM Forum states with SLA clocks on the working-day calendar, act on business requests through the
owning service. Every change writes an audit row. SLA policies, breaches and the report: sla.py;
attachments: attachments.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from openability.catalog import service as catalog
from openability.catalog.types import OrderRef
from openability.charging import usage
from openability.charging.usage import CallRecord
from openability.kernel import access
from openability.kernel.audit import AuditEntry
from openability.kernel.calendar import WorkingCalendar
from openability.kernel.calendar_admin import load_working_calendar
from openability.kernel.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, RuleViolation
from openability.kernel.ids import new_id
from openability.kernel.notify import notify
from openability.kernel.uow import UnitOfWork
from openability.partners import service as partners
from openability.partners.types import PartnerRef, PartnerStatus
from openability.tickets import rules
from openability.tickets.models import Ticket, TicketComment
from openability.tickets.rules import (
    Action,
    Channel,
    Subtype,
    TicketState,
    TicketType,
)
from openability.tickets.schemas import CommentIn, CreateTicket, TransitionIn
from openability.tickets.sla import (
    AGENT_ROLES,
    LEAD_ROLES,
    active_agents,
    current_policies,
    operator_names,
    parse_span,
    span_str,
)

__all__ = ["AGENT_ROLES", "LEAD_ROLES", "active_agents", "operator_names"]


# ---------------------------------------------------------------- access


def is_agent(uow: UnitOfWork) -> bool:
    a = uow.actor
    return a.type == "system" or (a.is_operator and a.has_role(*AGENT_ROLES))


def _require_agent(uow: UnitOfWork) -> None:
    if not is_agent(uow):
        raise PermissionDenied("needs one of the roles: service_agent, service_lead")


def _require_lead(uow: UnitOfWork) -> None:
    a = uow.actor
    if not (a.type == "system" or (a.is_operator and a.has_role(*LEAD_ROLES))):
        raise PermissionDenied("needs the role service_lead or admin")


def _is_partner_user(uow: UnitOfWork) -> bool:
    return uow.actor.type == "partner_user"


def _check_reader(uow: UnitOfWork) -> None:
    a = uow.actor
    if a.type not in ("operator", "partner_user", "system"):
        raise PermissionDenied("tickets are for partner users and operators")


# ---------------------------------------------------------------- assignment (R-CS-02)


async def _open_counts(uow: UnitOfWork) -> dict[str, int]:
    rows = await uow.session.execute(
        select(Ticket.owner_id, func.count())
        .where(Ticket.state.in_(rules.OPEN_STATES), Ticket.owner_id.is_not(None))
        .group_by(Ticket.owner_id)
    )
    return {str(o): int(n) for o, n in rows.all()}


async def pick_owner(uow: UnitOfWork, partner: PartnerRef) -> tuple[str | None, str]:
    """The partner's dedicated service owner if active; else the active agent with fewest open tickets."""
    if partner.service_owner_id:
        op = await partners.operator_ref(uow, partner.service_owner_id)
        if op is not None and op.active:
            return op.id, "service_owner"
    agents = await active_agents(uow)
    if not agents:
        return None, "no_agent"
    counts = await _open_counts(uow)
    best = min(agents, key=lambda o: (counts.get(o.id, 0), o.created_at, o.id))
    return best.id, "least_loaded"


# ---------------------------------------------------------------- tickets


def _refresh_next_due(t: Ticket) -> None:
    """Queue order: the earliest deadline still running; none while paused or once answered."""
    if t.state not in rules.OPEN_STATES or t.paused_since is not None:
        t.next_due_at = None
        return
    cands = []
    if t.first_responded_at is None:
        cands.append(t.first_response_due)
    if t.resolved_at is None:
        cands.append(t.final_due)
    t.next_due_at = min(cands) if cands else None


async def _partner_for(uow: UnitOfWork, cmd: CreateTicket) -> tuple[PartnerRef, Channel]:
    a = uow.actor
    if _is_partner_user(uow):
        if cmd.partner_id and cmd.partner_id != a.partner_id:
            raise NotFound(f"partner {cmd.partner_id} not found")
        partner_id, channel = a.partner_id, Channel.ONLINE
    elif is_agent(uow):
        if not cmd.partner_id:
            raise InvalidArgument("partnerId is required for a hotline ticket", code="PARTNER_REQUIRED")
        partner_id, channel = cmd.partner_id, Channel.HOTLINE
    else:
        raise PermissionDenied("tickets are opened by partner users (online) or service agents (hotline)")
    partner = await partners.find_partner_ref(uow, partner_id) if partner_id else None
    if partner is None:
        raise NotFound(f"partner {partner_id} not found")
    return partner, channel


async def _validate_related(uow: UnitOfWork, partner_id: str, cmd: CreateTicket, subtype: Subtype) -> None:
    if cmd.related_call_ids:
        found = {c.id for c in await usage.calls_of_partner(uow, partner_id, list(cmd.related_call_ids))}
        missing = [c for c in cmd.related_call_ids if c not in found]
        if missing:
            raise InvalidArgument(
                f"unknown call ids for this partner: {', '.join(missing[:10])}", code="UNKNOWN_CALL_IDS"
            )
    if cmd.related_order_id:
        await _partner_order(uow, partner_id, cmd.related_order_id)
    if cmd.related_month:
        try:
            rules.parse_month(cmd.related_month)
        except ValueError as exc:
            raise InvalidArgument(str(exc), code="BAD_MONTH") from exc
    if subtype == Subtype.BILLING_ERROR and not (
        cmd.related_call_ids or cmd.related_month or cmd.related_product_ref or cmd.related_statement_id
    ):
        raise InvalidArgument(
            "a billing-error complaint must reference the charges: call ids, month, product or statement",
            code="BILLING_REFERENCE_REQUIRED",
        )


async def _partner_order(uow: UnitOfWork, partner_id: str, order_id: str) -> OrderRef:
    order = await catalog.order_of_partner(uow, partner_id, order_id)
    if order is None:
        raise InvalidArgument(f"order {order_id} is not an order of this partner", code="UNKNOWN_ORDER")
    return order


async def create_ticket(uow: UnitOfWork, cmd: CreateTicket) -> Ticket:
    try:
        ttype, subtype = rules.validate_kind(cmd.type, cmd.subtype)
    except rules.KindError as exc:
        raise InvalidArgument(str(exc), code="BAD_TICKET_KIND") from exc
    partner, channel = await _partner_for(uow, cmd)
    await _validate_related(uow, partner.id, cmd, subtype)
    version, policies = await current_policies(uow)
    policy = rules.pick_policy(policies, ttype, subtype, cmd.importance)
    cal = await load_working_calendar(uow)
    now = uow.now
    owner_id, how = await pick_owner(uow, partner)
    t = Ticket(
        id=new_id("tkt"),
        partner_id=partner.id,
        type=ttype,
        subtype=subtype,
        importance=cmd.importance,
        channel=channel,
        subject=cmd.subject,
        description=cmd.description,
        state=TicketState.ACKNOWLEDGED,
        owner_id=owner_id,
        created_by_type=uow.actor.type,
        created_by_id=uow.actor.id,
        created_at=now,
        updated_at=now,
        received_at=now,
        policy_version=version,
        first_response_limit=span_str(policy.first_response),
        final_limit=span_str(policy.final),
        first_response_mode=policy.first_response.mode,
        final_mode=policy.final.mode,
        first_response_due=rules.deadline(now, policy.first_response, cal),
        final_due=rules.deadline(now, policy.final, cal),
        related_statement_id=cmd.related_statement_id,
        related_order_id=cmd.related_order_id,
        related_call_ids=list(cmd.related_call_ids),
        related_month=cmd.related_month,
        related_product_ref=cmd.related_product_ref,
        breached=False,
        reopened_count=0,
        resolution="",
        action_result="",
    )
    _refresh_next_due(t)
    uow.session.add(t)
    await uow.session.flush()
    uow.audit(
        "ticket.created",
        ("ticket", t.id),
        partner_id=partner.id,
        after=t.snapshot()
        | {"type": ttype.value, "subtype": subtype.value, "channel": channel.value, "assigned_by": how},
    )
    if (
        owner_id is not None
        and how == "least_loaded"
        and (partner.service_owner_id is None or partner.service_owner_id != owner_id)
    ):
        # R-CS-02 / rulebook §9.1 "由专人跟进协调": a partner without a (working) dedicated owner gets
        # the agent that took its first ticket, so its later tickets reach the same person.
        await partners.assign_service_owner(uow, partner.id, owner_id, note=f"assigned with ticket {t.id}")
    if owner_id is not None:
        await notify(
            uow,
            recipient=("operator", owner_id),
            kind="ticket-assigned",
            subject=f"新工单 {t.id}: {t.subject}",
            body=f"{partner.name} / {ttype.value}/{subtype.value}; 首次响应"
            f"{'目标' if t.first_response_mode == rules.DeadlineMode.TARGET else '截止'} "
            f"{t.first_response_due.isoformat()}",
        )
    return t


async def get_ticket(uow: UnitOfWork, ticket_id: str, *, lock: bool = False) -> Ticket:
    _check_reader(uow)
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        stmt = stmt.with_for_update()
    t = await uow.session.scalar(stmt)
    if t is None or (_is_partner_user(uow) and t.partner_id != uow.actor.partner_id):
        raise NotFound(f"ticket {ticket_id} not found")
    return t


@dataclass(frozen=True)
class TicketFilter:
    state: TicketState | None = None
    type: TicketType | None = None
    owner_id: str | None = None
    partner_id: str | None = None
    breached: bool | None = None
    open_only: bool = False


async def list_tickets(
    uow: UnitOfWork, f: TicketFilter, offset: int = 0, limit: int = 50
) -> tuple[list[Ticket], int]:
    """Agent queue order: nearest running deadline first, then the rest by newest."""
    _check_reader(uow)
    offset, limit = access.page(offset, limit)
    conds: list[Any] = []
    if _is_partner_user(uow):
        conds.append(Ticket.partner_id == uow.actor.partner_id)
    elif f.partner_id:
        conds.append(Ticket.partner_id == f.partner_id)
    if f.state is not None:
        conds.append(Ticket.state == f.state)
    if f.open_only:
        conds.append(Ticket.state.in_(rules.OPEN_STATES))
    if f.type is not None:
        conds.append(Ticket.type == f.type)
    if f.owner_id:
        conds.append(Ticket.owner_id == f.owner_id)
    if f.breached is not None:
        conds.append(Ticket.breached.is_(f.breached))
    total = int(await uow.session.scalar(select(func.count()).select_from(Ticket).where(*conds)) or 0)
    rows = (
        await uow.session.scalars(
            select(Ticket)
            .where(*conds)
            .order_by(Ticket.next_due_at.asc().nulls_last(), Ticket.created_at.desc(), Ticket.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return list(rows), total


def _author_name(uow: UnitOfWork) -> str:
    return uow.actor.name or uow.actor.id


async def _add_comment_row(uow: UnitOfWork, t: Ticket, body: str, internal: bool) -> TicketComment:
    c = TicketComment(
        id=new_id("tcm"),
        ticket_id=t.id,
        partner_id=t.partner_id,
        author_type=uow.actor.type,
        author_id=uow.actor.id,
        author_name=_author_name(uow)[:100],
        body=body,
        internal=internal,
        created_at=uow.now,
    )
    uow.session.add(c)
    await uow.session.flush()
    return c


async def add_comment(uow: UnitOfWork, ticket_id: str, cmd: CommentIn) -> TicketComment:
    """Conversation. An agent's public answer is the first response; a partner's reply to a ticket
    pending on it resumes the ticket (and its paused clock)."""
    t = await get_ticket(uow, ticket_id, lock=True)
    partner_side = _is_partner_user(uow)
    if not partner_side:
        _require_agent(uow)
    if cmd.internal and partner_side:
        raise PermissionDenied("internal notes are for agents")
    if t.state in rules.FINAL_STATES:
        raise Conflict(f"ticket {t.id} is {t.state.value}", code="TICKET_CLOSED")
    before = t.snapshot()
    c = await _add_comment_row(uow, t, cmd.body, cmd.internal)
    cal = None
    if partner_side and t.state == TicketState.PENDING:
        cal = await load_working_calendar(uow)
        _resume(uow, t, cal)
        t.state = TicketState.IN_PROGRESS
    if not partner_side and not cmd.internal:
        _record_first_response(uow, t)
        if t.state == TicketState.ACKNOWLEDGED:
            t.state = TicketState.IN_PROGRESS
    t.updated_at = uow.now
    _refresh_next_due(t)
    uow.audit(
        "ticket.commented",
        ("ticket", t.id),
        partner_id=t.partner_id,
        before=before,
        after=t.snapshot() | {"comment_id": c.id, "internal": cmd.internal},
    )
    await _notify_other_side(uow, t, "答复" if not partner_side else "合作伙伴回复", internal=cmd.internal)
    return c


async def _notify_other_side(uow: UnitOfWork, t: Ticket, what: str, *, internal: bool = False) -> None:
    if internal:
        return
    if _is_partner_user(uow):
        if t.owner_id:
            await notify(
                uow,
                recipient=("operator", t.owner_id),
                kind="ticket-update",
                subject=f"工单 {t.id} {what}",
                body=t.subject,
            )
    else:
        await notify(
            uow,
            recipient=("partner", t.partner_id),
            kind="ticket-answer",
            subject=f"工单 {t.id} {what}",
            body=t.subject,
        )


async def list_comments(uow: UnitOfWork, t: Ticket) -> list[TicketComment]:
    stmt = select(TicketComment).where(TicketComment.ticket_id == t.id)
    if _is_partner_user(uow):
        stmt = stmt.where(TicketComment.internal.is_(False))
    return list((await uow.session.scalars(stmt.order_by(TicketComment.created_at, TicketComment.id))).all())


def _record_first_response(uow: UnitOfWork, t: Ticket) -> None:
    if t.first_responded_at is None:
        t.first_responded_at = uow.now


def _resume(uow: UnitOfWork, t: Ticket, cal: WorkingCalendar) -> None:
    """End a pause: the deadlines still running move by the time spent waiting on the partner."""
    if t.paused_since is None:
        return
    start = t.paused_since
    if t.first_responded_at is None:
        t.first_response_due = rules.extend_for_pause(
            t.first_response_due, parse_span(t.first_response_limit).unit, start, uow.now, cal
        )
    if t.resolved_at is None:
        t.final_due = rules.extend_for_pause(t.final_due, parse_span(t.final_limit).unit, start, uow.now, cal)
    t.paused_since = None


# ---------------------------------------------------------------- transitions


async def transition(uow: UnitOfWork, ticket_id: str, action: Action, cmd: TransitionIn) -> Ticket:
    t = await get_ticket(uow, ticket_id, lock=True)
    partner_side = _is_partner_user(uow)
    if partner_side:
        if action not in rules.PARTNER_ACTIONS:
            raise PermissionDenied(f"a partner cannot {action.value} a ticket")
    else:
        _require_agent(uow)
    try:
        to = rules.next_state(t.state, action)
    except rules.TransitionError as exc:
        raise Conflict(str(exc), code="BAD_TRANSITION") from exc
    before = t.snapshot()
    now = uow.now
    cal = await load_working_calendar(uow)
    if t.state == TicketState.PENDING and to != TicketState.PENDING:
        _resume(uow, t, cal)
    note = cmd.note or cmd.resolution
    if action == Action.PEND:
        if uow.settings.sla_pause_while_pending:
            t.paused_since = now
    elif action == Action.RESPOND:
        _record_first_response(uow, t)
    elif action == Action.RESOLVE:
        resolution = cmd.resolution or cmd.note
        if not resolution:
            raise InvalidArgument("a resolution is required", code="RESOLUTION_REQUIRED")
        if t.type == TicketType.BUSINESS_REQUEST:
            await _perform_request(uow, t, cmd, resolution)
        t.resolution = resolution
        t.resolved_at = now
        _record_first_response(uow, t)
    elif action == Action.CLOSE:
        t.closed_at = now
    elif action == Action.REOPEN:
        if (
            partner_side
            and t.resolved_at is not None
            and now - t.resolved_at > timedelta(days=rules.REOPEN_WITHIN_DAYS)
        ):
            raise RuleViolation(
                f"a ticket can be reopened within {rules.REOPEN_WITHIN_DAYS} days of its resolution",
                code="REOPEN_TOO_LATE",
            )
        # A reopened ticket is received again for its final reply: the final deadline restarts now.
        t.resolved_at = None
        t.resolution = ""
        t.final_due = rules.deadline(now, parse_span(t.final_limit), cal)
        t.final_breached_at = None
        t.reopened_count += 1
    t.state = to
    t.updated_at = now
    if note and action in (Action.PEND, Action.RESPOND, Action.RESOLVE, Action.REOPEN, Action.CANCEL):
        await _add_comment_row(uow, t, note, internal=False)
    _refresh_next_due(t)
    await uow.session.flush()
    uow.audit(
        f"ticket.{action.value}", ("ticket", t.id), partner_id=t.partner_id, before=before, after=t.snapshot()
    )
    if action in (Action.RESPOND, Action.RESOLVE, Action.PEND) or (
        partner_side and action in (Action.REOPEN, Action.CANCEL)
    ):
        await _notify_other_side(uow, t, rules.label(to.value, "zh"))
    return t


async def _perform_request(uow: UnitOfWork, t: Ticket, cmd: TransitionIn, resolution: str) -> None:
    """Business requests act through the owning service, never by hand in the database. An action
    already done (a reopened ticket resolved again) is not repeated."""
    if t.action_result:
        return
    reason = f"ticket {t.id}"
    if t.subtype == Subtype.OPENING:
        ref = cmd.product_ref or t.related_product_ref
        if not ref:
            raise InvalidArgument("an opening request needs the product to order", code="PRODUCT_REQUIRED")
        order = await catalog.place_order(uow, t.partner_id, ref, note=reason)
        t.related_product_ref = ref
        t.related_order_id = order.id
        t.action_result = f"order {order.id} placed ({order.state.value})"
    elif t.subtype == Subtype.CANCELLATION:
        order_id = cmd.order_id or t.related_order_id
        if not order_id:
            raise InvalidArgument("a cancellation request needs the order to cancel", code="ORDER_REQUIRED")
        await _partner_order(uow, t.partner_id, order_id)
        order = await catalog.cancel_order(uow, order_id, reason)
        t.related_order_id = order.id
        t.action_result = f"order {order.id} cancelled ({order.state.value})"
    elif t.subtype == Subtype.EXIT:
        # A partner's own request to leave: the partners service exits it (final; its API credentials
        # are revoked). Its authority check applies: an exit needs a reviewer (or admin), so an agent
        # without that role cannot resolve the request. Final settlement comes with the billing work.
        partner = await partners.set_partner_status(
            uow, t.partner_id, PartnerStatus.EXITED, f"{reason}: exit requested by the partner"
        )
        t.action_result = f"partner {partner.id} exited"
    else:
        # change: no owning service acts on it yet (contracts come with the admission work); the
        # agent's outcome is recorded as the result.
        t.action_result = f"recorded outcome ({t.subtype.value}): {resolution[:500]}"


async def reassign(uow: UnitOfWork, ticket_id: str, owner_id: str, note: str = "") -> Ticket:
    _require_lead(uow)
    t = await get_ticket(uow, ticket_id, lock=True)
    if t.state in rules.FINAL_STATES:
        raise Conflict(f"ticket {t.id} is {t.state.value}", code="TICKET_CLOSED")
    op = await partners.operator_ref(uow, owner_id)
    if op is None or not op.active or not any(r in op.roles for r in AGENT_ROLES):
        raise InvalidArgument(f"{owner_id} is not an active service agent", code="NOT_AN_AGENT")
    if t.owner_id == owner_id:
        return t
    before = t.snapshot()
    t.owner_id = owner_id
    t.updated_at = uow.now
    uow.audit(
        "ticket.reassigned",
        ("ticket", t.id),
        partner_id=t.partner_id,
        before=before,
        after=t.snapshot(),
        note=note or None,
    )
    await notify(
        uow,
        recipient=("operator", owner_id),
        kind="ticket-assigned",
        subject=f"工单 {t.id} 转派给您",
        body=t.subject,
    )
    await uow.session.flush()
    return t


# ---------------------------------------------------------------- related records, history


async def related_calls(uow: UnitOfWork, t: Ticket) -> list[CallRecord]:
    """The CDRs a billing-error complaint is about (always of the ticket's own partner)."""
    return await usage.calls_of_partner(uow, t.partner_id, list(t.related_call_ids or ()))


async def history(uow: UnitOfWork, t: Ticket) -> list[AuditEntry]:
    """The ticket's audit trail. A partner user (its own tickets only: get_ticket gave 404 otherwise)
    does not see the entries of internal notes, as it does not see the notes themselves; the API also
    trims what each entry shows it (schemas.PARTNER_HISTORY_KEYS)."""
    rows = list(
        (
            await uow.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity_type == "ticket", AuditEntry.entity_id == t.id)
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        ).all()
    )
    if _is_partner_user(uow):
        rows = [e for e in rows if not (e.action == "ticket.commented" and (e.after or {}).get("internal"))]
    return rows


async def partner_names(uow: UnitOfWork, ids: set[str]) -> dict[str, str]:
    return await partners.partner_names(uow, ids)


async def partner_choices(uow: UnitOfWork, limit: int = 500) -> list[tuple[str, str]]:
    """Partners an agent can open a hotline ticket for (console select)."""
    return list((await partners.partner_names(uow, None, limit=limit)).items())
