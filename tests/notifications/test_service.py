"""Service-level pieces: recipients' addresses come from the partners domain, only operators and
partner users have an inbox, the delivery job is registered and runs from the scheduler."""

from __future__ import annotations

import pytest
from notify_support import MailServer, World

from openability.bootstrap import Container
from openability.jobs.scheduler import tick
from openability.jobs_catalog import all_jobs
from openability.kernel.errors import PermissionDenied
from openability.kernel.notify import notify
from openability.kernel.uow import Actor
from openability.notifications import service
from openability.partners import service as partners


async def test_recipient_email_comes_from_the_partner_contact_or_the_operator(
    container: Container, world: World
) -> None:
    p = await world.partner(email=" ops@partner.example ")
    bare = await world.partner()
    op = await world.operator("agent", ["service_agent"], email="agent@example.com")
    gone = await world.operator("gone", ["service_agent"], email="gone@example.com", active=False)
    async with container.uow() as uow:
        assert await partners.recipient_email(uow, "partner", p.id) == "ops@partner.example"
        assert await partners.recipient_email(uow, "partner", bare.id) is None
        assert await partners.recipient_email(uow, "operator", op.id) == "agent@example.com"
        assert await partners.recipient_email(uow, "operator", gone.id) is None
        assert await partners.recipient_email(uow, "operator", "opr_unknown") is None
        assert await partners.recipient_email(uow, "robot", op.id) is None


@pytest.mark.parametrize(
    "actor",
    [
        Actor(type="api_client", id="cli_x", partner_id="prt_x"),
        Actor(type="system", id="system", roles=frozenset({"admin"})),
    ],
)
async def test_only_operators_and_partner_users_have_an_inbox(container: Container, actor: Actor) -> None:
    async with container.uow(actor) as uow:
        with pytest.raises(PermissionDenied):
            await service.inbox(uow)


async def test_the_delivery_job_is_registered_and_runs_every_tick(
    container: Container, world: World, smtp_server: MailServer
) -> None:
    job = all_jobs()["notifications-delivery"]
    assert job.record is False  # claims are per notice: no job_runs row per tick
    op = await world.operator("agent", ["service_agent"], email="agent@example.com")
    async with container.uow() as uow:
        await notify(uow, recipient=("operator", op.id), kind="test", subject="一", body="一")
    out = await tick(container, {job.name: job})
    assert out == {"notifications-delivery": "sent 1, retry 0, failed 0, skipped 0"}
    async with container.uow() as uow:
        await notify(uow, recipient=("operator", op.id), kind="test", subject="二", body="二")
    out = await tick(container, {job.name: job})  # same second: runs again all the same
    assert out == {"notifications-delivery": "sent 1, retry 0, failed 0, skipped 0"}
    assert [m.message["Subject"] for m in smtp_server.received] == ["一", "二"]


def test_implicit_tls_and_starttls_exclude_each_other() -> None:
    from pydantic import ValidationError

    from openability.config import Settings

    with pytest.raises(ValidationError, match="exclude each other"):
        Settings(smtp_ssl=True, smtp_starttls=True, _env_file=None)  # type: ignore[call-arg]
    assert Settings(smtp_starttls=True, _env_file=None).smtp_starttls  # type: ignore[call-arg]
