"""Pure ticket rules (no I/O): kinds (R-CS-01), the state machine, SLA policies and deadlines on the
working-day calendar (R-CS-03/04), pauses, breach checks (R-CS-05), countdown text and care (R-CS-06)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from openability.kernel.calendar import WorkingCalendar
from openability.kernel.clock import SHANGHAI, business_date, end_of_business_day


class TicketType(enum.StrEnum):
    CONSULTATION = "consultation"  # 业务咨询
    BUSINESS_REQUEST = "business_request"  # 业务办理
    FAULT_COMPLAINT = "fault_complaint"  # 故障投诉


class Subtype(enum.StrEnum):
    # consultation
    BUSINESS_CONTENT = "business_content"
    TARIFFS = "tariffs"
    PROCEDURES = "procedures"
    # business request
    OPENING = "opening"
    CHANGE = "change"
    CANCELLATION = "cancellation"
    EXIT = "exit"
    # fault complaint
    SOFTWARE = "software"
    HARDWARE = "hardware"
    PLATFORM_GENERAL = "platform_general"
    PLATFORM_MAJOR = "platform_major"
    BILLING_ERROR = "billing_error"


SUBTYPES: dict[TicketType, tuple[Subtype, ...]] = {
    TicketType.CONSULTATION: (Subtype.BUSINESS_CONTENT, Subtype.TARIFFS, Subtype.PROCEDURES),
    TicketType.BUSINESS_REQUEST: (Subtype.OPENING, Subtype.CHANGE, Subtype.CANCELLATION, Subtype.EXIT),
    TicketType.FAULT_COMPLAINT: (
        Subtype.SOFTWARE,
        Subtype.HARDWARE,
        Subtype.PLATFORM_GENERAL,
        Subtype.PLATFORM_MAJOR,
        Subtype.BILLING_ERROR,
    ),
}

LABELS: dict[str, tuple[str, str]] = {
    "consultation": ("业务咨询", "Consultation"),
    "business_request": ("业务办理", "Business request"),
    "fault_complaint": ("故障投诉", "Fault complaint"),
    "business_content": ("业务内容", "Business content"),
    "tariffs": ("资费", "Tariffs"),
    "procedures": ("办理方法", "Procedures"),
    "opening": ("业务开通", "Opening"),
    "change": ("业务变更", "Change"),
    "cancellation": ("业务取消", "Cancellation"),
    "exit": ("退出", "Exit"),
    "software": ("软件故障", "Software fault"),
    "hardware": ("硬件故障", "Hardware fault"),
    "platform_general": ("平台一般故障", "Platform fault (general)"),
    "platform_major": ("平台重大故障", "Platform fault (major)"),
    "billing_error": ("计费错误", "Billing error"),
    "general": ("一般", "General"),
    "important": ("重要", "Important"),
    "hotline": ("热线", "Hotline"),
    "online": ("在线", "Online"),
    "acknowledged": ("已受理", "Acknowledged"),
    "inProgress": ("处理中", "In progress"),
    "pending": ("待合作伙伴反馈", "Pending on partner"),
    "resolved": ("已解决", "Resolved"),
    "closed": ("已关闭", "Closed"),
    "cancelled": ("已撤销", "Cancelled"),
    "first_response": ("首次响应", "First response"),
    "final": ("最终回复", "Final reply"),
    "limit": ("时限", "Limit"),
    "target": ("目标", "Target"),
}


def label(value: str, lang: str) -> str:
    zh, en = LABELS.get(value, (value, value))
    return zh if lang == "zh" else en


class Importance(enum.StrEnum):
    GENERAL = "general"
    IMPORTANT = "important"


class Channel(enum.StrEnum):
    HOTLINE = "hotline"  # entered by an agent
    ONLINE = "online"  # opened by the partner in the portal


class TicketState(enum.StrEnum):
    """TM Forum trouble-ticket states."""

    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATES = (TicketState.ACKNOWLEDGED, TicketState.IN_PROGRESS, TicketState.PENDING)
FINAL_STATES = (TicketState.CLOSED, TicketState.CANCELLED)


class Action(enum.StrEnum):
    START = "start"
    PEND = "pend"
    RESPOND = "respond"
    RESOLVE = "resolve"
    CLOSE = "close"
    CANCEL = "cancel"
    REOPEN = "reopen"


TRANSITIONS: dict[Action, tuple[tuple[TicketState, ...], TicketState | None]] = {
    # action: (allowed from, to); None = state unchanged
    Action.START: ((TicketState.ACKNOWLEDGED, TicketState.PENDING), TicketState.IN_PROGRESS),
    Action.PEND: ((TicketState.ACKNOWLEDGED, TicketState.IN_PROGRESS), TicketState.PENDING),
    Action.RESPOND: (OPEN_STATES, TicketState.IN_PROGRESS),
    Action.RESOLVE: (OPEN_STATES, TicketState.RESOLVED),
    Action.CLOSE: ((TicketState.RESOLVED,), TicketState.CLOSED),
    Action.CANCEL: (OPEN_STATES, TicketState.CANCELLED),
    Action.REOPEN: ((TicketState.RESOLVED,), TicketState.IN_PROGRESS),
}

# What a partner user may do to its own tickets; agents may do every action.
PARTNER_ACTIONS = frozenset({Action.CLOSE, Action.CANCEL, Action.REOPEN})
# A partner may reopen a resolved ticket within this many days of the resolution (setting-like constant).
REOPEN_WITHIN_DAYS = 7


class TransitionError(ValueError):
    pass


def next_state(state: TicketState, action: Action) -> TicketState:
    allowed, to = TRANSITIONS[action]
    if state not in allowed:
        raise TransitionError(f"cannot {action.value} a ticket in state {state.value}")
    return to if to is not None else state


def allowed_actions(state: TicketState, *, partner: bool) -> list[Action]:
    out = [a for a, (src, _) in TRANSITIONS.items() if state in src]
    return [a for a in out if a in PARTNER_ACTIONS] if partner else out


class KindError(ValueError):
    pass


def validate_kind(type_: str, subtype: str) -> tuple[TicketType, Subtype]:
    """R-CS-01: the subtype must belong to the type."""
    try:
        t = TicketType(type_)
    except ValueError:
        raise KindError(f"unknown ticket type {type_!r}") from None
    try:
        s = Subtype(subtype)
    except ValueError:
        raise KindError(f"unknown subtype {subtype!r}") from None
    if s not in SUBTYPES[t]:
        allowed = ", ".join(x.value for x in SUBTYPES[t])
        raise KindError(f"subtype {s.value!r} does not belong to type {t.value!r} (allowed: {allowed})")
    return t, s


# ---------------------------------------------------------------- SLA policies (R-CS-03)


class SlaUnit(enum.StrEnum):
    WORKING_DAYS = "working_days"
    HOURS = "hours"
    MINUTES = "minutes"


class DeadlineMode(enum.StrEnum):
    """R-CS-03: what a deadline is. A LIMIT is the deadline proper: missing it is a breach, recorded,
    escalated and counted against compliance (R-CS-05). A TARGET is a service goal (the lower end of the
    rulebook's ranges "1-3 个工作日"): reported as the target-met share, never a breach."""

    LIMIT = "limit"
    TARGET = "target"


@dataclass(frozen=True)
class Term:
    """One deadline of a policy: the time allowed from receipt, and whether it is a limit or a target."""

    amount: int
    unit: SlaUnit
    mode: DeadlineMode = DeadlineMode.LIMIT

    def text(self, lang: str) -> str:
        zh = {"working_days": "个工作日", "hours": "小时", "minutes": "分钟"}[self.unit.value]
        en = {"working_days": "working day(s)", "hours": "hour(s)", "minutes": "minute(s)"}[self.unit.value]
        return f"{self.amount}{zh}" if lang == "zh" else f"{self.amount} {en}"


@dataclass(frozen=True)
class PolicyRow:
    """One SLA rule. subtype/importance "" match any; the most specific matching row wins."""

    type: TicketType
    subtype: str
    importance: str
    first_response: Term
    final: Term
    note: str = ""

    def specificity(self) -> int:
        return (2 if self.subtype else 0) + (1 if self.importance else 0)

    def matches(self, t: TicketType, s: Subtype, imp: Importance) -> bool:
        return self.type == t and self.subtype in ("", s.value) and self.importance in ("", imp.value)


LIMIT, TARGET = DeadlineMode.LIMIT, DeadlineMode.TARGET


def _wd(n: int, mode: DeadlineMode = LIMIT) -> Term:
    return Term(n, SlaUnit.WORKING_DAYS, mode)


def _h(n: int) -> Term:
    return Term(n, SlaUnit.HOURS)


def _m(n: int) -> Term:
    return Term(n, SlaUnit.MINUTES)


C, B, F = TicketType.CONSULTATION, TicketType.BUSINESS_REQUEST, TicketType.FAULT_COMPLAINT

# R-CS-03 defaults (docs/tickets.md). Where the rule gives a range "1-3 working days", the lower end is a
# TARGET timed on the first response and the upper end the LIMIT timed on the final reply; where it gives
# one figure per deadline (faults: 20 min, 30 min, 24 h; major platform fault: first response 8 h, final
# reply 24 h), every figure is a LIMIT. Billing errors are timed as a general platform fault (24 clock
# hours), the fault class the rulebook lists them under.
DEFAULT_POLICIES: tuple[PolicyRow, ...] = (
    PolicyRow(C, "", "general", _wd(1, TARGET), _wd(3), "R-CS-03 general consultation: target 1, limit 3 WD"),
    PolicyRow(
        C, "", "important", _wd(3, TARGET), _wd(5), "R-CS-03 important consultation: target 3, limit 5 WD"
    ),
    PolicyRow(B, "", "general", _wd(1, TARGET), _wd(3), "R-CS-03 general request: target 1, limit 3 WD"),
    PolicyRow(B, "", "important", _wd(3, TARGET), _wd(5), "R-CS-03 important request: target 3, limit 5 WD"),
    PolicyRow(F, "software", "", _m(20), _m(20), "R-CS-03 fault caused by software: 20 min"),
    PolicyRow(F, "hardware", "", _m(30), _m(30), "R-CS-03 fault caused by hardware: 30 min"),
    PolicyRow(F, "platform_general", "", _h(24), _h(24), "R-CS-03 platform fault, general: 24 h"),
    PolicyRow(F, "platform_major", "", _h(8), _h(24), "R-CS-03 platform fault, major: 8 h / 24 h"),
    PolicyRow(F, "billing_error", "", _h(24), _h(24), "Interpretation: billing error = platform fault"),
)


class PolicyError(ValueError):
    pass


def pick_policy(rows: Iterable[PolicyRow], t: TicketType, s: Subtype, imp: Importance) -> PolicyRow:
    best: PolicyRow | None = None
    for r in rows:
        if r.matches(t, s, imp) and (best is None or r.specificity() > best.specificity()):
            best = r
    if best is None:
        raise PolicyError(f"no SLA policy for {t.value}/{s.value}/{imp.value}")
    return best


def validate_policy_set(rows: Sequence[PolicyRow]) -> None:
    """A policy set must be unambiguous and cover every type/subtype/importance."""
    seen: set[tuple[str, str, str]] = set()
    for r in rows:
        key = (r.type.value, r.subtype, r.importance)
        if key in seen:
            raise PolicyError(f"duplicate policy row {key}")
        seen.add(key)
        if r.subtype and Subtype(r.subtype) not in SUBTYPES[r.type]:
            raise PolicyError(f"subtype {r.subtype!r} does not belong to type {r.type.value!r}")
        if r.importance:
            Importance(r.importance)
        for term in (r.first_response, r.final):
            if term.amount < 1:
                raise PolicyError("deadline amounts must be at least 1")
        if DeadlineMode.LIMIT not in (r.first_response.mode, r.final.mode):
            raise PolicyError(f"no limit in {key}: one deadline must be a limit, whose miss is a breach")
        if term_span(r.first_response) > term_span(r.final):
            raise PolicyError(f"first response after final reply in {key}")
    for t, subs in SUBTYPES.items():
        for s in subs:
            for imp in Importance:
                pick_policy(rows, t, s, imp)  # raises on a gap


def term_span(term: Term) -> timedelta:
    """Rough ordering of terms of different units (a working day counted as one day)."""
    if term.unit == SlaUnit.WORKING_DAYS:
        return timedelta(days=term.amount)
    if term.unit == SlaUnit.HOURS:
        return timedelta(hours=term.amount)
    return timedelta(minutes=term.amount)


# ---------------------------------------------------------------- deadlines (R-CS-04)


def deadline(received_at: datetime, term: Term, cal: WorkingCalendar) -> datetime:
    """R-CS-04: N working days = 24:00 Asia/Shanghai of the Nth working day after the day of receipt;
    hour and minute limits run on the clock from the moment of receipt."""
    if term.unit == SlaUnit.WORKING_DAYS:
        return end_of_business_day(cal.nth_working_day_after(business_date(received_at), term.amount))
    if term.unit == SlaUnit.HOURS:
        return received_at + timedelta(hours=term.amount)
    return received_at + timedelta(minutes=term.amount)


def extend_for_pause(
    due: datetime, unit: SlaUnit, paused_from: datetime, paused_to: datetime, cal: WorkingCalendar
) -> datetime:
    """Time the ticket waited on the partner does not count (setting sla_pause_while_pending).
    Clock limits move by the paused duration; working-day limits move by the working days the pause
    covered (working days in (day paused, day resumed]), so a pause within one day costs nothing."""
    if paused_to <= paused_from:
        return due
    if unit != SlaUnit.WORKING_DAYS:
        return due + (paused_to - paused_from)
    k = cal.working_days_between(business_date(paused_from), business_date(paused_to))
    if k == 0:
        return due
    # due is 24:00 of a working day, i.e. 00:00 of the next date; step back a second to get that day.
    last_day = business_date(due - timedelta(seconds=1))
    return end_of_business_day(cal.nth_working_day_after(last_day, k))


def format_due(dt: datetime | None) -> str:
    """A deadline at 00:00 Asia/Shanghai is shown as 24:00 of the day before (R-CS-04 wording)."""
    if dt is None:
        return ""
    local = dt.astimezone(SHANGHAI)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


def is_missed(due: datetime | None, done_at: datetime | None, now: datetime) -> bool:
    """A deadline is missed when it passed without the reply, or the reply came after it."""
    if due is None:
        return False
    if done_at is not None:
        return done_at > due
    return now > due


@dataclass(frozen=True)
class Deadline:
    """One of a ticket's two deadlines as it stands: kind first_response | final, limit or target."""

    kind: str
    mode: DeadlineMode
    due: datetime
    done_at: datetime | None

    def missed(self, now: datetime) -> bool:
        return is_missed(self.due, self.done_at, now)

    def breached(self, now: datetime) -> bool:
        """R-CS-05: only a missed limit is a breach; a missed target is not (R-CS-03)."""
        return self.mode == DeadlineMode.LIMIT and self.missed(now)

    def met(self, now: datetime) -> bool | None:
        """True when answered in time, False once missed, None while it is still running."""
        if self.missed(now):
            return False
        return True if self.done_at is not None else None


def countdown(due: datetime | None, now: datetime, lang: str) -> str:
    """Time left (or overdue) as text; computed server-side, the page's script keeps it ticking."""
    if due is None:
        return ""
    secs = int((due - now).total_seconds())
    return format_seconds(secs, lang)


def format_seconds(secs: int, lang: str) -> str:
    over = secs < 0
    s = abs(secs)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m = rem // 60
    if lang == "zh":
        parts = [f"{d}天" if d else "", f"{h}小时" if h or d else "", f"{m}分"]
        body = "".join(parts)
        return f"已超时 {body}" if over else f"剩余 {body}"
    parts = [f"{d}d" if d else "", f"{h}h" if h or d else "", f"{m}m"]
    body = " ".join(p for p in parts if p)
    return f"overdue {body}" if over else f"{body} left"


# ---------------------------------------------------------------- reports (R-CS-05)

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(month: str) -> str:
    if not _MONTH.match(month or ""):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    return month


@dataclass
class Compliance:
    """One report group. Compliance counts the limits (R-CS-05); the target-met share counts the targets
    of the group's tickets that have one (R-CS-03), beside it."""

    total: int = 0
    met: int = 0
    breached: int = 0
    open: int = 0
    target_tickets: int = 0
    target_met: int = 0
    target_missed: int = 0

    def add(self, outcome: str, target: str | None = None) -> None:
        self.total += 1
        if outcome == "met":
            self.met += 1
        elif outcome == "breached":
            self.breached += 1
        else:
            self.open += 1
        if target is not None:
            self.target_tickets += 1
        if target == "met":
            self.target_met += 1
        elif target == "missed":
            self.target_missed += 1

    @property
    def percent(self) -> float | None:
        decided = self.met + self.breached
        return None if decided == 0 else round(100.0 * self.met / decided, 1)

    @property
    def target_percent(self) -> float | None:
        """Targets met / targets decided; None while no target of the group is decided (or none has one)."""
        decided = self.target_met + self.target_missed
        return None if decided == 0 else round(100.0 * self.target_met / decided, 1)


def ticket_outcome(
    deadlines: Sequence[Deadline], final_done: datetime | None, recorded_breach: bool, now: datetime
) -> str:
    """met | breached | open. A ticket complies when none of its limits was missed (targets do not count)."""
    if recorded_breach or any(d.breached(now) for d in deadlines):
        return "breached"
    if final_done is not None:
        return "met"
    return "open"


def target_outcome(deadlines: Sequence[Deadline], now: datetime) -> str | None:
    """met | missed | open for the ticket's targets; None when its policy gave it no target."""
    targets = [d for d in deadlines if d.mode == DeadlineMode.TARGET]
    if not targets:
        return None
    if any(d.missed(now) for d in targets):
        return "missed"
    if all(d.done_at is not None for d in targets):
        return "met"
    return "open"


# ---------------------------------------------------------------- care (R-CS-06)

# Interpretation (R-CS-06 "above a volume threshold"): units used in the previous month; the threshold
# is the setting `care_offer_min_monthly_volume` (OPENABILITY_CARE_OFFER_MIN_MONTHLY_VOLUME).

_FESTIVAL_ALIASES = {"农历除夕": "春节"}


def festival_key(name: str) -> str | None:
    """The festival a statutory holiday belongs to; None for rest days moved by 调休 and 补假."""
    if "休息日" in name:
        return None
    base = name.split("（")[0].strip()
    return _FESTIVAL_ALIASES.get(base, base)


def greeting_days(holidays_of_year: Sequence[tuple[date, str]]) -> dict[date, str]:
    """First day of each statutory festival of the year -> festival name (greet once per festival)."""
    out: dict[date, str] = {}
    seen: set[str] = set()
    for d, name in sorted(holidays_of_year):
        key = festival_key(name)
        if key is None or "补假" in name or key in seen:
            continue
        seen.add(key)
        out[d] = key
    return out
