"""SLA breach job with a moved clock (R-CS-05), the compliance report, holiday care (R-CS-06)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openability.bootstrap import Container
from openability.jobs.registry import every_minute
from openability.jobs.scheduler import run_job
from openability.jobs_catalog import all_jobs
from openability.kernel.clock import SHANGHAI, FrozenClock, business_date, end_of_business_day
from openability.kernel.notify import Notification
from openability.tickets import service, sla
from openability.tickets.models import Ticket, TicketBreach
from openability.tickets.rules import Action, DeadlineMode
from openability.tickets.schemas import CommentIn, CreateTicket, TicketOut, TransitionIn


async def notifications(container: Container, kind: str) -> list[Notification]:
    async with container.uow() as uow:
        return list((await uow.session.scalars(select(Notification).where(Notification.kind == kind))).all())


def test_jobs_registered_with_their_periods() -> None:
    assert all_jobs()["sla-breaches"].period is every_minute
    assert all_jobs()["holiday-greetings"].period(datetime(2026, 10, 1, 1, tzinfo=SHANGHAI)) == "2026-10-01"


async def test_r_cs_05_breach_detected_within_a_minute_notified_once_and_reported(
    world: Any, run: Any, clock: FrozenClock, container: Container
) -> None:
    job = all_jobs()["sla-breaches"]
    lead = await world.operator("lead", ["service_lead"])
    agent = await world.operator("agent", ["service_agent"], lead_id=lead.id)
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    fault = CreateTicket.model_validate(
        {"type": "fault_complaint", "subtype": "software", "subject": "接口报错"}
    )
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, fault))
    ok = await run(
        world.as_user(u),
        lambda uow: service.create_ticket(uow, fault.model_copy(update={"subject": "另一个"})),
    )
    due = t.first_response_due
    assert due == clock.now() + timedelta(minutes=20)
    # the second ticket is answered in time
    clock.advance(minutes=10)
    await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, ok.id, Action.RESOLVE, TransitionIn(resolution="已修复")),
    )

    clock.set(due - timedelta(seconds=1))
    assert await run_job(container, job) == "0 deadline(s) breached"
    clock.set(due + timedelta(seconds=30))  # the next scheduler tick, within a minute of the deadline
    assert await run_job(container, job) == "2 deadline(s) breached"  # first response and final reply
    assert await run_job(container, job) is None  # same minute: job_runs key says done
    clock.advance(minutes=1)
    assert await run_job(container, job) == "0 deadline(s) breached"  # next minute: nothing new

    sent = await notifications(container, "sla-breach")
    assert sorted(n.recipient_id for n in sent) == [
        lead.id,
        lead.id,
    ]  # once per deadline, to the owner's lead
    assert len({n.dedup_key for n in sent}) == 2
    async with container.uow() as uow:
        tk = await uow.session.get(Ticket, t.id)
        assert tk is not None and tk.breached and tk.first_response_breached_at == due + timedelta(seconds=30)
        breaches = (
            await uow.session.scalars(select(TicketBreach).where(TicketBreach.ticket_id == t.id))
        ).all()
        assert {b.kind for b in breaches} == {"first_response", "final"}
        assert all(b.escalated_to == lead.id and b.owner_id == agent.id for b in breaches)

    # answering late does not undo the breach; the report counts it
    await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="迟到的修复")),
    )
    rep = await run(world.as_op(lead), lambda uow: sla.sla_report(uow, "2026-11"))
    no_targets = {"target_tickets": 0, "target_met": 0, "target_missed": 0, "target_met_percent": None}
    assert (
        rep["total"]
        == {"tickets": 2, "met": 1, "breached": 1, "open": 0, "compliance_percent": 50.0} | no_targets
    )
    assert rep["breach_events"] == 2
    assert rep["by_type"] == [
        {
            "type": "fault_complaint",
            "tickets": 2,
            "met": 1,
            "breached": 1,
            "open": 0,
            "compliance_percent": 50.0,
        }
        | no_targets
    ]
    assert rep["by_owner"][0]["owner_id"] == agent.id and rep["by_owner"][0]["breached"] == 1
    empty = await run(world.as_op(lead), lambda uow: sla.sla_report(uow, "2026-10"))
    assert empty["total"]["tickets"] == 0 and empty["total"]["compliance_percent"] is None


async def test_r_cs_05_owner_without_lead_escalates_to_all_service_leads(
    world: Any, run: Any, clock: FrozenClock, container: Container
) -> None:
    l1 = await world.operator("l1", ["service_lead"])
    l2 = await world.operator("l2", ["service_lead"])
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    req = CreateTicket.model_validate(
        {"type": "consultation", "subtype": "tariffs", "subject": "咨询", "partner_id": p.id}
    )
    t = await run(world.as_op(agent), lambda uow: service.create_ticket(uow, req))
    await run(world.as_op(agent), lambda uow: service.add_comment(uow, t.id, CommentIn(body="收到")))
    clock.set(t.final_due + timedelta(seconds=5))
    n = await run(world.as_op(agent), sla.scan_breaches)
    assert n == 1  # the first response was in time; only the final reply is late
    again = await run(world.as_op(agent), sla.scan_breaches)
    assert again == 0
    sent = await notifications(container, "sla-breach")
    assert sorted(x.recipient_id for x in sent) == sorted([l1.id, l2.id])


async def test_r_cs_05_paused_ticket_is_not_breached(
    world: Any, run: Any, clock: FrozenClock, container: Container
) -> None:
    container.settings.sla_pause_while_pending = True
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    req = CreateTicket.model_validate(
        {"type": "fault_complaint", "subtype": "hardware", "subject": "x", "partner_id": p.id}
    )
    t = await run(world.as_op(agent), lambda uow: service.create_ticket(uow, req))
    await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, t.id, Action.PEND, TransitionIn(note="请提供日志")),
    )
    clock.advance(hours=2)
    assert await run(world.as_op(agent), sla.scan_breaches) == 0


async def _consultation_received_monday(world: Any, run: Any, clock: FrozenClock) -> tuple[Any, Any, Any]:
    """A general consultation received Mon 2026-11-02 10:00: target end of Tue 11-03, limit end of
    Thu 11-05 (the 3rd working day after the day of receipt)."""
    lead = await world.operator("lead", ["service_lead"])
    agent = await world.operator("agent", ["service_agent"], lead_id=lead.id)
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    clock.set(datetime(2026, 11, 2, 10, tzinfo=SHANGHAI))
    assert business_date(clock.now()).weekday() == 0  # a Monday
    req = CreateTicket.model_validate({"type": "consultation", "subtype": "tariffs", "subject": "资费咨询"})
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, req))
    assert (t.first_response_mode, t.first_response_due) == (
        DeadlineMode.TARGET,
        end_of_business_day(date(2026, 11, 3)),
    )
    assert (t.final_mode, t.final_due) == (DeadlineMode.LIMIT, end_of_business_day(date(2026, 11, 5)))
    return lead, agent, t


async def _answer(run: Any, world: Any, agent: Any, ticket_id: str) -> None:
    await run(
        world.as_op(agent), lambda uow: service.add_comment(uow, ticket_id, CommentIn(body="0.05 元/条"))
    )
    await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, ticket_id, Action.RESOLVE, TransitionIn(resolution="已答复")),
    )


async def test_r_cs_05_consultation_answered_within_its_limit_is_not_breached(
    world: Any, run: Any, clock: FrozenClock, container: Container
) -> None:
    job = all_jobs()["sla-breaches"]
    lead, agent, t = await _consultation_received_monday(world, run, clock)
    # Wed 11-04: past the 1-day target, inside the 3-working-day limit
    clock.set(datetime(2026, 11, 4, 10, tzinfo=SHANGHAI))
    assert await run_job(container, job) == "0 deadline(s) breached"
    await _answer(run, world, agent, t.id)
    clock.set(datetime(2026, 11, 9, 10, tzinfo=SHANGHAI))
    assert await run_job(container, job) == "0 deadline(s) breached"

    assert await notifications(container, "sla-breach") == []
    async with container.uow() as uow:
        tk = await uow.session.get(Ticket, t.id)
        assert tk is not None and not tk.breached and tk.first_response_breached_at is None
        assert (await uow.session.scalars(select(TicketBreach))).all() == []
        out = TicketOut.of(tk, uow.now)
    # the ticket shows the target missed, not a breach; the limit met
    first, final = out.sla.first_response, out.sla.final
    assert (first.mode, first.met, first.breached) == (DeadlineMode.TARGET, False, False)
    assert (final.mode, final.met, final.breached) == (DeadlineMode.LIMIT, True, False)
    assert not out.sla.ever_breached
    rep = await run(world.as_op(lead), lambda uow: sla.sla_report(uow, "2026-11"))
    assert rep["total"] == {
        "tickets": 1,
        "met": 1,
        "breached": 0,
        "open": 0,
        "compliance_percent": 100.0,
        "target_tickets": 1,
        "target_met": 0,
        "target_missed": 1,
        "target_met_percent": 0.0,
    }
    assert rep["breach_events"] == 0


async def test_r_cs_05_consultation_answered_after_the_third_working_day_is_breached(
    world: Any, run: Any, clock: FrozenClock, container: Container
) -> None:
    job = all_jobs()["sla-breaches"]
    lead, agent, t = await _consultation_received_monday(world, run, clock)
    limit = end_of_business_day(date(2026, 11, 5))
    clock.set(limit - timedelta(seconds=1))  # Thu 11-05 23:59:59: the target passed long ago, no breach
    assert await run_job(container, job) == "0 deadline(s) breached"
    clock.set(limit + timedelta(seconds=30))  # Fri 11-06 00:00:30: the limit passed unanswered
    assert await run_job(container, job) == "1 deadline(s) breached"
    sent = await notifications(container, "sla-breach")
    assert [n.recipient_id for n in sent] == [lead.id]  # the owner's lead is notified
    async with container.uow() as uow:
        breaches = (await uow.session.scalars(select(TicketBreach))).all()
        assert [(b.ticket_id, b.kind, b.due_at) for b in breaches] == [(t.id, "final", limit)]
    clock.set(datetime(2026, 11, 6, 10, tzinfo=SHANGHAI))
    await _answer(run, world, agent, t.id)
    rep = await run(world.as_op(lead), lambda uow: sla.sla_report(uow, "2026-11"))
    assert (rep["total"]["breached"], rep["total"]["compliance_percent"], rep["breach_events"]) == (1, 0.0, 1)
    assert (rep["total"]["target_missed"], rep["total"]["target_met_percent"]) == (1, 0.0)


async def test_r_cs_06_holiday_greetings_and_offers(
    world: Any, run: Any, clock: FrozenClock, container: Container
) -> None:
    from openability.charging.models import UsageDaily
    from openability.partners.types import PartnerStatus

    job = all_jobs()["holiday-greetings"]
    agent = await world.operator("agent", ["service_agent"])
    big = await world.partner("大客户科技", owner_id=agent.id)
    small = await world.partner("小微科技")
    await world.partner("待审科技", status=PartnerStatus.PENDING)
    await world.cdr(big)  # creates the product row the rollup points at
    async with container.uow() as uow:
        from openability.catalog.models import Product

        prod = await uow.session.scalar(select(Product).where(Product.code == "t-sms"))
        assert prod is not None
        for pid, qty in ((big.id, 150_000), (small.id, 10)):
            uow.session.add(
                UsageDaily(
                    partner_id=pid,
                    product_id=prod.id,
                    day=date(2026, 9, 15),
                    price_plan_id="pp_test",
                    band="list",
                    scope="national",
                    month="2026-09",
                    calls=qty,
                    quantity=qty,
                    amount=Decimal("1.0000"),
                )
            )
    clock.set(datetime(2026, 9, 30, 9, tzinfo=SHANGHAI))  # an ordinary working day
    assert await run_job(container, job) == "0 greeting(s), 0 offer(s)"
    clock.set(datetime(2026, 10, 1, 9, tzinfo=SHANGHAI))  # National Day
    assert await run_job(container, job) == "2 greeting(s), 1 offer(s)"
    assert await run_job(container, job, force=True) == "0 greeting(s), 0 offer(s)"  # dedup keys
    clock.set(datetime(2026, 10, 2, 9, tzinfo=SHANGHAI))  # second holiday day: no second greeting
    assert await run_job(container, job) == "0 greeting(s), 0 offer(s)"
    greetings = await notifications(container, "holiday-greeting")
    assert sorted(g.recipient_id for g in greetings) == sorted([big.id, small.id])
    g = next(x for x in greetings if x.recipient_id == big.id)
    assert "国庆节" in g.body and "大客户科技" in g.body
    offers = await notifications(container, "care-offer")
    assert [o.recipient_id for o in offers] == [big.id]
    assert "150000" in offers[0].body and "Agent" in offers[0].body
