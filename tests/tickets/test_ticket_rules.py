"""Pure ticket rules on the real 2026 mainland-China calendar (R-CS-01, R-CS-03, R-CS-04, R-CS-06)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from openability.kernel.calendar import WorkingCalendar
from openability.kernel.clock import SHANGHAI
from openability.tickets import rules
from openability.tickets.rules import (
    DEFAULT_POLICIES,
    Action,
    DeadlineMode,
    Importance,
    PolicyRow,
    SlaUnit,
    Subtype,
    Term,
    TicketState,
    TicketType,
)

CAL = WorkingCalendar(confirmed_years=[2026])


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def end_of(y: int, m: int, d: int) -> datetime:
    """24:00 Asia/Shanghai of a day."""
    return sh(y, m, d) + timedelta(days=1)


def policy(t: TicketType, s: Subtype, imp: Importance = Importance.GENERAL) -> PolicyRow:
    return rules.pick_policy(DEFAULT_POLICIES, t, s, imp)


def dues(
    received: datetime,
    t: TicketType,
    s: Subtype,
    imp: Importance = Importance.GENERAL,
    cal: WorkingCalendar = CAL,
) -> tuple[datetime, datetime]:
    p = policy(t, s, imp)
    return rules.deadline(received, p.first_response, cal), rules.deadline(received, p.final, cal)


def test_r_cs_04_national_day_general_request_lands_on_make_up_saturday() -> None:
    # Received Wed 2026-09-30; 10-01..10-07 off; Thu 10-08, Fri 10-09 and Sat 10-10 (调休 make-up) work.
    first, final = dues(sh(2026, 9, 30, 16, 30), TicketType.BUSINESS_REQUEST, Subtype.OPENING)
    assert first == end_of(2026, 10, 8)
    assert final == end_of(2026, 10, 10)
    assert date(2026, 10, 10).weekday() == 5  # a Saturday
    assert final == datetime(2026, 10, 10, 16, 0, tzinfo=UTC)


def test_r_cs_03_important_consultation_across_national_day() -> None:
    first, final = dues(sh(2026, 9, 30, 9), TicketType.CONSULTATION, Subtype.TARIFFS, Importance.IMPORTANT)
    assert first == end_of(2026, 10, 10)  # 3 WD: 10-08, 10-09, 10-10
    assert final == end_of(2026, 10, 13)  # 5 WD: ... 10-12 (Mon), 10-13 (Tue)


def test_r_cs_04_across_a_weekend() -> None:
    # Friday 2026-11-06 15:00: day 1 = Monday 11-09, day 3 = Wednesday 11-11.
    first, final = dues(sh(2026, 11, 6, 15), TicketType.CONSULTATION, Subtype.PROCEDURES)
    assert first == end_of(2026, 11, 9)
    assert final == end_of(2026, 11, 11)


def test_r_cs_04_received_on_a_saturday_counts_from_the_next_working_day() -> None:
    first, final = dues(sh(2026, 11, 7, 11), TicketType.CONSULTATION, Subtype.PROCEDURES)
    assert first == end_of(2026, 11, 9)
    assert final == end_of(2026, 11, 11)


def test_r_cs_04_receipt_day_itself_never_counts_even_just_before_midnight() -> None:
    first, _ = dues(sh(2026, 11, 2, 23, 59), TicketType.CONSULTATION, Subtype.TARIFFS)
    assert first == end_of(2026, 11, 3)
    # 00:01 the next day belongs to that next day
    first2, _ = dues(sh(2026, 11, 3, 0, 1), TicketType.CONSULTATION, Subtype.TARIFFS)
    assert first2 == end_of(2026, 11, 4)


def test_r_cs_04_spring_festival_2026_with_make_up_saturday() -> None:
    # Fri 2026-02-13 received; 02-14 (Sat) is a 调休 working day; 02-15.. 02-23 off; 02-24 works.
    first, final = dues(sh(2026, 2, 13, 10), TicketType.CONSULTATION, Subtype.BUSINESS_CONTENT)
    assert first == end_of(2026, 2, 14)
    assert final == end_of(2026, 2, 25)


def test_r_cs_03_fault_minutes_run_on_the_clock() -> None:
    received = sh(2026, 10, 3, 23, 50)  # a holiday, late evening: minutes still run
    first, final = dues(received, TicketType.FAULT_COMPLAINT, Subtype.SOFTWARE)
    assert first == final == received + timedelta(minutes=20)
    first, final = dues(received, TicketType.FAULT_COMPLAINT, Subtype.HARDWARE)
    assert first == final == sh(2026, 10, 4, 0, 20)


def test_r_cs_03_platform_fault_hours() -> None:
    received = sh(2026, 9, 30, 20)
    first, final = dues(received, TicketType.FAULT_COMPLAINT, Subtype.PLATFORM_GENERAL)
    assert first == final == sh(2026, 10, 1, 20)  # National Day: clock hours ignore the calendar
    first, final = dues(received, TicketType.FAULT_COMPLAINT, Subtype.PLATFORM_MAJOR)
    assert first == sh(2026, 10, 1, 4)  # 8 hours
    assert final == sh(2026, 10, 1, 20)  # 24 hours


def test_r_cs_03_billing_error_is_timed_as_a_general_platform_fault() -> None:
    p = policy(TicketType.FAULT_COMPLAINT, Subtype.BILLING_ERROR)
    assert p.first_response == Term(24, SlaUnit.HOURS)
    assert p.final == Term(24, SlaUnit.HOURS)
    assert p.subtype == "billing_error"  # its own policy row, changeable as data


def test_r_cs_04_override_adding_a_holiday_moves_the_deadline() -> None:
    received = sh(2026, 11, 2, 10)
    base_first, base_final = dues(received, TicketType.CONSULTATION, Subtype.TARIFFS)
    assert (base_first, base_final) == (end_of(2026, 11, 3), end_of(2026, 11, 5))
    cal = WorkingCalendar({date(2026, 11, 3): False}, confirmed_years=[2026])
    first, final = dues(received, TicketType.CONSULTATION, Subtype.TARIFFS, cal=cal)
    assert (first, final) == (end_of(2026, 11, 4), end_of(2026, 11, 6))


def test_r_cs_04_override_making_a_saturday_a_working_day() -> None:
    cal = WorkingCalendar({date(2026, 11, 7): True}, confirmed_years=[2026])
    first, final = dues(sh(2026, 11, 6, 10), TicketType.CONSULTATION, Subtype.TARIFFS, cal=cal)
    assert first == end_of(2026, 11, 7)
    assert final == end_of(2026, 11, 10)


def test_r_cs_04_unconfirmed_year_is_flagged() -> None:
    cal = WorkingCalendar(confirmed_years=[2026])
    rules.deadline(sh(2027, 3, 1, 10), Term(1, SlaUnit.WORKING_DAYS), cal)
    assert 2027 in cal.warnings
    assert not cal.is_confirmed(2027)


def test_r_cs_01_subtype_must_belong_to_type() -> None:
    assert rules.validate_kind("fault_complaint", "billing_error") == (
        TicketType.FAULT_COMPLAINT,
        Subtype.BILLING_ERROR,
    )
    with pytest.raises(rules.KindError, match="does not belong"):
        rules.validate_kind("consultation", "billing_error")
    with pytest.raises(rules.KindError, match="unknown ticket type"):
        rules.validate_kind("praise", "tariffs")
    with pytest.raises(rules.KindError, match="unknown subtype"):
        rules.validate_kind("consultation", "weather")
    # every R-CS-01 kind exists
    assert {s.value for s in rules.SUBTYPES[TicketType.BUSINESS_REQUEST]} == {
        "opening",
        "change",
        "cancellation",
        "exit",
    }


def test_r_cs_03_defaults_cover_every_kind_and_are_valid() -> None:
    rules.validate_policy_set(DEFAULT_POLICIES)
    general = policy(TicketType.CONSULTATION, Subtype.TARIFFS)
    important = policy(TicketType.CONSULTATION, Subtype.TARIFFS, Importance.IMPORTANT)
    assert (general.first_response, general.final) == (
        Term(1, SlaUnit.WORKING_DAYS, DeadlineMode.TARGET),
        Term(3, SlaUnit.WORKING_DAYS, DeadlineMode.LIMIT),
    )
    assert (important.first_response, important.final) == (
        Term(3, SlaUnit.WORKING_DAYS, DeadlineMode.TARGET),
        Term(5, SlaUnit.WORKING_DAYS, DeadlineMode.LIMIT),
    )


def test_r_cs_03_range_lower_end_is_a_target_single_figures_are_limits() -> None:
    # "3 working days (target 1)": the lower end is a target, the upper end the limit
    for t, s in ((TicketType.CONSULTATION, Subtype.TARIFFS), (TicketType.BUSINESS_REQUEST, Subtype.OPENING)):
        for imp in Importance:
            p = policy(t, s, imp)
            assert (p.first_response.mode, p.final.mode) == (DeadlineMode.TARGET, DeadlineMode.LIMIT)
    # faults have one figure per deadline: every one is a limit, also the major platform fault's 8 h / 24 h
    for s in rules.SUBTYPES[TicketType.FAULT_COMPLAINT]:
        p = policy(TicketType.FAULT_COMPLAINT, s)
        assert (p.first_response.mode, p.final.mode) == (DeadlineMode.LIMIT, DeadlineMode.LIMIT)
    major = policy(TicketType.FAULT_COMPLAINT, Subtype.PLATFORM_MAJOR)
    assert (major.first_response, major.final) == (Term(8, SlaUnit.HOURS), Term(24, SlaUnit.HOURS))


def test_r_cs_03_a_policy_without_a_limit_is_refused() -> None:
    rows = [r for r in DEFAULT_POLICIES if r.type != TicketType.FAULT_COMPLAINT or r.subtype != "software"]
    targets_only = PolicyRow(
        TicketType.FAULT_COMPLAINT,
        "software",
        "",
        Term(20, SlaUnit.MINUTES, DeadlineMode.TARGET),
        Term(20, SlaUnit.MINUTES, DeadlineMode.TARGET),
    )
    with pytest.raises(rules.PolicyError, match="no limit"):
        rules.validate_policy_set([*rows, targets_only])
    rules.validate_policy_set([*rows, replace(targets_only, final=Term(20, SlaUnit.MINUTES))])


def test_r_cs_03_policy_set_validation() -> None:
    rows = list(DEFAULT_POLICIES)
    with pytest.raises(rules.PolicyError, match="duplicate"):
        rules.validate_policy_set([*rows, rows[0]])
    with pytest.raises(rules.PolicyError, match="no SLA policy"):
        rules.validate_policy_set(rows[1:])  # general consultation missing
    bad = PolicyRow(
        TicketType.CONSULTATION, "", "", Term(5, SlaUnit.WORKING_DAYS), Term(1, SlaUnit.WORKING_DAYS)
    )
    with pytest.raises(rules.PolicyError, match="first response after final"):
        rules.validate_policy_set([bad])
    # a specific row beats a generic one
    specific = PolicyRow(
        TicketType.CONSULTATION, "tariffs", "general", Term(2, SlaUnit.HOURS), Term(4, SlaUnit.HOURS)
    )
    assert (
        rules.pick_policy([*rows, specific], TicketType.CONSULTATION, Subtype.TARIFFS, Importance.GENERAL)
        is specific
    )


def test_sla_pause_extends_clock_and_working_day_deadlines() -> None:
    due = sh(2026, 11, 2, 10, 20)
    assert rules.extend_for_pause(
        due, SlaUnit.MINUTES, sh(2026, 11, 2, 10, 5), sh(2026, 11, 2, 10, 15), CAL
    ) == sh(2026, 11, 2, 10, 30)
    wd_due = end_of(2026, 11, 5)
    # paused Mon 11-02 to Wed 11-04: covers 2 working days (11-03, 11-04) -> Mon 11-09 (weekend skipped)
    assert rules.extend_for_pause(
        wd_due, SlaUnit.WORKING_DAYS, sh(2026, 11, 2, 15), sh(2026, 11, 4, 9), CAL
    ) == end_of(2026, 11, 9)
    # a pause within one day costs nothing in working days
    assert (
        rules.extend_for_pause(wd_due, SlaUnit.WORKING_DAYS, sh(2026, 11, 2, 9), sh(2026, 11, 2, 17), CAL)
        == wd_due
    )


def test_state_machine() -> None:
    assert rules.next_state(TicketState.ACKNOWLEDGED, Action.START) == TicketState.IN_PROGRESS
    assert rules.next_state(TicketState.IN_PROGRESS, Action.PEND) == TicketState.PENDING
    assert rules.next_state(TicketState.PENDING, Action.RESOLVE) == TicketState.RESOLVED
    assert rules.next_state(TicketState.RESOLVED, Action.REOPEN) == TicketState.IN_PROGRESS
    assert rules.next_state(TicketState.RESOLVED, Action.CLOSE) == TicketState.CLOSED
    with pytest.raises(rules.TransitionError):
        rules.next_state(TicketState.CLOSED, Action.REOPEN)
    with pytest.raises(rules.TransitionError):
        rules.next_state(TicketState.CANCELLED, Action.RESOLVE)
    assert rules.allowed_actions(TicketState.RESOLVED, partner=True) == [Action.CLOSE, Action.REOPEN]
    assert Action.RESOLVE not in rules.allowed_actions(TicketState.IN_PROGRESS, partner=True)


def test_r_cs_05_breach_and_outcome() -> None:
    due = sh(2026, 11, 2, 12)
    assert not rules.is_missed(due, None, due)
    assert rules.is_missed(due, None, due + timedelta(seconds=1))
    assert rules.is_missed(due, due + timedelta(minutes=1), due + timedelta(days=1))
    assert not rules.is_missed(due, due, due + timedelta(days=1))
    later = due + timedelta(days=1)

    def limits(done: datetime | None) -> list[rules.Deadline]:
        return [rules.Deadline(k, DeadlineMode.LIMIT, due, done) for k in ("first_response", "final")]

    assert rules.ticket_outcome(limits(due), due, False, later) == "met"
    assert rules.ticket_outcome(limits(None), None, False, due - timedelta(minutes=1)) == "open"
    assert rules.ticket_outcome(limits(None), None, False, later) == "breached"
    assert rules.ticket_outcome(limits(due), due, True, due) == "breached"  # recorded by the job
    c = rules.Compliance()
    for o in ("met", "met", "breached", "open"):
        c.add(o)
    assert (c.total, c.met, c.breached, c.open, c.percent) == (4, 2, 1, 1, 66.7)


def test_r_cs_05_a_missed_target_is_not_a_breach() -> None:
    # received Mon 2026-11-02; consultation: target end of 11-03, limit end of 11-05
    target = rules.Deadline("first_response", DeadlineMode.TARGET, end_of(2026, 11, 3), sh(2026, 11, 4, 10))
    limit = rules.Deadline("final", DeadlineMode.LIMIT, end_of(2026, 11, 5), sh(2026, 11, 4, 10))
    now = sh(2026, 11, 9, 9)
    assert target.missed(now) and not target.breached(now) and target.met(now) is False
    assert not limit.breached(now) and limit.met(now) is True
    assert rules.ticket_outcome([target, limit], limit.done_at, False, now) == "met"
    # the limit answered after the end of the 3rd working day is a breach
    late = replace(limit, done_at=end_of(2026, 11, 5) + timedelta(minutes=1))
    assert late.breached(now) and rules.ticket_outcome([target, late], late.done_at, False, now) == "breached"


def test_r_cs_03_target_met_share() -> None:
    now = sh(2026, 11, 20)
    due = sh(2026, 11, 3)

    def ticket(mode: DeadlineMode, done: datetime | None, due_at: datetime = due) -> list[rules.Deadline]:
        return [
            rules.Deadline("first_response", mode, due_at, done),
            rules.Deadline("final", DeadlineMode.LIMIT, due_at + timedelta(days=2), done),
        ]

    met = ticket(DeadlineMode.TARGET, due - timedelta(hours=1))
    missed_late = ticket(DeadlineMode.TARGET, due + timedelta(hours=1))
    missed_unanswered = ticket(DeadlineMode.TARGET, None)
    running = ticket(DeadlineMode.TARGET, None, now + timedelta(hours=5))
    no_target = ticket(DeadlineMode.LIMIT, due - timedelta(hours=1))
    assert [
        rules.target_outcome(d, now) for d in (met, missed_late, missed_unanswered, running, no_target)
    ] == [
        "met",
        "missed",
        "missed",
        "open",
        None,
    ]
    c = rules.Compliance()
    for d in (met, missed_late, missed_unanswered, running, no_target):
        c.add(rules.ticket_outcome(d, d[1].done_at, False, now), rules.target_outcome(d, now))
    # 1 of 3 decided targets met; the open one and the ticket without a target do not count
    assert (c.target_tickets, c.target_met, c.target_missed, c.target_percent) == (4, 1, 2, 33.3)
    # the targets do not touch compliance: met, met, breached (unanswered past the limit), open, met
    assert (c.met, c.breached, c.open, c.percent) == (3, 1, 1, 75.0)
    assert rules.Compliance().target_percent is None


def test_format_due_shows_end_of_day_as_24_00() -> None:
    assert rules.format_due(end_of(2026, 10, 10)) == "2026-10-10 24:00"
    assert rules.format_due(sh(2026, 10, 10, 9, 5)) == "2026-10-10 09:05"
    assert rules.format_due(None) == ""


def test_countdown_text() -> None:
    now = sh(2026, 11, 2, 10)
    assert rules.countdown(now + timedelta(days=1, hours=2, minutes=5), now, "en") == "1d 2h 5m left"
    assert rules.countdown(now + timedelta(minutes=7), now, "zh") == "剩余 7分"
    assert rules.countdown(now - timedelta(hours=1, minutes=1), now, "zh") == "已超时 1小时1分"
    assert rules.countdown(now - timedelta(minutes=3), now, "en") == "overdue 3m"


def test_r_cs_06_greeting_days_2026() -> None:
    days = rules.greeting_days(CAL.statutory_holidays(2026))
    assert days == {
        date(2026, 1, 1): "元旦",
        date(2026, 2, 16): "春节",
        date(2026, 4, 5): "清明节",
        date(2026, 5, 1): "劳动节",
        date(2026, 6, 19): "端午节",
        date(2026, 9, 25): "中秋节",
        date(2026, 10, 1): "国庆节",
    }


def test_parse_month() -> None:
    assert rules.parse_month("2026-11") == "2026-11"
    for bad in ("2026-13", "2026-1", "26-11", "", "2026-11-01"):
        with pytest.raises(ValueError):
            rules.parse_month(bad)
