"""Ticket services: assignment (R-CS-02), deadlines from the DB calendar (R-CS-03/04), conversation,
transitions, business requests acting through catalog.service, billing-error references, pauses."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.bootstrap import Container
from openability.kernel import calendar_admin
from openability.kernel.audit import AuditEntry
from openability.kernel.clock import FrozenClock, end_of_business_day
from openability.kernel.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, RuleViolation
from openability.kernel.notify import Notification
from openability.kernel.uow import SYSTEM
from openability.partners.models import Partner
from openability.tickets import attachments, service, sla
from openability.tickets.rules import Action, Channel, TicketState
from openability.tickets.schemas import CommentIn, CreateTicket, TransitionIn


def consult(**kw: Any) -> CreateTicket:
    data: dict[str, Any] = {"type": "consultation", "subtype": "tariffs", "subject": "资费咨询"} | kw
    return CreateTicket.model_validate(data)


async def audit_actions(container: Container, entity: tuple[str, str]) -> list[str]:
    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity_type == entity[0], AuditEntry.entity_id == entity[1])
            .order_by(AuditEntry.at, AuditEntry.id)
        )
        return list(rows.all())


async def test_r_cs_02_online_ticket_goes_to_the_partners_service_owner(
    world: Any, run: Any, container: Container
) -> None:
    owner = await world.operator("owner", ["service_agent"])
    await world.operator("idle", ["service_agent"])
    p = await world.partner(owner_id=owner.id)
    u = await world.user(p)
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, consult()))
    assert t.owner_id == owner.id
    assert t.channel == Channel.ONLINE
    assert t.state == TicketState.ACKNOWLEDGED
    # 2026-11-02 10:00 Monday: first response end of Tue 11-03, final end of Thu 11-05
    assert t.first_response_due == end_of_business_day(date(2026, 11, 3))
    assert t.final_due == end_of_business_day(date(2026, 11, 5))
    assert t.next_due_at == t.first_response_due
    assert await audit_actions(container, ("ticket", t.id)) == ["ticket.created"]
    async with container.uow() as uow:
        n = await uow.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.recipient_id == owner.id)
        )
    assert n == 1


async def test_r_cs_02_fallback_to_least_loaded_agent_becomes_the_partners_owner(
    world: Any, run: Any, container: Container
) -> None:
    busy = await world.operator("busy", ["service_agent"])
    free = await world.operator("free", ["service_agent"])
    await world.operator("lead", ["service_lead"])  # leads are not in the fallback pool
    other = await world.partner(owner_id=busy.id)
    for _ in range(2):
        await run(world.as_op(busy), lambda uow: service.create_ticket(uow, consult(partner_id=other.id)))
    p = await world.partner()
    t = await run(world.as_op(busy), lambda uow: service.create_ticket(uow, consult(partner_id=p.id)))
    assert t.owner_id == free.id
    assert t.channel == Channel.HOTLINE
    async with container.uow() as uow:
        partner = await uow.session.get(Partner, p.id)
        assert partner is not None and partner.service_owner_id == free.id
    assert "partner.service_owner_assigned" in await audit_actions(container, ("partner", p.id))
    # the next ticket of that partner follows its (now dedicated) owner even though loads are equal
    t2 = await run(world.as_op(busy), lambda uow: service.create_ticket(uow, consult(partner_id=p.id)))
    assert t2.owner_id == free.id


async def test_r_cs_02_inactive_owner_falls_back(world: Any, run: Any) -> None:
    gone = await world.operator("gone", ["service_agent"], active=False)
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=gone.id)
    u = await world.user(p)
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, consult()))
    assert t.owner_id == agent.id


async def test_r_cs_02_reassignment_by_lead_is_audited(world: Any, run: Any, container: Container) -> None:
    lead = await world.operator("lead", ["service_lead"])
    a1 = await world.operator("a1", ["service_agent"], lead_id=lead.id)
    a2 = await world.operator("a2", ["service_agent"], lead_id=lead.id)
    p = await world.partner(owner_id=a1.id)
    t = await run(world.as_op(a1), lambda uow: service.create_ticket(uow, consult(partner_id=p.id)))
    with pytest.raises(PermissionDenied):
        await run(world.as_op(a1), lambda uow: service.reassign(uow, t.id, a2.id))
    with pytest.raises(InvalidArgument):
        await run(world.as_op(lead), lambda uow: service.reassign(uow, t.id, "opr_nobody"))
    t = await run(world.as_op(lead), lambda uow: service.reassign(uow, t.id, a2.id, "a1 on leave"))
    assert t.owner_id == a2.id
    async with container.uow() as uow:
        row = await uow.session.scalar(
            select(AuditEntry).where(AuditEntry.entity_id == t.id, AuditEntry.action == "ticket.reassigned")
        )
    assert row is not None
    assert row.before is not None and row.before["owner_id"] == a1.id
    assert row.after is not None and row.after["owner_id"] == a2.id
    assert row.note == "a1 on leave" and row.actor_id == lead.id


async def test_r_cs_01_hotline_and_visibility_rules(world: Any, run: Any) -> None:
    agent = await world.operator("agent", ["service_agent"])
    clerk = await world.operator("clerk", ["billing_clerk"])
    p1, p2 = await world.partner(), await world.partner()
    u1 = await world.user(p1)
    with pytest.raises(InvalidArgument, match="partnerId is required"):
        await run(world.as_op(agent), lambda uow: service.create_ticket(uow, consult()))
    with pytest.raises(PermissionDenied):
        await run(world.as_op(clerk), lambda uow: service.create_ticket(uow, consult(partner_id=p1.id)))
    with pytest.raises(NotFound):
        await run(world.as_user(u1), lambda uow: service.create_ticket(uow, consult(partner_id=p2.id)))
    with pytest.raises(InvalidArgument, match="does not belong"):
        await run(world.as_user(u1), lambda uow: service.create_ticket(uow, consult(subtype="software")))
    t2 = await run(world.as_op(agent), lambda uow: service.create_ticket(uow, consult(partner_id=p2.id)))
    with pytest.raises(NotFound):
        await run(world.as_user(u1), lambda uow: service.get_ticket(uow, t2.id))
    rows, total = await run(world.as_user(u1), lambda uow: service.list_tickets(uow, service.TicketFilter()))
    assert (rows, total) == ([], 0)


async def test_conversation_first_response_and_internal_notes(
    world: Any, run: Any, clock: FrozenClock
) -> None:
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, consult()))
    clock.advance(minutes=30)
    await run(
        world.as_op(agent),
        lambda uow: service.add_comment(uow, t.id, CommentIn(body="内部：查资费表", internal=True)),
    )
    t = await run(world.as_op(agent), lambda uow: service.get_ticket(uow, t.id))
    assert t.first_responded_at is None  # an internal note is not a response
    with pytest.raises(PermissionDenied):
        await run(
            world.as_user(u), lambda uow: service.add_comment(uow, t.id, CommentIn(body="x", internal=True))
        )
    clock.advance(minutes=5)
    await run(
        world.as_op(agent),
        lambda uow: service.add_comment(uow, t.id, CommentIn(body="您好，资费为 0.05 元/条")),
    )
    t = await run(world.as_op(agent), lambda uow: service.get_ticket(uow, t.id))
    assert t.first_responded_at == clock.now()
    assert t.state == TicketState.IN_PROGRESS
    assert t.next_due_at == t.final_due

    async def partner_view(uow: Any) -> list[str]:
        tk = await service.get_ticket(uow, t.id)
        return [c.body for c in await service.list_comments(uow, tk)]

    assert await run(world.as_user(u), partner_view) == ["您好，资费为 0.05 元/条"]
    assert len(await run(world.as_op(agent), partner_view)) == 2


async def test_transitions_and_partner_reopen_window(
    world: Any, run: Any, clock: FrozenClock, container: Container
) -> None:
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, consult()))
    with pytest.raises(PermissionDenied):
        await run(
            world.as_user(u),
            lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="x")),
        )
    await run(world.as_op(agent), lambda uow: service.transition(uow, t.id, Action.START, TransitionIn()))
    with pytest.raises(InvalidArgument, match="resolution"):
        await run(
            world.as_op(agent), lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn())
        )
    t = await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="已答复")),
    )
    assert t.state == TicketState.RESOLVED and t.first_responded_at is not None and t.next_due_at is None
    clock.advance(days=2)
    t = await run(
        world.as_user(u),
        lambda uow: service.transition(uow, t.id, Action.REOPEN, TransitionIn(note="还有问题")),
    )
    assert t.state == TicketState.IN_PROGRESS and t.reopened_count == 1
    # the final reply restarts from the reopening: Wed 11-04 10:00 + 3 WD = end of Mon 11-09
    assert t.final_due == end_of_business_day(date(2026, 11, 9))
    await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="ok")),
    )
    clock.advance(days=8)
    with pytest.raises(RuleViolation, match="within 7 days"):
        await run(world.as_user(u), lambda uow: service.transition(uow, t.id, Action.REOPEN, TransitionIn()))
    t = await run(world.as_user(u), lambda uow: service.transition(uow, t.id, Action.CLOSE, TransitionIn()))
    assert t.state == TicketState.CLOSED
    with pytest.raises(Conflict):
        await run(
            world.as_op(agent), lambda uow: service.transition(uow, t.id, Action.CANCEL, TransitionIn())
        )
    with pytest.raises(Conflict):
        await run(world.as_user(u), lambda uow: service.add_comment(uow, t.id, CommentIn(body="?")))
    actions = await audit_actions(container, ("ticket", t.id))
    assert actions == [
        "ticket.created",
        "ticket.start",
        "ticket.resolve",
        "ticket.reopen",
        "ticket.resolve",
        "ticket.close",
    ]


async def test_r_cs_04_calendar_override_moves_a_new_tickets_deadline(world: Any, run: Any) -> None:
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    admin = await world.operator("admin", ["admin"])
    t1 = await run(world.as_op(agent), lambda uow: service.create_ticket(uow, consult(partner_id=p.id)))
    assert t1.first_response_due == end_of_business_day(date(2026, 11, 3))
    with pytest.raises(PermissionDenied):
        await run(world.as_op(agent), lambda uow: calendar_admin.set_override(uow, date(2026, 11, 3), False))
    await run(
        world.as_op(admin), lambda uow: calendar_admin.set_override(uow, date(2026, 11, 3), False, "临时放假")
    )
    t2 = await run(world.as_op(agent), lambda uow: service.create_ticket(uow, consult(partner_id=p.id)))
    assert t2.first_response_due == end_of_business_day(date(2026, 11, 4))
    assert t2.final_due == end_of_business_day(date(2026, 11, 6))
    # tickets keep the deadline computed at receipt
    t1 = await run(world.as_op(agent), lambda uow: service.get_ticket(uow, t1.id))
    assert t1.first_response_due == end_of_business_day(date(2026, 11, 3))


async def test_r_cs_04_calendar_status_and_year_confirmation(world: Any, run: Any) -> None:
    admin = await world.operator("admin", ["admin"])
    st = await run(world.as_op(admin), lambda uow: calendar_admin.calendar_status(uow, 2026))
    assert st.confirmed and st.source == "settings"
    assert date(2026, 10, 10) in st.make_up_days
    st = await run(world.as_op(admin), lambda uow: calendar_admin.calendar_status(uow, 2027))
    assert not st.confirmed and st.source == "none"
    await run(
        world.as_op(admin), lambda uow: calendar_admin.set_year_confirmed(uow, 2027, True, "国办发明电")
    )
    st = await run(world.as_op(admin), lambda uow: calendar_admin.calendar_status(uow, 2027))
    assert st.confirmed and st.source == "operator"


async def test_sla_pause_is_off_by_default(world: Any, run: Any, clock: FrozenClock) -> None:
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, consult()))
    due = t.final_due
    t = await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, t.id, Action.PEND, TransitionIn(note="请补充账号")),
    )
    assert t.paused_since is None and t.next_due_at is not None
    clock.advance(days=2)
    await run(world.as_user(u), lambda uow: service.add_comment(uow, t.id, CommentIn(body="账号是 abc")))
    t = await run(world.as_op(agent), lambda uow: service.get_ticket(uow, t.id))
    assert t.state == TicketState.IN_PROGRESS and t.final_due == due


async def test_sla_pause_while_pending_when_enabled(
    world: Any, run: Any, clock: FrozenClock, container: Container
) -> None:
    container.settings.sla_pause_while_pending = True
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, consult()))
    assert t.final_due == end_of_business_day(date(2026, 11, 5))
    await run(world.as_op(agent), lambda uow: service.add_comment(uow, t.id, CommentIn(body="请提供账号")))
    t = await run(world.as_op(agent), lambda uow: service.transition(uow, t.id, Action.PEND, TransitionIn()))
    assert t.paused_since == clock.now() and t.next_due_at is None
    # paused Mon 11-02 10:00 .. Wed 11-04 09:00 covers 2 working days (11-03, 11-04): Thu 11-05 -> Mon 11-09
    clock.advance(hours=47)
    await run(world.as_user(u), lambda uow: service.add_comment(uow, t.id, CommentIn(body="账号是 abc")))
    t = await run(world.as_op(agent), lambda uow: service.get_ticket(uow, t.id))
    assert t.paused_since is None and t.state == TicketState.IN_PROGRESS
    assert t.final_due == end_of_business_day(date(2026, 11, 9))
    assert t.next_due_at == t.final_due


async def test_r_cs_01_billing_error_references_the_partners_own_charges(world: Any, run: Any) -> None:
    agent = await world.operator("agent", ["service_agent"])
    p, other = await world.partner(owner_id=agent.id), await world.partner()
    u = await world.user(p)
    mine = await world.cdr(p, amount="0.0500", quantity=2)
    theirs = await world.cdr(other)
    bill = {"type": "fault_complaint", "subtype": "billing_error", "subject": "多扣费"}
    with pytest.raises(InvalidArgument, match="reference the charges"):
        await run(world.as_user(u), lambda uow: service.create_ticket(uow, CreateTicket.model_validate(bill)))
    with pytest.raises(InvalidArgument, match="unknown call ids") as ei:
        await run(
            world.as_user(u),
            lambda uow: service.create_ticket(
                uow, CreateTicket.model_validate(bill | {"related_call_ids": [mine, theirs]})
            ),
        )
    assert ei.value.code == "UNKNOWN_CALL_IDS"
    t = await run(
        world.as_user(u),
        lambda uow: service.create_ticket(
            uow, CreateTicket.model_validate(bill | {"related_call_ids": [mine], "related_month": "2026-11"})
        ),
    )
    assert t.final_due - t.received_at == timedelta(hours=24)

    async def calls(uow: Any) -> list[Any]:
        return await service.related_calls(uow, await service.get_ticket(uow, t.id))

    rows = await run(world.as_op(agent), calls)
    assert [(r.id, str(r.amount), r.quantity) for r in rows] == [(mine, "0.0500", 2)]


# ---------------------------------------------------------------- business requests (catalog.service)


async def test_business_request_opening_resolve_places_an_order_through_catalog(
    world: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openability.catalog import service as catalog

    calls: list[tuple[str, str]] = []

    class FakeOrder:
        id = "ord_fake"

        class state:  # mimics the enum attribute
            value = "completed"

    async def fake_place(uow: Any, partner_id: str, product_ref: str, note: str = "") -> Any:
        calls.append((partner_id, product_ref))
        return FakeOrder()

    monkeypatch.setattr(catalog, "place_order", fake_place)
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    req = CreateTicket.model_validate(
        {"type": "business_request", "subtype": "opening", "subject": "开通短信"}
    )
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, req))
    with pytest.raises(InvalidArgument, match="product"):
        await run(
            world.as_op(agent),
            lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="开通")),
        )
    t = await run(
        world.as_op(agent),
        lambda uow: service.transition(
            uow, t.id, Action.RESOLVE, TransitionIn(resolution="已开通", product_ref="sms-standard")
        ),
    )
    assert calls == [(p.id, "sms-standard")]
    assert t.related_order_id == "ord_fake" and "ord_fake" in t.action_result
    # reopened and resolved again: the order is not placed twice
    await run(world.as_user(u), lambda uow: service.transition(uow, t.id, Action.REOPEN, TransitionIn()))
    await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="再确认")),
    )
    assert len(calls) == 1


async def test_business_request_real_path_opening_then_cancellation(
    world: Any, run: Any, container: Container
) -> None:
    """Through the real catalog.service: the order exists and is completed, then cancelled."""
    from openability.catalog.models import ProductOrder
    from openability.catalog.seed import seed_catalog
    from openability.catalog.types import OrderState

    async with container.uow(SYSTEM) as uow:
        await seed_catalog(uow)
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    opening = CreateTicket.model_validate(
        {
            "type": "business_request",
            "subtype": "opening",
            "subject": "开通短信",
            "related_product_ref": "sms-standard",
        }
    )
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, opening))
    t = await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="已开通")),
    )
    async with container.uow() as uow:
        order = await uow.session.get(ProductOrder, t.related_order_id)
        assert (
            order is not None
            and order.partner_id == p.id
            and order.state == OrderState.COMPLETED
            and order.active
        )
    cancel = CreateTicket.model_validate(
        {
            "type": "business_request",
            "subtype": "cancellation",
            "subject": "取消短信",
            "related_order_id": order.id,
        }
    )
    t2 = await run(world.as_user(u), lambda uow: service.create_ticket(uow, cancel))
    t2 = await run(
        world.as_op(agent),
        lambda uow: service.transition(uow, t2.id, Action.RESOLVE, TransitionIn(resolution="已取消")),
    )
    async with container.uow() as uow:
        order = await uow.session.get(ProductOrder, order.id)
        assert order is not None and order.state == OrderState.CANCELLED and not order.active
    assert "cancelled" in t2.action_result
    # a failing action leaves the ticket unresolved (one transaction)
    t3 = await run(
        world.as_user(u),
        lambda uow: service.create_ticket(uow, opening.model_copy(update={"related_product_ref": "nope"})),
    )
    with pytest.raises(NotFound):
        await run(
            world.as_op(agent),
            lambda uow: service.transition(uow, t3.id, Action.RESOLVE, TransitionIn(resolution="x")),
        )
    t3 = await run(world.as_op(agent), lambda uow: service.get_ticket(uow, t3.id))
    assert t3.state == TicketState.ACKNOWLEDGED and t3.action_result == ""


async def test_business_request_cancellation_of_another_partners_order_is_refused(
    world: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openability.catalog import service as catalog

    async def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("must not be called")

    monkeypatch.setattr(catalog, "cancel_order", boom)
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    req = CreateTicket.model_validate(
        {"type": "business_request", "subtype": "cancellation", "subject": "取消"}
    )
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, req))
    with pytest.raises(InvalidArgument, match="not an order of this partner"):
        await run(
            world.as_op(agent),
            lambda uow: service.transition(
                uow, t.id, Action.RESOLVE, TransitionIn(resolution="x", order_id="ord_other")
            ),
        )


async def test_business_request_change_records_the_outcome(world: Any, run: Any) -> None:
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    req = CreateTicket.model_validate(
        {"type": "business_request", "subtype": "change", "subject": "变更签名"}
    )
    t = await run(
        world.as_op(agent),
        lambda uow: service.create_ticket(uow, req.model_copy(update={"partner_id": p.id})),
    )
    t = await run(
        world.as_op(agent),
        lambda uow: service.transition(
            uow, t.id, Action.RESOLVE, TransitionIn(resolution="签名已更新为【示例】")
        ),
    )
    assert t.action_result.startswith("recorded outcome (change)") and "示例" in t.action_result


async def test_business_request_exit_exits_the_partner_through_the_partners_service(
    world: Any, run: Any, container: Container
) -> None:
    from openability.partners.types import PartnerStatus

    agent = await world.operator("agent", ["service_agent"])
    lead = await world.operator("lead", ["service_lead", "service_agent", "reviewer"])
    p = await world.partner(owner_id=agent.id)
    u = await world.user(p)
    req = CreateTicket.model_validate(
        {"type": "business_request", "subtype": "exit", "subject": "申请退出合作"}
    )
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, req))
    # an agent without the reviewer's authority cannot perform an exit: the ticket stays open
    with pytest.raises(PermissionDenied):
        await run(
            world.as_op(agent),
            lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="同意退出")),
        )
    async with container.uow() as uow:
        assert (await uow.session.get(Partner, p.id)).status == PartnerStatus.ACTIVE  # type: ignore[union-attr]
    t = await run(
        world.as_op(lead),
        lambda uow: service.transition(uow, t.id, Action.RESOLVE, TransitionIn(resolution="同意退出")),
    )
    assert t.state == TicketState.RESOLVED and t.action_result == f"partner {p.id} exited"
    async with container.uow() as uow:
        partner = await uow.session.get(Partner, p.id)
        assert partner is not None and partner.status == PartnerStatus.EXITED
        audit = (
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.entity_id == p.id, AuditEntry.actor_id == lead.id)
            )
        ).all()
    assert audit, "the exit is audited as the resolving operator's action"


async def test_attachments_stored_and_only_visible_to_the_partner_and_operators(
    world: Any, run: Any, container: Container
) -> None:
    agent = await world.operator("agent", ["service_agent"])
    p, other = await world.partner(owner_id=agent.id), await world.partner()
    u, ou = await world.user(p), await world.user(other)
    t = await run(world.as_user(u), lambda uow: service.create_ticket(uow, consult()))
    a = await run(
        world.as_user(u),
        lambda uow: attachments.add_attachment(uow, t.id, "../截图.png", "image/png", b"\x89PNG..."),
    )
    assert a.filename == "截图.png" and a.size == 7
    assert (container.settings.data_dir / "attachments" / a.storage_key).read_bytes() == b"\x89PNG..."
    meta, data = await run(world.as_op(agent), lambda uow: attachments.read_attachment(uow, t.id, a.id))
    assert data == b"\x89PNG..." and meta.content_type == "image/png"
    with pytest.raises(NotFound):
        await run(world.as_user(ou), lambda uow: attachments.read_attachment(uow, t.id, a.id))
    with pytest.raises(InvalidArgument) as ei:
        await run(
            world.as_user(u),
            lambda uow: attachments.add_attachment(uow, t.id, "x.exe", "application/x-msdownload", b"MZ"),
        )
    assert ei.value.code == "ATTACHMENT_TYPE"
    big = b"0" * (attachments.MAX_ATTACHMENT_BYTES + 1)
    with pytest.raises(InvalidArgument) as ei:
        await run(
            world.as_user(u), lambda uow: attachments.add_attachment(uow, t.id, "big.txt", "text/plain", big)
        )
    assert ei.value.code == "ATTACHMENT_TOO_LARGE"


async def test_sla_policies_are_versioned_data(world: Any, run: Any, container: Container) -> None:
    from openability.tickets.schemas import PolicySetIn

    admin = await world.operator("admin", ["admin"])
    agent = await world.operator("agent", ["service_agent"])
    p = await world.partner(owner_id=agent.id)
    version, rows = await run(world.as_op(admin), sla.current_policies)
    assert version == 0 and len(rows) == 9
    items = [sla.policy_dict(r) for r in rows]
    for it in items:
        if it["type"] == "consultation" and it["importance"] == "general":
            it["final_amount"] = 2
    with pytest.raises(PermissionDenied):
        await run(world.as_op(agent), lambda uow: sla.put_policies(uow, PolicySetIn(items=items)))
    with pytest.raises(InvalidArgument, match="no SLA policy"):
        await run(world.as_op(admin), lambda uow: sla.put_policies(uow, PolicySetIn(items=items[1:])))
    version, _ = await run(
        world.as_op(admin), lambda uow: sla.put_policies(uow, PolicySetIn(items=items, note="提速"))
    )
    assert version == 1
    t = await run(world.as_op(agent), lambda uow: service.create_ticket(uow, consult(partner_id=p.id)))
    assert t.policy_version == 1 and t.final_due == end_of_business_day(date(2026, 11, 4))
    assert await audit_actions(container, ("sla_policy", "1")) == ["sla_policy.replaced"]
