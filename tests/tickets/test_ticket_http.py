"""Ticket, SLA-policy, calendar and report endpoints over HTTP, including bad input, plus console pages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from openability.bootstrap import Container
from openability.kernel.clock import SHANGHAI, FrozenClock
from openability.tickets import attachments, sla

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')
POST_FORM = re.compile(r'<form method="post".*?</form>', re.S)


def form_token(html: str) -> str:
    m = CSRF_FIELD.search(html)
    assert m and m.group(1), "no csrf field on the page"
    return m.group(1)


class Ctx:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.h: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def as_(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.h[who]}"}


@pytest.fixture
async def ctx(app_client: httpx.AsyncClient, world: Any) -> Ctx:
    c = Ctx(app_client)
    lead = await world.operator("lead", ["service_lead"])
    agent = await world.operator("agent", ["service_agent"], lead_id=lead.id)
    agent2 = await world.operator("agent2", ["service_agent"], lead_id=lead.id)
    admin = await world.operator("admin", ["admin"])
    clerk = await world.operator("clerk", ["billing_clerk"])
    p = await world.partner("甲科技", owner_id=agent.id)
    q = await world.partner("乙科技")
    u, v = await world.user(p), await world.user(q)
    for name, op in (
        ("lead", lead),
        ("agent", agent),
        ("agent2", agent2),
        ("admin", admin),
        ("clerk", clerk),
    ):
        c.h[name] = await world.token("operator", op.id)
    c.h["p"] = await world.token("partner_user", u.id, p.id)
    c.h["q"] = await world.token("partner_user", v.id, q.id)
    c.ids = {"p": p.id, "q": q.id, "agent": agent.id, "agent2": agent2.id, "lead": lead.id}
    return c


async def open_ticket(ctx: Ctx, who: str = "p", **kw: Any) -> dict[str, Any]:
    body = {"type": "consultation", "subtype": "tariffs", "subject": "资费咨询"} | kw
    r = await ctx.client.post("/api/v1/tickets", json=body, headers=ctx.as_(who))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_get_list_and_converse(ctx: Ctx, clock: FrozenClock) -> None:
    c = ctx.client
    t = await open_ticket(ctx, description="短信资费是多少？")
    assert t["channel"] == "online" and t["state"] == "acknowledged" and t["ownerId"] == ctx.ids["agent"]
    assert t["sla"]["firstResponse"]["due"] == "2026-11-03T16:00:00Z"
    assert t["sla"]["final"]["secondsLeft"] == (3 * 86400 + 14 * 3600)
    assert t["actions"] == ["cancel"]
    r = await c.post(
        f"/api/v1/tickets/{t['id']}/comments", json={"body": "0.05 元/条"}, headers=ctx.as_("agent")
    )
    assert r.status_code == 201 and r.json()["authorType"] == "operator"
    r = await c.get(f"/api/v1/tickets/{t['id']}", headers=ctx.as_("p"))
    assert r.status_code == 200
    got = r.json()
    assert [x["body"] for x in got["comments"]] == ["0.05 元/条"]
    assert got["state"] == "inProgress" and got["sla"]["firstResponse"]["doneAt"] is not None
    r = await c.get("/api/v1/tickets", params={"state": "inProgress"}, headers=ctx.as_("agent"))
    assert r.json()["total"] == 1 and r.json()["items"][0]["id"] == t["id"]
    r = await c.get("/api/v1/tickets", headers=ctx.as_("q"))
    assert r.json() == {"items": [], "total": 0, "offset": 0, "limit": 50}
    r = await c.get(f"/api/v1/tickets/{t['id']}/history", headers=ctx.as_("agent"))
    assert [e["action"] for e in r.json()["items"]] == ["ticket.created", "ticket.commented"]


async def test_hotline_ticket_by_agent_and_queue_order(ctx: Ctx) -> None:
    c = ctx.client
    slow = await open_ticket(ctx, "agent", partnerId=ctx.ids["q"])
    fast = await open_ticket(ctx, "agent", partnerId=ctx.ids["q"], type="fault_complaint", subtype="software")
    assert slow["channel"] == "hotline"
    r = await c.get("/api/v1/tickets", params={"open": "true"}, headers=ctx.as_("agent"))
    assert [x["id"] for x in r.json()["items"]] == [fast["id"], slow["id"]]  # nearest deadline first
    r = await c.get(
        "/api/v1/tickets", params={"type": "fault_complaint", "limit": 1}, headers=ctx.as_("agent")
    )
    assert r.json()["total"] == 1 and r.json()["limit"] == 1
    r = await c.get("/api/v1/tickets", params={"breached": "true"}, headers=ctx.as_("agent"))
    assert r.json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "consultation", "subtype": "billing_error", "subject": "x"}, "BAD_TICKET_KIND"),
        ({"type": "praise", "subtype": "tariffs", "subject": "x"}, "BAD_TICKET_KIND"),
        ({"type": "consultation", "subtype": "tariffs", "subject": ""}, "INVALID_ARGUMENT"),
        (
            {"type": "consultation", "subtype": "tariffs", "subject": "x", "importance": "urgent"},
            "INVALID_ARGUMENT",
        ),
        (
            {"type": "fault_complaint", "subtype": "billing_error", "subject": "x"},
            "BILLING_REFERENCE_REQUIRED",
        ),
        (
            {
                "type": "fault_complaint",
                "subtype": "billing_error",
                "subject": "x",
                "relatedCallIds": ["cdr_nope"],
            },
            "UNKNOWN_CALL_IDS",
        ),
        (
            {
                "type": "fault_complaint",
                "subtype": "billing_error",
                "subject": "x",
                "relatedMonth": "2026-13",
            },
            "BAD_MONTH",
        ),
        ({"type": "consultation", "subtype": "tariffs", "subject": "x", "surprise": 1}, "INVALID_ARGUMENT"),
    ],
)
async def test_create_bad_input_is_400_and_writes_nothing(
    ctx: Ctx, body: dict[str, Any], code: str, container: Container
) -> None:
    r = await ctx.client.post("/api/v1/tickets", json=body, headers=ctx.as_("p"))
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code
    r = await ctx.client.get("/api/v1/tickets", headers=ctx.as_("agent"))
    assert r.json()["total"] == 0


async def test_other_partners_ticket_is_404_and_auth_required(ctx: Ctx) -> None:
    c = ctx.client
    t = await open_ticket(ctx)
    for method, path, kw in (
        ("GET", f"/api/v1/tickets/{t['id']}", {}),
        ("POST", f"/api/v1/tickets/{t['id']}/comments", {"json": {"body": "hi"}}),
        ("POST", f"/api/v1/tickets/{t['id']}/cancel", {}),
        ("GET", f"/api/v1/tickets/{t['id']}/attachments", {}),
    ):
        r = await c.request(method, path, headers=ctx.as_("q"), **kw)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == "NOT_FOUND"
    assert (await c.get("/api/v1/tickets")).status_code == 401
    assert (await c.get("/api/v1/tickets/tkt_nope", headers=ctx.as_("agent"))).status_code == 404


async def test_transitions_over_http(ctx: Ctx) -> None:
    c = ctx.client
    t = await open_ticket(ctx)
    tid = t["id"]
    r = await c.post(f"/api/v1/tickets/{tid}/resolve", json={"resolution": "x"}, headers=ctx.as_("p"))
    assert r.status_code == 403
    r = await c.post(f"/api/v1/tickets/{tid}/start", headers=ctx.as_("agent"))
    assert r.status_code == 200 and r.json()["state"] == "inProgress"
    r = await c.post(f"/api/v1/tickets/{tid}/close", headers=ctx.as_("agent"))
    assert r.status_code == 409 and r.json()["code"] == "BAD_TRANSITION"
    r = await c.post(f"/api/v1/tickets/{tid}/fly", headers=ctx.as_("agent"))
    assert r.status_code == 400
    r = await c.post(f"/api/v1/tickets/{tid}/pend", json={"note": "请补充"}, headers=ctx.as_("agent"))
    assert r.json()["state"] == "pending"
    r = await c.post(f"/api/v1/tickets/{tid}/respond", json={"note": "已收到"}, headers=ctx.as_("agent"))
    assert r.json()["state"] == "inProgress" and r.json()["sla"]["firstResponse"]["doneAt"]
    r = await c.post(
        f"/api/v1/tickets/{tid}/resolve", json={"resolution": "已解答"}, headers=ctx.as_("agent")
    )
    assert r.json()["state"] == "resolved" and r.json()["resolution"] == "已解答"
    r = await c.post(f"/api/v1/tickets/{tid}/reopen", headers=ctx.as_("p"))
    assert r.json()["state"] == "inProgress"
    r = await c.post(f"/api/v1/tickets/{tid}/cancel", headers=ctx.as_("p"))
    assert r.json()["state"] == "cancelled"
    r = await c.post(
        f"/api/v1/tickets/{tid}/reassign", json={"ownerId": ctx.ids["agent2"]}, headers=ctx.as_("lead")
    )
    assert r.status_code == 409


async def test_reassign_over_http(ctx: Ctx) -> None:
    c = ctx.client
    t = await open_ticket(ctx)
    r = await c.post(
        f"/api/v1/tickets/{t['id']}/reassign", json={"ownerId": ctx.ids["agent2"]}, headers=ctx.as_("agent")
    )
    assert r.status_code == 403
    r = await c.post(
        f"/api/v1/tickets/{t['id']}/reassign", json={"ownerId": ctx.ids["agent2"]}, headers=ctx.as_("lead")
    )
    assert r.status_code == 200 and r.json()["ownerId"] == ctx.ids["agent2"]
    r = await c.post(
        f"/api/v1/tickets/{t['id']}/reassign", json={"ownerId": ctx.ids["p"]}, headers=ctx.as_("lead")
    )
    assert r.status_code == 400 and r.json()["code"] == "NOT_AN_AGENT"


async def test_attachments_over_http(ctx: Ctx) -> None:
    c = ctx.client
    t = await open_ticket(ctx)
    url = f"/api/v1/tickets/{t['id']}/attachments"
    r = await c.post(
        url, files={"file": ("日志.txt", b"error 500 at 10:01", "text/plain")}, headers=ctx.as_("p")
    )
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["filename"] == "日志.txt" and att["size"] == 18
    r = await c.get(att["href"], headers=ctx.as_("agent"))
    assert r.status_code == 200 and r.content == b"error 500 at 10:01"
    assert (
        r.headers["content-type"].startswith("text/plain")
        and "attachment" in r.headers["content-disposition"]
    )
    assert (await c.get(att["href"], headers=ctx.as_("q"))).status_code == 404
    big = b"x" * (attachments.MAX_ATTACHMENT_BYTES + 1)
    r = await c.post(url, files={"file": ("big.txt", big, "text/plain")}, headers=ctx.as_("p"))
    assert r.status_code == 400 and r.json()["code"] == "ATTACHMENT_TOO_LARGE"
    r = await c.post(url, files={"file": ("x.html", b"<script>", "text/html")}, headers=ctx.as_("p"))
    assert r.status_code == 400 and r.json()["code"] == "ATTACHMENT_TYPE"
    r = await c.post(url, headers=ctx.as_("p"))
    assert r.status_code == 400
    r = await c.get(url, headers=ctx.as_("p"))
    assert r.json()["total"] == 1


async def test_sla_policies_endpoint(ctx: Ctx) -> None:
    c = ctx.client
    r = await c.get("/api/v1/sla-policies", headers=ctx.as_("agent"))
    assert r.status_code == 200 and r.json()["version"] == 0
    items = r.json()["items"]
    assert (await c.get("/api/v1/sla-policies", headers=ctx.as_("p"))).status_code == 403
    r = await c.put("/api/v1/sla-policies", json={"items": items}, headers=ctx.as_("agent"))
    assert r.status_code == 403
    r = await c.put("/api/v1/sla-policies", json={"items": items[1:]}, headers=ctx.as_("admin"))
    assert r.status_code == 400 and r.json()["code"] == "BAD_POLICY"
    bad = [dict(items[0], firstResponseUnit="fortnights"), *items[1:]]
    r = await c.put("/api/v1/sla-policies", json={"items": bad}, headers=ctx.as_("admin"))
    assert r.status_code == 400
    r = await c.put(
        "/api/v1/sla-policies", json={"items": items, "note": "same again"}, headers=ctx.as_("admin")
    )
    assert r.status_code == 200 and r.json()["version"] == 1


async def test_calendar_endpoints(ctx: Ctx) -> None:
    c = ctx.client
    r = await c.get("/api/v1/calendar/status", params={"year": 2026}, headers=ctx.as_("agent"))
    assert r.status_code == 200 and r.json()["confirmed"] is True
    assert "2026-10-10" in r.json()["makeUpDays"]
    r = await c.get("/api/v1/calendar/status", params={"year": 2027}, headers=ctx.as_("agent"))
    assert r.json()["confirmed"] is False
    assert (
        await c.get("/api/v1/calendar/status", params={"year": 1900}, headers=ctx.as_("agent"))
    ).status_code == 400
    assert (await c.get("/api/v1/calendar/status", headers=ctx.as_("agent"))).status_code == 400
    r = await c.put(
        "/api/v1/calendar/overrides/2026-11-03", json={"isWorking": False}, headers=ctx.as_("agent")
    )
    assert r.status_code == 403
    r = await c.put(
        "/api/v1/calendar/overrides/2026-11-31", json={"isWorking": False}, headers=ctx.as_("admin")
    )
    assert r.status_code == 400
    r = await c.put(
        "/api/v1/calendar/overrides/2026-11-03",
        json={"isWorking": False, "note": "临时"},
        headers=ctx.as_("admin"),
    )
    assert r.status_code == 200
    t = await open_ticket(ctx)
    assert t["sla"]["firstResponse"]["due"] == "2026-11-04T16:00:00Z"  # moved by the override
    r = await c.get("/api/v1/calendar/overrides", params={"year": 2026}, headers=ctx.as_("agent"))
    assert [o["day"] for o in r.json()["items"]] == ["2026-11-03"]
    assert (
        await c.delete("/api/v1/calendar/overrides/2026-11-03", headers=ctx.as_("admin"))
    ).status_code == 204
    assert (
        await c.delete("/api/v1/calendar/overrides/2026-11-03", headers=ctx.as_("admin"))
    ).status_code == 404
    r = await c.put("/api/v1/calendar/status/2027", json={"confirmed": True}, headers=ctx.as_("admin"))
    assert r.status_code == 200 and r.json()["confirmed"] is True


async def test_report_endpoint(ctx: Ctx) -> None:
    c = ctx.client
    await open_ticket(ctx)
    r = await c.get("/api/v1/reports/sla", params={"month": "2026-11"}, headers=ctx.as_("lead"))
    assert r.status_code == 200
    assert r.json()["total"]["tickets"] == 1 and r.json()["total"]["open"] == 1
    for bad in ("2026-13", "nov", "2026-11-01"):
        r = await c.get("/api/v1/reports/sla", params={"month": bad}, headers=ctx.as_("lead"))
        assert r.status_code == 400, bad
    assert (
        await c.get("/api/v1/reports/sla", params={"month": "2026-11"}, headers=ctx.as_("p"))
    ).status_code == 403


async def test_console_pages_render(ctx: Ctx) -> None:
    c = ctx.client
    t = await open_ticket(ctx)
    cookie_agent = {"cookie": f"oa_session={ctx.h['agent']}"}
    cookie_p = {"cookie": f"oa_session={ctx.h['p']}"}
    r = await c.get("/console/ops/tickets")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    r = await c.get("/console/ops/tickets", headers=cookie_agent)
    assert r.status_code == 200 and "资费咨询" in r.text and 'class="countdown"' in r.text
    r = await c.get(f"/console/ops/tickets/{t['id']}", headers=cookie_agent)
    assert r.status_code == 200 and "首次响应" in r.text
    agent_csrf = form_token(r.text)
    assert "2026-11-03 24:00" in r.text  # R-CS-04: end of the working day, shown as 24:00
    r = await c.get("/console/ops/calendar?year=2027", headers=cookie_agent)
    assert r.status_code == 200 and "unconfirmed-warning" in r.text
    r = await c.get("/console/ops/reports/sla?month=2026-11", headers=cookie_agent)
    assert r.status_code == 200 and "<svg" in r.text
    r = await c.get("/console/portal/tickets", headers=cookie_p)
    assert r.status_code == 200 and t["id"] in r.text
    p_csrf = form_token(r.text)
    r = await c.get("/console/ops/tickets", headers=cookie_p)
    assert r.status_code == 303  # a partner user is not an operator
    # PRG: answer from the console, partner sees it
    r = await c.post(
        f"/console/ops/tickets/{t['id']}/comment",
        data={"body": "您好，已答复", "csrf": agent_csrf},
        headers=cookie_agent,
    )
    assert r.status_code == 303 and "flash=" in r.headers["location"]
    r = await c.get(f"/console/portal/tickets/{t['id']}", headers=cookie_p)
    assert "您好，已答复" in r.text
    r = await c.post(
        "/console/portal/tickets",
        data={"type": "consultation", "subtype": "software", "subject": "x", "csrf": p_csrf},
        headers=cookie_p,
    )
    assert r.status_code == 303 and "error=" in r.headers["location"]
    r = await c.get(
        f"/console/portal/tickets/{t['id']}?lang=en", headers={"cookie": f"oa_session={ctx.h['q']}"}
    )
    assert r.status_code == 303 and "error=" in r.headers["location"]


async def test_partner_sees_its_own_history_without_internal_details(ctx: Ctx) -> None:
    c = ctx.client
    t = await open_ticket(ctx)
    url = f"/api/v1/tickets/{t['id']}"
    note = {"body": "内部：先查计费日志", "internal": True}
    assert (await c.post(f"{url}/comments", json=note, headers=ctx.as_("agent"))).status_code == 201
    assert (
        await c.post(f"{url}/comments", json={"body": "正在处理"}, headers=ctx.as_("agent"))
    ).status_code == 201
    r = await c.post(
        f"{url}/reassign", json={"ownerId": ctx.ids["agent2"], "note": "甲组太忙"}, headers=ctx.as_("lead")
    )
    assert r.status_code == 200
    full = (await c.get(f"{url}/history", headers=ctx.as_("agent"))).json()["items"]
    assert [e["action"] for e in full] == [
        "ticket.created",
        "ticket.commented",
        "ticket.commented",
        "ticket.reassigned",
    ]
    assert full[1]["after"]["internal"] is True and full[3]["after"]["ownerId"] == ctx.ids["agent2"]
    assert full[3]["note"] == "甲组太忙"
    r = await c.get(f"{url}/history", headers=ctx.as_("p"))
    assert r.status_code == 200, r.text
    mine = r.json()["items"]
    # the internal note's entry is gone; owners, assignment and audit notes are not shown
    assert [e["action"] for e in mine] == ["ticket.created", "ticket.commented", "ticket.reassigned"]
    assert r.json()["total"] == 3
    for e in mine:
        assert e["note"] is None
        for side in (e["before"] or {}, e["after"] or {}):
            assert not {"ownerId", "assignedBy", "internal", "commentId", "escalatedTo"} & set(side)
    assert mine[0]["after"]["state"] == "acknowledged" and mine[1]["after"]["state"] == "inProgress"
    assert mine[0]["actor"].startswith("partner_user:")
    r = await c.get(f"{url}/history", headers=ctx.as_("q"))
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


async def test_report_gives_null_percent_while_nothing_is_decided(ctx: Ctx) -> None:
    await open_ticket(ctx)
    r = await ctx.client.get("/api/v1/reports/sla", params={"month": "2026-11"}, headers=ctx.as_("lead"))
    rep = r.json()
    # its first-response target (end of 11-03) is still running: nothing decided there either
    undecided = {
        "tickets": 1,
        "met": 0,
        "breached": 0,
        "open": 1,
        "compliancePercent": None,
        "targetTickets": 1,
        "targetMet": 0,
        "targetMissed": 0,
        "targetMetPercent": None,
    }
    assert rep["total"] == undecided
    assert rep["byType"] == [undecided | {"type": "consultation"}]
    assert rep["byOwner"][0]["ownerId"] == ctx.ids["agent"] and rep["breachEvents"] == 0


async def test_field_names_are_camel_case_like_the_catalog(ctx: Ctx) -> None:
    c = ctx.client
    t = await open_ticket(ctx, "agent", partnerId=ctx.ids["q"], relatedMonth="2026-10")
    assert t["partnerId"] == ctx.ids["q"] and t["related"]["month"] == "2026-10"
    assert set(t["sla"]) == {"policyVersion", "paused", "firstResponse", "final", "nextDueAt", "everBreached"}
    assert "partner_id" not in t and "owner_id" not in t
    # like the catalog's ApiModel, the Python names are accepted too; unknown names are refused
    t2 = await open_ticket(ctx, "agent", partner_id=ctx.ids["q"])
    assert t2["partnerId"] == ctx.ids["q"]
    r = await c.post(
        "/api/v1/tickets",
        json={"type": "consultation", "subtype": "tariffs", "subject": "x", "partnerID": ctx.ids["q"]},
        headers=ctx.as_("agent"),
    )
    assert r.status_code == 400 and r.json()["code"] == "INVALID_ARGUMENT"
    r = await c.get(f"/api/v1/tickets/{t['id']}", headers=ctx.as_("agent"))
    assert {"comments", "attachments", "relatedCalls", "actionResult", "reopenedCount"} <= set(r.json())
    r = await c.get("/api/v1/sla-policies", headers=ctx.as_("agent"))
    assert set(r.json()["items"][0]) == {
        "type",
        "subtype",
        "importance",
        "firstResponseAmount",
        "firstResponseUnit",
        "firstResponseMode",
        "finalAmount",
        "finalUnit",
        "finalMode",
        "note",
    }
    r = await c.get("/api/v1/calendar/status", params={"year": 2026}, headers=ctx.as_("agent"))
    assert {"daysOff", "makeUpDays", "overrides"} <= set(r.json())


async def test_openapi_lists_the_allowed_values(ctx: Ctx) -> None:
    spec = (await ctx.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]

    def enum_of(schema: dict[str, Any]) -> set[str]:
        if "$ref" in schema:
            return enum_of(schemas[schema["$ref"].rsplit("/", 1)[1]])
        out = set(schema.get("enum", []))
        if "const" in schema:
            out.add(schema["const"])
        for alt in schema.get("anyOf", []):
            out |= enum_of(alt)
        return out

    create = schemas["CreateTicket"]["properties"]
    assert enum_of(create["type"]) == {"consultation", "business_request", "fault_complaint"}
    assert {"tariffs", "billing_error", "opening"} <= enum_of(create["subtype"])
    assert enum_of(create["importance"]) == {"general", "important"}
    row = schemas["PolicyRowIn"]["properties"]
    assert enum_of(row["firstResponseUnit"]) == {"working_days", "hours", "minutes"}
    assert enum_of(row["importance"]) == {"general", "important", ""}
    assert enum_of(schemas["TicketOut"]["properties"]["channel"]) == {"hotline", "online"}
    params = spec["paths"]["/api/v1/tickets/{ticket_id}/{action}"]["post"]["parameters"]
    action = next(p for p in params if p["name"] == "action")
    assert enum_of(action["schema"]) == {"start", "pend", "respond", "resolve", "close", "cancel", "reopen"}


async def test_console_ticket_forms_refuse_a_post_without_the_csrf_token(ctx: Ctx) -> None:
    c = ctx.client
    t = await open_ticket(ctx)
    agent = {"cookie": f"oa_session={ctx.h['agent']}"}
    admin = {"cookie": f"oa_session={ctx.h['admin']}"}
    partner = {"cookie": f"oa_session={ctx.h['p']}"}
    url = f"/console/ops/tickets/{t['id']}"
    page = await c.get(url, headers=agent)
    token = form_token(page.text)
    # every form that posts carries the session's token (base.html's logout form among them)
    for path, who in (
        (url, agent),
        ("/console/ops/tickets", agent),
        ("/console/ops/calendar?year=2026", admin),
        ("/console/portal/tickets", partner),
        (f"/console/portal/tickets/{t['id']}", partner),
    ):
        html = (await c.get(path, headers=who)).text
        forms = POST_FORM.findall(html)
        assert len(forms) >= 2, path
        for f in forms:
            assert f'name="csrf" value="{form_token(html)}"' in f, (path, f[:120])
    before = (await c.get(f"/api/v1/tickets/{t['id']}/comments", headers=ctx.as_("agent"))).json()["total"]
    forged: list[tuple[str, dict[str, str], dict[str, str]]] = [
        (f"{url}/comment", agent, {"body": "伪造的回复"}),
        (f"{url}/action/start", agent, {}),
        (f"{url}/reassign", {"cookie": f"oa_session={ctx.h['lead']}"}, {"owner_id": ctx.ids["agent2"]}),
        ("/console/ops/tickets", agent, {"type": "consultation", "subtype": "tariffs", "subject": "伪造"}),
        ("/console/ops/calendar/override", admin, {"day": "2026-11-03", "is_working": "0"}),
        ("/console/ops/calendar/confirm", admin, {"year": "2027", "confirmed": "1"}),
        (
            "/console/portal/tickets",
            partner,
            {"type": "consultation", "subtype": "tariffs", "subject": "伪造"},
        ),
        (f"/console/portal/tickets/{t['id']}/action/cancel", partner, {}),
    ]
    for path, who, data in forged:
        for bad in ({}, {"csrf": "0" * 40}, {"csrf": token + "x"}, {"csrf": "不是令牌"}):
            r = await c.post(path, data=data | bad, headers=who)
            assert r.status_code == 303 and "error=" in r.headers["location"], (path, bad)
    # the agent's token is worthless in the partner's session
    r = await c.post(
        f"/console/portal/tickets/{t['id']}/comment", data={"body": "x", "csrf": token}, headers=partner
    )
    assert r.status_code == 303 and "error=" in r.headers["location"]
    # nothing changed
    after = await c.get(f"/api/v1/tickets/{t['id']}", headers=ctx.as_("agent"))
    assert after.json()["state"] == "acknowledged" and after.json()["ownerId"] == ctx.ids["agent"]
    comments = await c.get(f"/api/v1/tickets/{t['id']}/comments", headers=ctx.as_("agent"))
    assert comments.json()["total"] == before
    assert (await c.get("/api/v1/tickets", headers=ctx.as_("agent"))).json()["total"] == 1
    r = await c.get("/api/v1/calendar/overrides", params={"year": 2026}, headers=ctx.as_("agent"))
    assert r.json()["items"] == []
    r = await c.get("/api/v1/calendar/status", params={"year": 2027}, headers=ctx.as_("agent"))
    assert r.json()["confirmed"] is False
    # the form as rendered works
    r = await c.post(f"{url}/action/start", data={"csrf": token}, headers=agent)
    assert r.status_code == 303 and "flash=" in r.headers["location"]
    assert (await c.get(f"/api/v1/tickets/{t['id']}", headers=ctx.as_("agent"))).json()[
        "state"
    ] == "inProgress"


def _at(y: int, m: int, d: int, hh: int) -> datetime:
    return datetime(y, m, d, hh, tzinfo=SHANGHAI)


async def test_r_cs_03_target_met_share_in_the_report_and_on_the_ticket(
    ctx: Ctx, clock: FrozenClock, container: Container
) -> None:
    c = ctx.client
    agent, lead = ctx.as_("agent"), ctx.as_("lead")

    async def answer(tid: str) -> None:
        r = await c.post(f"/api/v1/tickets/{tid}/comments", json={"body": "您好"}, headers=agent)
        assert r.status_code == 201
        r = await c.post(f"/api/v1/tickets/{tid}/resolve", json={"resolution": "已答复"}, headers=agent)
        assert r.status_code == 200, r.text

    clock.set(_at(2026, 11, 2, 10))  # Monday; consultations: target end of 11-03, limit end of 11-05
    on_time = await open_ticket(ctx)
    late = await open_ticket(ctx)
    fault = await open_ticket(ctx, type="fault_complaint", subtype="software")  # limits only, no target
    assert on_time["sla"]["firstResponse"]["mode"] == "target" and on_time["sla"]["final"]["mode"] == "limit"
    assert fault["sla"]["firstResponse"]["mode"] == "limit"
    clock.set(_at(2026, 11, 2, 10) + timedelta(minutes=5))
    await answer(on_time["id"])
    await answer(fault["id"])
    clock.set(_at(2026, 11, 4, 10))  # Wednesday: after the target, within the limit
    await answer(late["id"])
    clock.set(_at(2026, 11, 5, 10))
    running = await open_ticket(ctx)  # its target (end of 11-06) is still running: undecided
    assert running["sla"]["firstResponse"]["met"] is None
    async with container.uow() as uow:
        assert await sla.scan_breaches(uow) == 0  # Thu 11-05 10:00: the missed target is no breach
    r = await c.get("/api/v1/tickets", params={"breached": "true"}, headers=agent)
    assert r.json()["total"] == 0  # a missed target is never a breach

    rep = (await c.get("/api/v1/reports/sla", params={"month": "2026-11"}, headers=lead)).json()
    total = rep["total"]
    assert (total["tickets"], total["met"], total["breached"], total["open"]) == (4, 3, 0, 1)
    assert total["compliancePercent"] == 100.0
    # targets: 3 tickets have one; 1 met, 1 missed, 1 running -> 50 % met; the fault has none
    assert (total["targetTickets"], total["targetMet"], total["targetMissed"]) == (3, 1, 1)
    assert total["targetMetPercent"] == 50.0
    by_type = {r["type"]: r for r in rep["byType"]}
    assert by_type["consultation"]["targetMetPercent"] == 50.0
    assert (by_type["fault_complaint"]["targetTickets"], by_type["fault_complaint"]["targetMetPercent"]) == (
        0,
        None,
    )

    # the ticket: the target missed, shown as such, not as a breach
    got = (await c.get(f"/api/v1/tickets/{late['id']}", headers=agent)).json()["sla"]
    assert (got["firstResponse"]["met"], got["firstResponse"]["breached"]) == (False, False)
    assert (got["final"]["met"], got["everBreached"]) == (True, False)
    cookie = {"cookie": f"oa_session={ctx.h['agent']}"}
    page = (await c.get(f"/console/ops/tickets/{late['id']}", headers=cookie)).text
    row = re.search(r'<tr id="deadline-first_response".*?</tr>', page, re.S)
    assert row and 'data-mode="target"' in row.group(0) and "2026-11-03 24:00" in row.group(0)
    assert "未达目标" in row.group(0) and "已超时" not in page.split('id="deadlines"')[1].split("</table>")[0]
    page = (await c.get(f"/console/ops/tickets/{on_time['id']}?lang=en", headers=cookie)).text
    assert "target met" in page
    # the console report shows the target-met share beside compliance
    html = (await c.get("/console/ops/reports/sla?month=2026-11", headers=cookie)).text
    assert re.search(r'id="target-met-percent">50\.0%<', html)
    assert re.search(r'id="compliance-percent">100\.0%<', html)


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", html, re.S)


async def test_r_cs_05_report_chart_shows_no_bar_for_a_group_with_nothing_decided(ctx: Ctx) -> None:
    await open_ticket(ctx)  # one open consultation: its compliance is "-" (null), not 0 %
    cookie = {"cookie": f"oa_session={ctx.h['agent']}"}
    html = (await ctx.client.get("/console/ops/reports/sla?month=2026-11", headers=cookie)).text
    table = html.split('id="report-table"')[1]
    assert re.search(r"<td>业务咨询</td>(<td>[^<]*</td>){4}<td>-</td>", table)
    by_type = _svgs(html)[0]  # 按类型达标率
    assert "业务咨询" in by_type
    assert "<rect" not in by_type and ">0%<" not in by_type and ">-</text>" in by_type
    assert re.search(r'id="compliance-percent">-<', html)


async def test_r_cs_04_calendar_page_names_the_confirmation_source_in_the_page_language(ctx: Ctx) -> None:
    cookie = {"cookie": f"oa_session={ctx.h['agent']}"}
    zh = (await ctx.client.get("/console/ops/calendar?year=2026", headers=cookie)).text
    assert "(settings)" not in zh and "(配置文件)" in zh  # 2026 is confirmed in the settings
    en = (await ctx.client.get("/console/ops/calendar?year=2026&lang=en", headers=cookie)).text
    assert "(settings)" in en and "配置文件" not in en


async def test_r_cs_03_policy_modes_over_http(ctx: Ctx) -> None:
    c = ctx.client
    items = (await c.get("/api/v1/sla-policies", headers=ctx.as_("agent"))).json()["items"]
    modes = {
        (i["type"], i["importance"], i["subtype"]): (i["firstResponseMode"], i["finalMode"]) for i in items
    }
    assert modes[("consultation", "general", "")] == ("target", "limit")
    assert modes[("fault_complaint", "", "platform_major")] == ("limit", "limit")
    no_limit = [dict(items[0], finalMode="target"), *items[1:]]
    r = await c.put("/api/v1/sla-policies", json={"items": no_limit}, headers=ctx.as_("admin"))
    assert r.status_code == 400 and r.json()["code"] == "BAD_POLICY" and "no limit" in r.json()["message"]
    r = await c.put("/api/v1/sla-policies", json={"items": items}, headers=ctx.as_("admin"))
    assert r.status_code == 200 and r.json()["version"] == 1
    t = await open_ticket(ctx)  # under version 1 the first response is still the target
    assert t["sla"]["policyVersion"] == 1 and t["sla"]["firstResponse"]["mode"] == "target"
