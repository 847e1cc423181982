"""Email delivery of the outbox against a local SMTP server: sent once with the right headers and
UTF-8 text, retried with back-off when the server refuses or is down, given up after the last attempt,
skipped without an address, one sender per notice when two runs overlap, no password in any log.
(No rule ID covers delivery itself.)"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from notify_support import MailServer, World, free_port, refuse_login, start_server
from pydantic import SecretStr
from sqlalchemy import select

from openability.bootstrap import Container
from openability.jobs.scheduler import run_job
from openability.jobs_catalog import all_jobs
from openability.kernel.clock import FrozenClock
from openability.kernel.notify import EmailState, Notification, notify
from openability.notifications import service
from openability.notifications.delivery import deliver_due
from openability.notifications.models import DeliveryAttempt
from openability.notifications.types import Outcome
from openability.tickets import service as tickets
from openability.tickets.rules import Subtype, TicketType
from openability.tickets.schemas import CreateTicket


async def queue(
    container: Container, recipient: tuple[str, str], subject: str = "账单已出", body: str = "请查看"
) -> str:
    async with container.uow() as uow:
        n = await notify(uow, recipient=recipient, kind="test", subject=subject, body=body)
        assert n is not None
        return n.id


async def row(container: Container, nid: str) -> Notification:
    async with container.uow() as uow:
        n = await uow.session.get(Notification, nid)
        assert n is not None
        return n


async def attempts_log(container: Container, nid: str) -> list[DeliveryAttempt]:
    async with container.uow() as uow:
        rows = await uow.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.notification_id == nid)
            .order_by(DeliveryAttempt.attempt)
        )
        return list(rows.all())


async def test_a_ticket_assignment_is_emailed_once_in_utf8(
    container: Container, world: World, smtp_server: MailServer, clock: FrozenClock
) -> None:
    agent = await world.operator("agent", ["service_agent"], email="agent@example.com")
    p = await world.partner("甲科技", owner_id=agent.id)
    u = await world.user(p)
    async with container.uow(world.as_user(u)) as uow:
        t = await tickets.create_ticket(
            uow,
            CreateTicket(type=TicketType.CONSULTATION, subtype=Subtype.TARIFFS, subject="资费咨询：短信单价"),
        )
    async with container.uow() as uow:
        n = await uow.session.scalar(select(Notification).where(Notification.kind == "ticket-assigned"))
        assert n is not None and n.recipient_id == agent.id and n.email_state == EmailState.PENDING
        nid, subject, body = n.id, n.subject, n.body
    assert subject == f"新工单 {t.id}: 资费咨询：短信单价"

    result = await run_job(container, all_jobs()["notifications-delivery"])
    assert result == "sent 1, retry 0, failed 0, skipped 0"

    assert len(smtp_server.received) == 1
    got = smtp_server.received[0]
    assert got.rcpt_tos == ["agent@example.com"]
    assert got.mail_from == "noreply@openability.test"
    raw_headers = got.raw.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii() and b"=?utf-8?" in raw_headers  # RFC 2047 encoded words, not raw UTF-8
    msg = got.message
    assert msg["To"] == "agent@example.com"
    assert msg["Subject"] == subject
    assert msg["Message-ID"] == f"<{nid}@openability.test>"
    assert msg.get_content_charset() == "utf-8"
    text = msg.get_content()
    assert text.startswith(body + "\n")
    assert "https://console.openability.test/console/ops/notifications" in text
    assert "请勿直接回复" in text

    n = await row(container, nid)
    assert n.email_state == EmailState.SENT and n.sent_at == clock.now() and n.attempts == 1
    assert n.next_attempt_at is None and n.claimed_by is None
    log = await attempts_log(container, nid)
    assert [(a.outcome, a.attempt, a.recipient, a.error) for a in log] == [
        (Outcome.SENT, 1, "agent@example.com", "")
    ]

    clock.advance(hours=1)
    assert (await deliver_due(container)).text() == "sent 0, retry 0, failed 0, skipped 0"
    assert len(smtp_server.received) == 1


async def test_a_partner_notice_goes_to_its_contact_email(
    container: Container, world: World, smtp_server: MailServer
) -> None:
    p = await world.partner(email="ops@partner.example")
    nid = await queue(
        container, ("partner", p.id), "对账单已生成", "2026年11月对账单已生成，请在10日前确认。"
    )
    assert (await deliver_due(container)).sent == 1
    msg = smtp_server.received[0].message
    assert msg["To"] == "ops@partner.example" and msg["Subject"] == "对账单已生成"
    assert "2026年11月对账单已生成，请在10日前确认。" in msg.get_content()
    assert "/console/portal/notifications" in msg.get_content()
    assert (await row(container, nid)).email_state == EmailState.SENT


async def test_a_refusing_server_is_retried_with_backoff_then_given_up(
    container: Container, world: World, smtp_server: MailServer, clock: FrozenClock
) -> None:
    op = await world.operator("clerk", ["billing_clerk"], email="clerk@example.com")
    nid = await queue(container, ("operator", op.id))
    smtp_server.refuse = "451 4.3.0 mailbox busy, try later"
    start = clock.now()

    r = await deliver_due(container)
    assert (r.sent, r.retry, r.failed) == (0, 1, 0)
    n = await row(container, nid)
    assert n.email_state == EmailState.PENDING and n.attempts == 1
    assert n.next_attempt_at == start + timedelta(seconds=60)
    assert "451" in n.last_error and "mailbox busy" in n.last_error

    clock.advance(seconds=59)  # not due yet
    assert (await deliver_due(container)).retry == 0 and (await row(container, nid)).attempts == 1

    clock.advance(seconds=1)  # attempt 2, then twice the wait
    assert (await deliver_due(container)).retry == 1
    n = await row(container, nid)
    assert n.attempts == 2 and n.next_attempt_at == clock.now() + timedelta(seconds=120)

    clock.advance(seconds=120)  # attempt 3 of 3: given up
    assert (await deliver_due(container)).failed == 1
    n = await row(container, nid)
    assert n.email_state == EmailState.FAILED and n.attempts == 3 and n.next_attempt_at is None

    clock.advance(days=2)
    smtp_server.refuse = None
    assert (await deliver_due(container)).text() == "sent 0, retry 0, failed 0, skipped 0"
    assert smtp_server.received == [] and (await row(container, nid)).attempts == 3
    log = await attempts_log(container, nid)
    assert [(a.attempt, a.outcome) for a in log] == [
        (1, Outcome.RETRY),
        (2, Outcome.RETRY),
        (3, Outcome.FAILED),
    ]
    assert all("451" in a.error and a.recipient == "clerk@example.com" for a in log)


async def test_a_server_that_is_down_is_retried_and_the_notice_goes_out_once_it_is_up(
    container: Container, world: World, clock: FrozenClock
) -> None:
    op = await world.operator("lead", ["service_lead"], email="lead@example.com")
    down = free_port()
    container.settings = container.settings.model_copy(update={"smtp_port": down})
    nid = await queue(container, ("operator", op.id))
    other = await queue(container, ("operator", op.id))

    r = await deliver_due(container)
    assert (r.sent, r.retry) == (0, 2)
    n = await row(container, nid)
    assert n.email_state == EmailState.PENDING and n.attempts == 1 and "Connect" in n.last_error

    server = MailServer(down)
    ctl = start_server(server)
    try:
        clock.advance(seconds=60)
        assert (await deliver_due(container)).sent == 2
    finally:
        ctl.stop()
    assert sorted(m.message["X-Openability-Notification"] for m in server.received) == sorted([nid, other])
    assert [a.outcome for a in await attempts_log(container, nid)] == [Outcome.RETRY, Outcome.SENT]


async def test_a_recipient_without_an_email_is_skipped_and_not_retried(
    container: Container, world: World, smtp_server: MailServer, clock: FrozenClock
) -> None:
    op = await world.operator("noemail", ["service_agent"])
    gone = await world.operator("gone", ["service_agent"], email="gone@example.com", active=False)
    p = await world.partner(email="not an address")
    ids = [await queue(container, ("operator", x)) for x in (op.id, gone.id)]
    ids.append(await queue(container, ("partner", p.id)))

    r = await deliver_due(container)
    assert (r.sent, r.retry, r.skipped) == (0, 0, 3)
    for nid in ids:
        n = await row(container, nid)
        assert n.email_state == EmailState.SKIPPED and n.next_attempt_at is None
    clock.advance(days=1)
    assert (await deliver_due(container)).skipped == 0
    log = await attempts_log(container, ids[0])
    assert [(a.outcome, a.recipient) for a in log] == [(Outcome.SKIPPED, f"operator:{op.id}")]
    assert "no email address" in log[0].error
    assert (await attempts_log(container, ids[2]))[0].error.startswith("not a usable email address")
    assert smtp_server.received == []


async def test_two_delivery_runs_at_once_send_each_notice_once(
    container: Container, world: World, smtp_server: MailServer
) -> None:
    ops = [await world.operator(f"op{i}", ["service_agent"], email=f"op{i}@example.com") for i in range(4)]
    ids = [await queue(container, ("operator", ops[i % 4].id), f"通知 {i}") for i in range(12)]
    container.settings = container.settings.model_copy(update={"notify_batch_size": 5})

    a, b = await asyncio.gather(deliver_due(container), deliver_due(container))

    assert a.sent + b.sent == 12 and a.retry + b.retry == 0
    sent_ids = [m.message["X-Openability-Notification"] for m in smtp_server.received]
    assert sorted(sent_ids) == sorted(ids)  # each exactly once
    async with container.uow() as uow:
        log = (await uow.session.scalars(select(DeliveryAttempt))).all()
    assert len(log) == 12 and {x.outcome for x in log} == {Outcome.SENT}


async def test_a_claim_whose_sender_died_is_taken_over_after_its_lease(
    container: Container, world: World, smtp_server: MailServer, clock: FrozenClock
) -> None:
    op = await world.operator("agent", ["service_agent"], email="agent@example.com")
    nid = await queue(container, ("operator", op.id))
    lease = timedelta(seconds=container.settings.notify_lease_seconds)
    async with container.uow() as uow:  # a sender claims it, then dies before sending
        [dead] = await service.claim_due(uow, "dead-sender", limit=10, lease=lease)
    assert (await deliver_due(container)).sent == 0  # the claim still holds

    clock.advance(lease)
    assert (await deliver_due(container)).sent == 1
    n = await row(container, nid)
    assert n.email_state == EmailState.SENT and n.attempts == 2
    # the dead sender's late word changes nothing
    from openability.notifications.types import AttemptResult

    async with container.uow() as uow:
        assert not await service.record_attempt(
            uow, "dead-sender", dead, AttemptResult(Outcome.RETRY, "late")
        )
    assert (await row(container, nid)).email_state == EmailState.SENT
    assert len(smtp_server.received) == 1


async def test_the_smtp_password_is_in_no_log(
    container: Container, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    password = "s3cret-Pa55word"
    server = MailServer(free_port())
    ctl = start_server(server, authenticator=refuse_login("again"), auth_require_tls=False)
    container.settings = container.settings.model_copy(
        update={"smtp_port": server.port, "smtp_username": "mailer", "smtp_password": SecretStr(password)}
    )
    assert password not in repr(container.settings)
    op = await world.operator("agent", ["service_agent"], email="agent@example.com")
    nid = await queue(container, ("operator", op.id))
    try:
        with caplog.at_level(logging.DEBUG):
            r = await deliver_due(container)
    finally:
        ctl.stop()
    assert r.retry == 1
    n = await row(container, nid)
    [attempt] = await attempts_log(container, nid)
    assert "535" in attempt.error and "***" in attempt.error  # the server echoed it: masked
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("openability")]
    assert any("SMTPAuthenticationError" in line for line in ours)  # the failure is logged, masked
    for text in (n.last_error, attempt.error, *ours):
        assert password not in text


async def test_with_email_off_the_job_sends_nothing(
    container: Container, world: World, smtp_server: MailServer
) -> None:
    container.settings = container.settings.model_copy(update={"smtp_enabled": False})
    op = await world.operator("agent", ["service_agent"], email="agent@example.com")
    nid = await queue(container, ("operator", op.id))
    assert (await deliver_due(container)).text().startswith("email delivery is off")
    assert smtp_server.received == [] and (await row(container, nid)).email_state == EmailState.PENDING
