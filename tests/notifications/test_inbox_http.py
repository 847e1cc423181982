"""The inbox over HTTP and in the console: a partner user sees its partner's notices only (another's
id is NOT_FOUND), an operator its own; unread filter, paging newest first, read and read-all; the
delivery log for operators; console pages with CSRF-checked forms and the header's unread badge."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx
import pytest
from notify_support import MailServer, World

from openability.bootstrap import Container
from openability.kernel.clock import FrozenClock
from openability.kernel.notify import notify
from openability.notifications.delivery import deliver_due

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Ctx:
    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}

    def cookie(self, who: str) -> dict[str, str]:
        return {"cookie": f"oa_session={self.tokens[who]}"}


async def queue(container: Container, recipient: tuple[str, str], subject: str) -> str:
    async with container.uow() as uow:
        n = await notify(uow, recipient=recipient, kind="test", subject=subject, body=f"{subject}：正文")
        assert n is not None
        return n.id


@pytest.fixture
async def ctx(app_client: httpx.AsyncClient, world: World) -> Ctx:
    c = Ctx(app_client)
    agent = await world.operator("agent", ["service_agent"], email="agent@example.com")
    other_op = await world.operator("clerk", ["billing_clerk"])
    p = await world.partner("甲科技", email="a@partner.example")
    q = await world.partner("乙科技")
    u, u2, v = await world.user(p), await world.user(p), await world.user(q)
    c.tokens = {
        "agent": await world.token("operator", agent.id),
        "clerk": await world.token("operator", other_op.id),
        "p": await world.token("partner_user", u.id, p.id),
        "p2": await world.token("partner_user", u2.id, p.id),
        "q": await world.token("partner_user", v.id, q.id),
    }
    c.ids = {"agent": agent.id, "clerk": other_op.id, "p": p.id, "q": q.id}
    return c


async def test_a_partner_sees_its_own_notices_newest_first_and_no_one_elses(
    ctx: Ctx, container: Container, clock: FrozenClock
) -> None:
    mine = []
    for i in range(3):
        mine.append(await queue(container, ("partner", ctx.ids["p"]), f"通知{i}"))
        clock.advance(minutes=1)
    theirs = await queue(container, ("partner", ctx.ids["q"]), "乙的通知")
    ops = await queue(container, ("operator", ctx.ids["agent"]), "坐席通知")
    c = ctx.client

    r = await c.get("/api/v1/notifications", headers=ctx.h("p"))
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3 and [n["id"] for n in body["items"]] == mine[::-1]
    assert body["items"][0] | {"createdAt": None} == {
        "id": mine[2],
        "createdAt": None,
        "kind": "test",
        "subject": "通知2",
        "body": "通知2：正文",
        "unread": True,
        "readAt": None,
        "emailState": "pending",
        "sentAt": None,
    }
    r = await c.get("/api/v1/notifications", params={"offset": 1, "limit": 1}, headers=ctx.h("p"))
    assert [n["id"] for n in r.json()["items"]] == [mine[1]] and r.json()["total"] == 3

    # another partner's notice, or an operator's: NOT_FOUND, and left unread
    for nid in (theirs, ops):
        r = await c.post(f"/api/v1/notifications/{nid}/read", headers=ctx.h("p"))
        assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    r = await c.get("/api/v1/notifications", headers=ctx.h("q"))
    assert [n["id"] for n in r.json()["items"]] == [theirs] and r.json()["items"][0]["unread"] is True
    r = await c.get("/api/v1/notifications", headers=ctx.h("agent"))
    assert [n["id"] for n in r.json()["items"]] == [ops]
    r = await c.get("/api/v1/notifications", headers=ctx.h("clerk"))
    assert r.json()["total"] == 0


async def test_read_one_read_all_and_the_unread_filter(ctx: Ctx, container: Container) -> None:
    ids = [await queue(container, ("partner", ctx.ids["p"]), f"通知{i}") for i in range(3)]
    c = ctx.client
    r = await c.get("/api/v1/notifications/unread-count", headers=ctx.h("p"))
    assert r.json() == {"unread": 3}

    r = await c.post(f"/api/v1/notifications/{ids[0]}/read", headers=ctx.h("p"))
    assert r.status_code == 200 and r.json()["unread"] is False and r.json()["readAt"]
    # the partner's notices are the partner's: another user of it sees it read too
    r = await c.get("/api/v1/notifications", params={"unread": "true"}, headers=ctx.h("p2"))
    assert sorted(n["id"] for n in r.json()["items"]) == sorted(ids[1:])
    r = await c.get("/api/v1/notifications", params={"unread": "false"}, headers=ctx.h("p2"))
    assert [n["id"] for n in r.json()["items"]] == [ids[0]]
    r = await c.post(f"/api/v1/notifications/{ids[0]}/read", headers=ctx.h("p2"))
    assert r.status_code == 200  # again: no change, no error

    r = await c.post("/api/v1/notifications/read-all", headers=ctx.h("p"))
    assert r.json() == {"marked": 2}
    r = await c.get("/api/v1/notifications/unread-count", headers=ctx.h("p"))
    assert r.json() == {"unread": 0}
    r = await c.post("/api/v1/notifications/read-all", headers=ctx.h("p"))
    assert r.json() == {"marked": 0}


async def test_bad_inbox_requests_are_4xx(ctx: Ctx) -> None:
    c = ctx.client
    assert (await c.get("/api/v1/notifications")).status_code == 401
    r = await c.get("/api/v1/notifications", params={"limit": 0}, headers=ctx.h("p"))
    assert r.status_code == 400 and r.json()["status"] == 400
    r = await c.get("/api/v1/notifications", params={"unread": "maybe"}, headers=ctx.h("p"))
    assert r.status_code == 400
    r = await c.post("/api/v1/notifications/ntf_nope/read", headers=ctx.h("agent"))
    assert r.status_code == 404


async def test_operators_read_the_delivery_log_partners_may_not(
    ctx: Ctx, container: Container, smtp_server: MailServer
) -> None:
    sent = await queue(container, ("operator", ctx.ids["agent"]), "坐席通知")
    skipped = await queue(container, ("operator", ctx.ids["clerk"]), "无邮箱")
    report = await deliver_due(container)
    assert (report.sent, report.skipped) == (1, 1)
    c = ctx.client
    r = await c.get("/api/v1/notification-deliveries", headers=ctx.h("clerk"))
    assert r.status_code == 200 and r.json()["total"] == 2
    by_id = {d["notificationId"]: d for d in r.json()["items"]}
    assert by_id[sent]["outcome"] == "sent" and by_id[sent]["recipient"] == "agent@example.com"
    assert by_id[sent]["channel"] == "email" and by_id[sent]["attempt"] == 1
    assert by_id[skipped]["outcome"] == "skipped" and "no email address" in by_id[skipped]["error"]
    r = await c.get("/api/v1/notification-deliveries", params={"outcome": "sent"}, headers=ctx.h("clerk"))
    assert [d["notificationId"] for d in r.json()["items"]] == [sent]
    r = await c.get(
        "/api/v1/notification-deliveries", params={"notification_id": skipped}, headers=ctx.h("clerk")
    )
    assert [d["outcome"] for d in r.json()["items"]] == ["skipped"]
    r = await c.get("/api/v1/notification-deliveries", params={"outcome": "lost"}, headers=ctx.h("clerk"))
    assert r.status_code == 400
    r = await c.get("/api/v1/notification-deliveries", headers=ctx.h("p"))
    assert r.status_code == 403


def token_of(html: str) -> str:
    m = CSRF_FIELD.search(html)
    assert m, "no csrf field on the page"
    return m.group(1)


async def test_console_inbox_renders_and_marks_read(ctx: Ctx, container: Container) -> None:
    first = await queue(container, ("partner", ctx.ids["p"]), "对账单已生成")
    await queue(container, ("partner", ctx.ids["p"]), "充值已到账")
    await queue(container, ("partner", ctx.ids["q"]), "乙的秘密")
    c = ctx.client

    r = await c.get("/console/portal/notifications")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    r = await c.get("/console/portal/notifications", headers=ctx.cookie("p"))
    assert r.status_code == 200
    html = r.text
    assert "通知" in html and "对账单已生成" in html and "充值已到账" in html and "乙的秘密" not in html
    assert f'action="/console/portal/notifications/{first}/read"' in html
    assert 'id="unread-total">(未读 2)' in html
    r = await c.get("/console/portal/notifications?lang=en", headers=ctx.cookie("p"))
    assert "Mark all read" in r.text and "Notifications" in r.text

    # the header's badge
    r = await c.get("/console/notifications/badge", headers=ctx.cookie("p"))
    assert 'id="unread-badge"' in r.text and ">2<" in r.text
    assert 'hx-get="/console/notifications/badge"' in html

    # a post without the session's CSRF token is refused and changes nothing
    r = await c.post(f"/console/portal/notifications/{first}/read", data={}, headers=ctx.cookie("p"))
    assert r.status_code == 303 and "error=" in r.headers["location"]
    r = await c.get("/api/v1/notifications/unread-count", headers=ctx.h("p"))
    assert r.json() == {"unread": 2}

    csrf = token_of(html)
    r = await c.post(
        f"/console/portal/notifications/{first}/read", data={"csrf": csrf}, headers=ctx.cookie("p")
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/console/portal/notifications?flash=")
    r = await c.get("/console/portal/notifications?unread=1", headers=ctx.cookie("p"))
    assert "充值已到账" in r.text and "对账单已生成" not in r.text

    # another partner's id through the console: an error, nothing marked
    r = await c.post(
        f"/console/portal/notifications/{first}/read",
        data={"csrf": token_of((await c.get("/console/portal/notifications", headers=ctx.cookie("q"))).text)},
        headers=ctx.cookie("q"),
    )
    assert r.status_code == 303 and "error=" in r.headers["location"]

    r = await c.post("/console/portal/notifications/read-all", data={"csrf": csrf}, headers=ctx.cookie("p"))
    assert r.status_code == 303
    r = await c.get("/api/v1/notifications/unread-count", headers=ctx.h("p"))
    assert r.json() == {"unread": 0}
    r = await c.get("/console/notifications/badge", headers=ctx.cookie("p"))
    assert r.text == ""


async def test_console_operator_inbox_and_delivery_log(
    ctx: Ctx, container: Container, smtp_server: MailServer
) -> None:
    nid = await queue(container, ("operator", ctx.ids["agent"]), "工单超时 tkt_x")
    await deliver_due(container)
    c = ctx.client
    r = await c.get("/console/ops/notifications", headers=ctx.cookie("agent"))
    assert r.status_code == 200 and "工单超时 tkt_x" in r.text and "已发送" in r.text
    r = await c.get("/console/ops/notifications", headers=ctx.cookie("p"))
    assert r.status_code == 303  # a partner user is sent to the portal
    csrf = token_of((await c.get("/console/ops/notifications", headers=ctx.cookie("agent"))).text)
    r = await c.post(
        f"/console/ops/notifications/{nid}/read", data={"csrf": csrf}, headers=ctx.cookie("agent")
    )
    assert r.status_code == 303 and "flash=" in r.headers["location"]
    r = await c.get("/console/ops/notification-deliveries", headers=ctx.cookie("clerk"))
    assert r.status_code == 200 and nid in r.text and "agent@example.com" in r.text
    r = await c.get(
        "/console/ops/notification-deliveries?outcome=bogus&offset=x", headers=ctx.cookie("clerk")
    )
    assert r.status_code == 200
    r = await c.get("/console/ops/notification-deliveries?lang=en", headers=ctx.cookie("clerk"))
    assert "Email delivery log" in r.text
    r = await c.get("/console/ops/notification-deliveries", headers=ctx.cookie("p"))
    assert r.status_code == 303
