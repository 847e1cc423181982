"""HTTP shapes of tickets, SLA policies, the calendar and the SLA report: camelCase JSON (the shared
kernel ApiModel: alias generator, Python names accepted too, unknown fields refused), allowed values
as enums so that the OpenAPI document lists them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, field_validator, model_validator
from pydantic.alias_generators import to_camel

from openability.kernel.audit import AuditEntry
from openability.kernel.calendar_admin import YearStatus
from openability.kernel.errors import InvalidArgument
from openability.kernel.schemas import ApiModel
from openability.tickets import rules
from openability.tickets.models import Ticket, TicketAttachment, TicketComment
from openability.tickets.rules import (
    Action,
    Channel,
    Deadline,
    DeadlineMode,
    Importance,
    PolicyRow,
    SlaUnit,
    Subtype,
    TicketState,
    TicketType,
)


class _Cmd(ApiModel):
    # Merged with ApiModel's config: ticket text is trimmed (a subject of spaces is empty).
    model_config = ConfigDict(str_strip_whitespace=True)


Id = Annotated[str, Field(min_length=1, max_length=40)]


class CreateTicket(_Cmd):
    type: TicketType
    subtype: Subtype
    importance: Importance = Importance.GENERAL
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    # Agents entering a hotline ticket name the partner; partner users' tickets are their own.
    partner_id: str | None = Field(default=None, max_length=40)
    related_statement_id: str | None = Field(default=None, max_length=40)
    related_order_id: str | None = Field(default=None, max_length=40)
    related_call_ids: list[str] = Field(default_factory=list, max_length=200)
    related_month: str | None = Field(default=None, max_length=7)
    related_product_ref: str | None = Field(default=None, max_length=40)

    @model_validator(mode="before")
    @classmethod
    def _kind(cls, data: Any) -> Any:
        """R-CS-01: an unknown type or subtype, or a subtype of another type, is one error with one code
        (BAD_TICKET_KIND), as before the fields became enums. An AppError is not a ValueError, so
        Pydantic lets it through to the error handler instead of wrapping it as INVALID_ARGUMENT."""
        if isinstance(data, dict):
            t, s = data.get("type"), data.get("subtype")
            if isinstance(t, str) and isinstance(s, str):
                try:
                    rules.validate_kind(t.strip(), s.strip())
                except rules.KindError as exc:
                    raise InvalidArgument(str(exc), code="BAD_TICKET_KIND") from exc
        return data

    @field_validator("related_call_ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        out = []
        for x in v:
            x = x.strip()
            if not x or len(x) > 40:
                raise ValueError("call ids must be 1-40 characters")
            if x not in out:
                out.append(x)
        return out


class CommentIn(_Cmd):
    body: str = Field(min_length=1, max_length=10_000)
    internal: StrictBool = False


class TransitionIn(_Cmd):
    note: str = Field(default="", max_length=10_000)
    # resolve: the resolution text; business requests may name what to act on here.
    resolution: str = Field(default="", max_length=10_000)
    product_ref: str | None = Field(default=None, max_length=40)
    order_id: str | None = Field(default=None, max_length=40)


class ReassignIn(_Cmd):
    owner_id: Id
    note: str = Field(default="", max_length=500)


class PolicyRowIn(_Cmd):
    type: TicketType
    subtype: Subtype | Literal[""] = ""  # "" = any subtype of the type
    importance: Importance | Literal[""] = ""  # "" = any importance
    first_response_amount: int = Field(ge=1, le=100_000)
    first_response_unit: SlaUnit
    # limit: a miss is a breach (R-CS-05); target: a goal, reported as target met (R-CS-03)
    first_response_mode: DeadlineMode = DeadlineMode.LIMIT
    final_amount: int = Field(ge=1, le=100_000)
    final_unit: SlaUnit
    final_mode: DeadlineMode = DeadlineMode.LIMIT
    note: str = Field(default="", max_length=300)


class PolicySetIn(_Cmd):
    items: list[PolicyRowIn] = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=300)


class OverrideIn(_Cmd):
    is_working: StrictBool
    note: str = Field(default="", max_length=200)


class YearConfirmIn(_Cmd):
    confirmed: StrictBool
    note: str = Field(default="", max_length=200)


# ---------------------------------------------------------------- outputs


class DeadlineOut(ApiModel):
    limit: str  # the time allowed: "1 working_days", "24 hours", "20 minutes"
    mode: DeadlineMode  # limit: a miss is a breach (R-CS-05); target: a goal, never a breach (R-CS-03)
    due: datetime
    done_at: datetime | None
    seconds_left: int | None  # None once answered, or while the clocks are paused or the ticket is closed
    met: bool | None  # answered in time; false once missed; null while running
    breached: bool  # a missed limit (always false for a target)

    @classmethod
    def of(cls, d: Deadline, limit: str, now: datetime, running: bool) -> DeadlineOut:
        return cls(
            limit=limit,
            mode=d.mode,
            due=d.due,
            done_at=d.done_at,
            seconds_left=int((d.due - now).total_seconds()) if running and d.done_at is None else None,
            met=d.met(now),
            breached=d.breached(now),
        )


class SlaOut(ApiModel):
    policy_version: int
    paused: bool
    first_response: DeadlineOut
    final: DeadlineOut
    next_due_at: datetime | None
    ever_breached: bool


class RelatedOut(ApiModel):
    statement_id: str | None
    order_id: str | None
    call_ids: list[str]
    month: str | None
    product_ref: str | None


class TicketOut(ApiModel):
    id: str
    partner_id: str
    type: TicketType
    subtype: Subtype
    importance: Importance
    channel: Channel
    subject: str
    description: str
    state: TicketState
    owner_id: str | None
    received_at: datetime
    created_at: datetime
    updated_at: datetime
    sla: SlaOut
    resolution: str
    closed_at: datetime | None
    related: RelatedOut
    action_result: str
    reopened_count: int
    actions: list[Action]  # what the caller may do now

    @classmethod
    def of(cls, t: Ticket, now: datetime, *, partner_view: bool = False) -> TicketOut:
        first, final = t.deadlines()
        running = t.state in rules.OPEN_STATES and t.paused_since is None

        return cls(
            id=t.id,
            partner_id=t.partner_id,
            type=t.type,
            subtype=t.subtype,
            importance=t.importance,
            channel=t.channel,
            subject=t.subject,
            description=t.description,
            state=t.state,
            owner_id=t.owner_id,
            received_at=t.received_at,
            created_at=t.created_at,
            updated_at=t.updated_at,
            sla=SlaOut(
                policy_version=t.policy_version,
                paused=t.paused_since is not None,
                first_response=DeadlineOut.of(first, t.first_response_limit, now, running),
                final=DeadlineOut.of(final, t.final_limit, now, running),
                next_due_at=t.next_due_at,
                ever_breached=t.breached or first.breached(now) or final.breached(now),
            ),
            resolution=t.resolution,
            closed_at=t.closed_at,
            related=RelatedOut(
                statement_id=t.related_statement_id,
                order_id=t.related_order_id,
                call_ids=list(t.related_call_ids or []),
                month=t.related_month,
                product_ref=t.related_product_ref,
            ),
            action_result=t.action_result,
            reopened_count=t.reopened_count,
            actions=rules.allowed_actions(t.state, partner=partner_view),
        )


class CommentOut(ApiModel):
    id: str
    author_type: str
    author_id: str
    author_name: str
    body: str
    internal: bool
    created_at: datetime

    @classmethod
    def of(cls, c: TicketComment) -> CommentOut:
        return cls(
            id=c.id,
            author_type=c.author_type,
            author_id=c.author_id,
            author_name=c.author_name,
            body=c.body,
            internal=c.internal,
            created_at=c.created_at,
        )


class AttachmentOut(ApiModel):
    id: str
    ticket_id: str
    comment_id: str | None
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    href: str

    @classmethod
    def of(cls, a: TicketAttachment) -> AttachmentOut:
        return cls(
            id=a.id,
            ticket_id=a.ticket_id,
            comment_id=a.comment_id,
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            sha256=a.sha256,
            created_at=a.created_at,
            href=f"/api/v1/tickets/{a.ticket_id}/attachments/{a.id}",
        )


class RelatedCallOut(ApiModel):
    id: str
    product_id: str
    capability: str
    quantity: int
    unit: str
    amount: str
    month: str
    occurred_at: datetime


class TicketDetailOut(TicketOut):
    comments: list[CommentOut]
    attachments: list[AttachmentOut]
    related_calls: list[RelatedCallOut]


# What of an audit snapshot a partner user sees in its ticket's history: the state and the SLA times it
# also sees on the ticket. Owners, assignment method, escalation targets, internal-note flags and audit
# notes (a lead's reassignment reason) are the operator side's own business.
PARTNER_HISTORY_KEYS = frozenset(
    {
        "state",
        "type",
        "subtype",
        "importance",
        "channel",
        "first_response_due",
        "final_due",
        "first_responded_at",
        "resolved_at",
        "resolution",
        "kind",
        "due",
    }
)


def _camel_keys(d: dict[str, Any] | None, keep: frozenset[str] | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {to_camel(k): v for k, v in d.items() if keep is None or k in keep}


class HistoryEntryOut(ApiModel):
    at: datetime
    actor: str  # "operator:op_…", "partner_user:pu_…", "system:jobs"
    action: str  # the audit action: ticket.created, ticket.commented, ticket.resolve, …
    before: dict[str, Any] | None  # audit snapshot, keys camelCased
    after: dict[str, Any] | None
    note: str | None

    @classmethod
    def of(cls, e: AuditEntry, *, partner_view: bool = False) -> HistoryEntryOut:
        keep = PARTNER_HISTORY_KEYS if partner_view else None
        return cls(
            at=e.at,
            actor=f"{e.actor_type}:{e.actor_id}",
            action=e.action,
            before=_camel_keys(e.before, keep),
            after=_camel_keys(e.after, keep),
            note=None if partner_view else e.note,
        )


class PolicyRowOut(ApiModel):
    type: TicketType
    subtype: Subtype | Literal[""]
    importance: Importance | Literal[""]
    first_response_amount: int
    first_response_unit: SlaUnit
    first_response_mode: DeadlineMode
    final_amount: int
    final_unit: SlaUnit
    final_mode: DeadlineMode
    note: str

    @classmethod
    def of(cls, r: PolicyRow) -> PolicyRowOut:
        return cls(
            type=r.type,
            subtype=Subtype(r.subtype) if r.subtype else "",
            importance=Importance(r.importance) if r.importance else "",
            first_response_amount=r.first_response.amount,
            first_response_unit=r.first_response.unit,
            first_response_mode=r.first_response.mode,
            final_amount=r.final.amount,
            final_unit=r.final.unit,
            final_mode=r.final.mode,
            note=r.note,
        )


class PolicySetOut(ApiModel):
    version: int  # 0 = the built-in R-CS-03 defaults
    items: list[PolicyRowOut]


class OverrideOut(ApiModel):
    day: date
    is_working: bool
    note: str
    updated_by: str
    updated_at: datetime


class DayOffOut(ApiModel):
    day: date
    name: str


class YearOverrideOut(ApiModel):
    day: date
    is_working: bool
    note: str
    updated_by: str


class YearStatusOut(ApiModel):
    year: int
    confirmed: bool
    source: Literal["settings", "operator", "overrides", "none"]
    days_off: list[DayOffOut]
    make_up_days: list[date]
    overrides: list[YearOverrideOut]

    @classmethod
    def of(cls, st: YearStatus) -> YearStatusOut:
        return cls.model_validate(
            {
                "year": st.year,
                "confirmed": st.confirmed,
                "source": st.source,
                "days_off": [{"day": d, "name": n} for d, n in st.days_off],
                "make_up_days": st.make_up_days,
                "overrides": st.overrides,
            }
        )


class ComplianceOut(ApiModel):
    tickets: int
    met: int
    breached: int
    open: int
    # met / (met + breached) in percent; null while no ticket of the group is decided (all still open)
    compliance_percent: float | None
    # R-CS-03 targets (goals, never breaches): the group's tickets whose policy has one, those whose
    # target was met, missed, and met / (met + missed) in percent (null while none is decided)
    target_tickets: int
    target_met: int
    target_missed: int
    target_met_percent: float | None


class TypeComplianceOut(ComplianceOut):
    type: TicketType


class OwnerComplianceOut(ComplianceOut):
    owner_id: str | None
    owner_name: str


class SlaReportOut(ApiModel):
    month: str
    total: ComplianceOut
    breach_events: int
    by_type: list[TypeComplianceOut]
    by_owner: list[OwnerComplianceOut]
