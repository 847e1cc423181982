"""The management routes as the access tests see them (issue 8): every operation of the app's OpenAPI
document under /api/v1 and /oauth, who may use it (ALLOW, read off the code's role checks), and a
syntactically valid request for it (a minimal body from its schema, or a known good one where the route
needs more: unique names, a fresh ticket in the right state, a pending payment...).

A route that is not in ALLOW fails test_every_route_has_an_expectation: a new route is covered the day it
is added, by deciding who may call it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from access_world import PASSWORD, PDF, Objects, SecWorld, Who, due_statement
from fastapi.routing import APIRoute

from openability.partners.rules import OPERATOR_ROLES, PARTNER_USER_ROLES

MANAGEMENT = ("/api/v1/", "/oauth/")
# Operations whose enum path parameter is expanded into one row per value (the ticket actions have
# different rules each).
EXPAND = ("action",)


@dataclass(frozen=True)
class Row:
    """One operation (or one value of an expanded path parameter) of the OpenAPI document."""

    method: str
    path: str
    op: dict[str, Any] = field(hash=False, compare=False)
    fixed: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        path = self.path
        for name, value in self.fixed:
            path = path.replace("{" + name + "}", "{" + name + "=" + value + "}")
        return f"{self.method} {path}"

    @property
    def path_params(self) -> list[str]:
        return [p["name"] for p in self.op.get("parameters", []) if p["in"] == "path"]

    @property
    def query_params(self) -> list[dict[str, Any]]:
        return [p for p in self.op.get("parameters", []) if p["in"] == "query"]


def management_rows(doc: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for path, ops in doc["paths"].items():
        if not path.startswith(MANAGEMENT):
            continue
        for method, op in ops.items():
            row = Row(method.upper(), path, op)
            expand = [p for p in op.get("parameters", []) if p["in"] == "path" and p["name"] in EXPAND]
            if not expand:
                rows.append(row)
                continue
            (param,) = expand
            values = _resolve(doc, param["schema"]).get("enum")
            assert values, f"{row.label}: {param['name']} has no enum to expand"
            rows.extend(Row(row.method, path, op, ((param["name"], v),)) for v in values)
    return rows


def operator_only_by_dependency(app: Any) -> set[str]:
    """'METHOD path' of the routes (of a PlatformApp's FastAPI app) whose handler depends on
    kernel.web.require_operator (any role). FastAPI keeps included routers as they were declared
    (`original_router`, the include's prefix in `include_context`): walked down to the APIRoutes."""

    def has(dep: Any) -> bool:
        call = getattr(dep, "call", None)
        if getattr(call, "__qualname__", "") == "require_operator.<locals>.dep":
            return True
        return any(has(d) for d in dep.dependencies)

    def walk(routes: list[Any], prefix: str) -> set[str]:
        out: set[str] = set()
        for r in routes:
            if isinstance(r, APIRoute):
                if has(r.dependant):
                    out |= {f"{m} {prefix}{r.path}" for m in r.methods}
            elif getattr(r, "original_router", None) is not None:
                out |= walk(r.original_router.routes, prefix + getattr(r.include_context, "prefix", ""))
        return out

    return walk(app.api.routes, "")


# ---- who may call what ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Allow:
    """Who gets a 2xx: operators holding one of `ops` (admin holds every role), partner users with one of
    `partner` (on their own partner's objects), or everyone when `public`. Anyone else: 403 when signed in,
    401 when not (an API client's token does not sign in to the management API)."""

    ops: frozenset[str] = frozenset()
    partner: frozenset[str] = frozenset()
    public: bool = False

    def allows(self, who: Who) -> bool:
        if self.public:
            return True
        if who.kind == "operator":
            return who.role in self.ops
        if who.kind == "partner":
            return who.role in self.partner
        return False

    def expected(self, who: Who) -> int:
        """The status class the caller must get: 200 (any 2xx), 401 or 403."""
        if self.allows(who):
            return 200
        return 403 if who.authenticated else 401


ALL_OPS = frozenset(OPERATOR_ROLES)
ALL_USERS = frozenset(PARTNER_USER_ROLES)


def staff(*roles: str, partner: frozenset[str] | set[str] = frozenset()) -> Allow:
    """Operators with one of `roles` (none given: every operator); admin always."""
    return Allow(ops=frozenset(roles or ALL_OPS) | {"admin"}, partner=frozenset(partner))


PUBLIC = Allow(public=True)
SIGNED_IN = Allow(ops=ALL_OPS, partner=ALL_USERS)
AGENTS = ("service_agent", "service_lead")  # tickets.sla.AGENT_ROLES

# The public list: the only routes an anonymous caller may use.
PUBLIC_ROUTES = {
    "POST /api/v1/partners/register",  # AP self-registration (R-ADMIT-06)
    "POST /api/v1/auth/login",
    "POST /oauth/token",
    "POST /api/v1/payments/notify/{provider}",  # signed by the provider: the signature authenticates
    "POST /api/v1/applicants",  # SI applicant self-registration (R-ADMIT-05), like the AP's
}

# Read off the code: route dependencies (require_operator), service checks (access.require_staff,
# catalog CATALOG_ROLES/ORDER_ROLES, billing BILLING_ROLES, tickets AGENT_ROLES/LEAD_ROLES, sla/calendar
# admin) and the partner-user role checks (partners.service: admin; API clients: admin, developer).
ALLOW: dict[str, Allow] = {
    # partners
    "POST /api/v1/partners/register": PUBLIC,
    "POST /api/v1/partners": staff("reviewer"),
    "GET /api/v1/partners": SIGNED_IN,
    "GET /api/v1/partners/{partner_id}": SIGNED_IN,
    "PATCH /api/v1/partners/{partner_id}": staff("reviewer", partner={"admin"}),
    "POST /api/v1/partners/{partner_id}/suspend": staff("reviewer", "billing_clerk"),
    "POST /api/v1/partners/{partner_id}/activate": staff("reviewer", "billing_clerk"),
    "POST /api/v1/partners/{partner_id}/exit": staff("reviewer"),
    "POST /api/v1/partners/{partner_id}/users": staff("reviewer", "service_agent", partner={"admin"}),
    "GET /api/v1/partners/{partner_id}/users": SIGNED_IN,
    "POST /api/v1/partners/{partner_id}/clients": staff(
        "reviewer", "service_agent", partner={"admin", "developer"}
    ),
    "GET /api/v1/partners/{partner_id}/clients": SIGNED_IN,
    "DELETE /api/v1/partners/{partner_id}/clients/{client_id}": staff(
        "reviewer", "service_agent", partner={"admin", "developer"}
    ),
    # sessions and operators
    "POST /api/v1/auth/login": PUBLIC,
    "POST /api/v1/auth/logout": SIGNED_IN,
    "GET /api/v1/me": SIGNED_IN,
    "GET /api/v1/operators": staff("admin"),
    "POST /api/v1/operators": staff("admin"),
    "POST /oauth/token": PUBLIC,
    # catalog
    "GET /api/v1/capabilities": SIGNED_IN,
    "GET /api/v1/products": SIGNED_IN,
    "POST /api/v1/products": staff("product_manager"),
    "GET /api/v1/products/{product_ref}": SIGNED_IN,
    "PATCH /api/v1/products/{product_ref}": staff("product_manager"),
    "GET /api/v1/products/{product_ref}/price-plans": SIGNED_IN,
    "POST /api/v1/products/{product_ref}/price-plans": staff("product_manager"),
    "POST /api/v1/orders": staff("product_manager", *AGENTS, partner=ALL_USERS),
    "GET /api/v1/orders": SIGNED_IN,
    "GET /api/v1/orders/{order_id}": SIGNED_IN,
    "POST /api/v1/orders/{order_id}/cancel": staff("product_manager", *AGENTS, partner=ALL_USERS),
    # billing and usage
    "POST /api/v1/payments": staff("billing_clerk", partner=ALL_USERS),
    "GET /api/v1/payments": SIGNED_IN,
    "GET /api/v1/payments/{payment_id}": SIGNED_IN,
    "GET /api/v1/payments/providers": SIGNED_IN,
    "POST /api/v1/payments/notify/{provider}": PUBLIC,
    "POST /api/v1/payments/{payment_id}/confirm": staff("billing_clerk"),
    "POST /api/v1/payments/{payment_id}/reject": staff("billing_clerk"),
    "GET /api/v1/invoices": SIGNED_IN,
    "GET /api/v1/invoices/{invoice_ref}": SIGNED_IN,
    # billing.invoices / billing.holds: profile by the partner's admin or finance users or a billing
    # clerk; fapiao numbers and settlement holds by billing clerks
    "GET /api/v1/invoices/{invoice_ref}/pdf": SIGNED_IN,
    "POST /api/v1/invoices/{invoice_ref}/fapiao": staff("billing_clerk"),
    "GET /api/v1/partners/{partner_id}/invoice-profile": SIGNED_IN,
    "PUT /api/v1/partners/{partner_id}/invoice-profile": staff("billing_clerk", partner={"admin", "finance"}),
    "GET /api/v1/partners/{partner_id}/settlement-hold": SIGNED_IN,
    "POST /api/v1/partners/{partner_id}/settlement-hold": staff("billing_clerk"),
    "DELETE /api/v1/partners/{partner_id}/settlement-hold": staff("billing_clerk"),
    "GET /api/v1/accounts/{partner_id}": SIGNED_IN,
    # billing.alerts: operators with billing_clerk, partner admin or finance users of their own partner
    "GET /api/v1/accounts/{partner_id}/low-balance-alert": SIGNED_IN,
    "PUT /api/v1/accounts/{partner_id}/low-balance-alert": staff(
        "billing_clerk", partner={"admin", "finance"}
    ),
    "DELETE /api/v1/accounts/{partner_id}/low-balance-alert": staff(
        "billing_clerk", partner={"admin", "finance"}
    ),
    "GET /api/v1/usage": SIGNED_IN,
    "GET /api/v1/usage/records": SIGNED_IN,
    # statements (billing.statements: partners their own issued ones, any user role; confirming and
    # disputing: operators need STATEMENT_ROLES)
    "GET /api/v1/statements": SIGNED_IN,
    "GET /api/v1/statements/{statement_id}": SIGNED_IN,
    "POST /api/v1/statements/{statement_id}/confirm": staff("billing_clerk", partner=ALL_USERS),
    "POST /api/v1/statements/{statement_id}/disputes": staff("billing_clerk", partner=ALL_USERS),
    "GET /api/v1/statements/{statement_id}/usage.csv": SIGNED_IN,
    # collections (billing.collections: notices by partner admin/finance users or billing clerks)
    "GET /api/v1/collections": SIGNED_IN,
    "POST /api/v1/statements/{statement_id}/payment-notices": staff(
        "billing_clerk", partner={"admin", "finance"}
    ),
    "POST /api/v1/statements/{statement_id}/payments": staff("billing_clerk"),
    "GET /api/v1/statements/{statement_id}/payments": SIGNED_IN,
    "GET /api/v1/partners/{partner_id}/deposit": SIGNED_IN,
    "PUT /api/v1/partners/{partner_id}/required-deposit": staff("billing_clerk"),
    # tickets
    "POST /api/v1/tickets": staff(*AGENTS, partner=ALL_USERS),
    "GET /api/v1/tickets": SIGNED_IN,
    "GET /api/v1/tickets/{ticket_id}": SIGNED_IN,
    "GET /api/v1/tickets/{ticket_id}/comments": SIGNED_IN,
    "POST /api/v1/tickets/{ticket_id}/comments": staff(*AGENTS, partner=ALL_USERS),
    "POST /api/v1/tickets/{ticket_id}/attachments": staff(*AGENTS, partner=ALL_USERS),
    "GET /api/v1/tickets/{ticket_id}/attachments": SIGNED_IN,
    "GET /api/v1/tickets/{ticket_id}/attachments/{attachment_id}": SIGNED_IN,
    "GET /api/v1/tickets/{ticket_id}/history": SIGNED_IN,
    "POST /api/v1/tickets/{ticket_id}/reassign": staff("service_lead"),
    "POST /api/v1/tickets/{ticket_id}/{action=start}": staff(*AGENTS),
    "POST /api/v1/tickets/{ticket_id}/{action=pend}": staff(*AGENTS),
    "POST /api/v1/tickets/{ticket_id}/{action=respond}": staff(*AGENTS),
    "POST /api/v1/tickets/{ticket_id}/{action=resolve}": staff(*AGENTS),
    "POST /api/v1/tickets/{ticket_id}/{action=close}": staff(*AGENTS, partner=ALL_USERS),
    "POST /api/v1/tickets/{ticket_id}/{action=cancel}": staff(*AGENTS, partner=ALL_USERS),
    "POST /api/v1/tickets/{ticket_id}/{action=reopen}": staff(*AGENTS, partner=ALL_USERS),
    "GET /api/v1/sla-policies": staff(),
    "PUT /api/v1/sla-policies": staff("admin"),
    "GET /api/v1/calendar/overrides": staff(),
    "PUT /api/v1/calendar/overrides/{day}": staff("admin"),
    "DELETE /api/v1/calendar/overrides/{day}": staff("admin"),
    "GET /api/v1/calendar/status": staff(),
    "PUT /api/v1/calendar/status/{year}": staff("admin"),
    "GET /api/v1/reports/sla": staff(),
    # admission (admission.service: reviewers decide, the applicant's admin fills and submits)
    "POST /api/v1/applicants": PUBLIC,
    "POST /api/v1/applications": staff("reviewer", partner={"admin"}),
    "GET /api/v1/applications": SIGNED_IN,
    "GET /api/v1/applications/{application_id}": SIGNED_IN,
    "PATCH /api/v1/applications/{application_id}": staff("reviewer", partner={"admin"}),
    "POST /api/v1/applications/{application_id}/documents": staff("reviewer", partner={"admin"}),
    "GET /api/v1/applications/{application_id}/documents/{document_id}": SIGNED_IN,
    "POST /api/v1/applications/{application_id}/submit": staff("reviewer", partner={"admin"}),
    "POST /api/v1/applications/{application_id}/withdraw": staff("reviewer", partner={"admin"}),
    "POST /api/v1/applications/{application_id}/review": staff("reviewer"),
    "POST /api/v1/applications/{application_id}/checklist": staff("reviewer"),
    "POST /api/v1/applications/{application_id}/decision": staff("reviewer"),
    "POST /api/v1/applications/{application_id}/contract": staff("reviewer"),
    "POST /api/v1/applications/{application_id}/activate": staff("reviewer", "billing_clerk"),
    "GET /api/v1/contracts": SIGNED_IN,
    "POST /api/v1/contracts/{contract_id}/renew": staff("reviewer"),
    "POST /api/v1/partners/{partner_id}/terminate": staff("reviewer"),
    "POST /api/v1/exit-bans": staff("reviewer"),
    "GET /api/v1/exit-bans": staff(),
    # obligations (admission.obligations: the partner's admin files, reviewers request and decide)
    "GET /api/v1/partners/{partner_id}/obligations": SIGNED_IN,
    "POST /api/v1/partners/{partner_id}/contact-changes": staff("reviewer", partner={"admin"}),
    "POST /api/v1/contact-changes/{change_id}/handover": staff("reviewer", partner={"admin"}),
    "POST /api/v1/partners/{partner_id}/change-notices": staff("reviewer", partner={"admin"}),
    "POST /api/v1/partners/{partner_id}/reports": staff("reviewer"),
    "GET /api/v1/reports": SIGNED_IN,
    "POST /api/v1/reports/{report_id}/submit": staff("reviewer", partner={"admin"}),
    "POST /api/v1/partners/{partner_id}/publicity": staff("reviewer", partner={"admin"}),
    "POST /api/v1/publicity/{filing_id}/decision": staff("reviewer"),
    # notifications and jobs
    "GET /api/v1/notifications": SIGNED_IN,
    "GET /api/v1/notifications/unread-count": SIGNED_IN,
    "POST /api/v1/notifications/read-all": SIGNED_IN,
    "POST /api/v1/notifications/{notification_id}/read": SIGNED_IN,
    "GET /api/v1/notification-deliveries": staff(),
    "GET /api/v1/jobs": staff(),
}

# Path parameters naming a partner's object (the isolation test's subjects), and the others.
PARTNER_OWNED = {
    "partner_id": "partner_id",
    "order_id": "order_id",
    "payment_id": "payment_id",
    "invoice_ref": "invoice_id",
    "client_id": "client_id",
    "ticket_id": "ticket_id",
    "attachment_id": "attachment_id",
    "notification_id": "notification_id",
    "statement_id": "statement_id",
    "application_id": "application_id",
    "document_id": "document_id",
    "contract_id": "contract_id",
    "change_id": "change_id",
    "report_id": "report_id",
    "filing_id": "filing_id",
}
NOT_PARTNER_OWNED = {
    "product_ref": "sms-standard",
    "day": "2026-12-05",
    "year": "2027",
    "provider": "wechatpay",
}
# A time well after the world's clock (change notices need days of lead time, reports a future due date).
LATER = "2030-01-01T00:00:00+08:00"
# Required query parameters, by name.
QUERY_VALUES = {"year": "2026", "month": "2026-10"}


# ---- a valid request per row ---------------------------------------------------------------------


@dataclass
class Req:
    path: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    content: bytes | None = None  # a raw body (with its Content-Type in headers)
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # instead of the caller's own


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def minimal(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The smallest value the schema accepts: required properties only, first enum value, bounds."""
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(doc, s).get("type") != "null"]
            return minimal(doc, options[0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: minimal(doc, props[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(doc, schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    length = min(max(schema.get("minLength", 1), 4), schema.get("maxLength", 4))
    return ("访问矩阵" * length)[:length]


def default_request(doc: dict[str, Any], row: Row, home: Objects) -> Req:
    """Path parameters from the caller's own partner's objects, required query parameters by name, and a
    minimal body from the schema when the operation takes a required JSON body."""
    path: dict[str, str] = dict(row.fixed)
    for name in row.path_params:
        if name in path:
            continue
        if name in PARTNER_OWNED:
            path[name] = getattr(home, PARTNER_OWNED[name])
        elif name in NOT_PARTNER_OWNED:
            path[name] = NOT_PARTNER_OWNED[name]
        else:
            raise AssertionError(f"{row.label}: no value for the path parameter {name!r}")
    query = {p["name"]: QUERY_VALUES[p["name"]] for p in row.query_params if p.get("required")}
    req = Req(path, query)
    body = row.op.get("requestBody")
    if body and body.get("required") and "application/json" in body["content"]:
        req.json = minimal(doc, body["content"]["application/json"]["schema"])
    return req


Builder = Callable[[SecWorld, Who, Objects, Req], Awaitable[None]]
BUILDERS: dict[str, Builder] = {}


def builder(*labels: str) -> Callable[[Builder], Builder]:
    def add(fn: Builder) -> Builder:
        for label in labels:
            assert label in ALLOW, label
            BUILDERS[label] = fn
        return fn

    return add


def _on_behalf(who: Who, home: Objects, body: dict[str, Any]) -> dict[str, Any]:
    """Operators name the partner they act for; partner users act for their own."""
    return body if who.kind == "partner" else {**body, "partnerId": home.partner_id}


@builder("POST /api/v1/partners/register")
async def _register(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    n = w.n()
    req.json = {
        "name": f"矩阵应用{n}",
        "username": f"mx-ap-{n}",
        "password": PASSWORD,
        "contactName": "赵六",
        "contactEmail": f"mx-ap-{n}@example.com",
        "contactPhone": "13700137000",
    }


@builder("POST /api/v1/partners")
async def _create_si(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"name": f"矩阵集成{w.n()}", "billingMode": "prepaid"}


@builder("PATCH /api/v1/partners/{partner_id}")
async def _update_partner(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"contactName": "王五"}


@builder("POST /api/v1/partners/{partner_id}/suspend", "POST /api/v1/partners/{partner_id}/exit")
async def _status(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    # Operators act on a partner of their own making (an exited or suspended A would steer later calls).
    if who.kind == "operator":
        req.path["partner_id"] = await w.fresh_partner()


@builder("POST /api/v1/partners/{partner_id}/activate")
async def _activate(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.kind == "operator":
        req.path["partner_id"] = await w.fresh_partner(suspended=True)


@builder("POST /api/v1/partners/{partner_id}/users")
async def _user(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"username": f"mx-user-{w.n()}", "password": PASSWORD, "role": "developer"}


@builder("POST /api/v1/partners/{partner_id}/clients")
async def _client(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"name": "access matrix", "scopes": ["sms"]}


@builder("DELETE /api/v1/partners/{partner_id}/clients/{client_id}")
async def _revoke(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["client_id"] = await w.fresh_client(home.partner_id)


@builder("POST /api/v1/auth/login")
async def _login(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.kind == "operator":
        req.json = {"username": who.username, "password": PASSWORD}
    else:
        req.json = {"username": home.username, "password": home.password}


@builder("POST /api/v1/auth/logout")
async def _logout(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.token = await w.extra_token(who)


@builder("POST /api/v1/operators")
async def _operator(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"username": f"mx-op-{w.n()}", "password": PASSWORD, "roles": ["service_agent"]}


@builder("POST /oauth/token")
async def _token(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.data = {
        "grant_type": "client_credentials",
        "client_id": home.client_id,
        "client_secret": home.client_secret,
    }


@builder("POST /api/v1/products")
async def _product(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    n = w.n()
    req.json = {
        "code": f"mx-{n}",
        "capability": "sms",
        "nameZh": "矩阵短信",
        "nameEn": "Matrix SMS",
        "unit": "segment",
    }


@builder("PATCH /api/v1/products/{product_ref}")
async def _update_product(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"description": "access matrix"}


@builder("POST /api/v1/products/{product_ref}/price-plans")
async def _plan(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    valid_from = date(2027, 1, 1) + timedelta(days=w.n())  # each new version starts after the last
    tiers = [[0, "0.0600"], [100000, "0.0550"]]
    bands = {band: tiers for band in ("list", "certified", "close", "strategic")}
    req.json = {"validFrom": f"{valid_from.isoformat()}T00:00:00+08:00", "tiers": {"national": bands}}


@builder("POST /api/v1/orders")
async def _order(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        await w.no_active_order(home.partner_id, "sms-standard")
    req.json = _on_behalf(who, home, {"productId": "sms-standard"})


@builder("POST /api/v1/orders/{order_id}/cancel")
async def _cancel_order(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["order_id"] = await w.fresh_order(home.partner_id)


async def _ensure_alert(w: SecWorld, partner_id: str) -> None:
    from decimal import Decimal

    from openability.billing import alerts

    async with w.container.uow() as uow:
        await alerts.set_alert(uow, partner_id, Decimal("5.00"))


@builder(
    "GET /api/v1/accounts/{partner_id}/low-balance-alert",
    "DELETE /api/v1/accounts/{partner_id}/low-balance-alert",
)
async def _existing_alert(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    await _ensure_alert(w, req.path.get("partner_id", home.partner_id))


@builder("PUT /api/v1/accounts/{partner_id}/low-balance-alert")
async def _alert(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"threshold": "5.00"}


@builder("PUT /api/v1/partners/{partner_id}/invoice-profile")
async def _invoice_profile(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"buyerName": "访问矩阵有限公司", "invoiceType": "general"}


@builder("POST /api/v1/invoices/{invoice_ref}/fapiao")
async def _fapiao(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    # one number per invoice, so that a repeat is the same record (200), never a second one (409)
    invoice = req.path.get("invoice_ref", home.invoice_id)
    number = str(int.from_bytes(invoice.encode()[-8:], "big"))[-20:].rjust(20, "0")
    req.json = {"fapiaoNumber": number, "fapiaoDate": "2026-01-05"}


async def _set_hold(w: SecWorld, partner_id: str, held: bool) -> None:
    from openability.billing import holds

    async with w.container.uow() as uow:
        if held and not await holds.is_held(uow, partner_id):
            await holds.place_hold(uow, partner_id, "access matrix")
        elif not held and await holds.is_held(uow, partner_id):
            await holds.lift_hold(uow, partner_id)


@builder(
    "GET /api/v1/partners/{partner_id}/settlement-hold",
    "DELETE /api/v1/partners/{partner_id}/settlement-hold",
)
async def _held(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    await _set_hold(w, req.path.get("partner_id", home.partner_id), True)


@builder("POST /api/v1/partners/{partner_id}/settlement-hold")
async def _not_held(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    await _set_hold(w, req.path.get("partner_id", home.partner_id), False)
    req.json = {"reason": "R-TIER-03 bottom 10%"}


@builder("POST /api/v1/payments")
async def _payment(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    body = {"transactionId": f"mx-pay-{w.n()}", "amount": "10.00", "method": "bank_transfer"}
    req.json = _on_behalf(who, home, body)


@builder("POST /api/v1/payments/{payment_id}/confirm", "POST /api/v1/payments/{payment_id}/reject")
async def _pending_payment(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["payment_id"] = await w.fresh_pending_payment(home.partner_id)


@builder("POST /api/v1/payments/notify/{provider}")
async def _provider_notification(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.content = await w.fresh_provider_notification(home.partner_id)
    req.headers = {"Content-Type": "text/xml"}


@builder("POST /api/v1/statements/{statement_id}/confirm")
async def _confirm_statement(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["statement_id"] = await w.fresh_statement(home.partner_id)


@builder("POST /api/v1/statements/{statement_id}/disputes")
async def _dispute_statement(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["statement_id"] = await w.fresh_statement(home.partner_id)
    # A partner user disputes with its record list (a CSV of ids), an operator with a total.
    if who.kind == "partner":
        req.data = {"reason": "access matrix"}
        req.files = {"records": ("records.csv", b"request_id\nmx-unknown-1\n", "text/csv")}
    else:
        req.data = {"partnerTotal": "12.34", "reason": "access matrix"}


@builder(
    "POST /api/v1/statements/{statement_id}/payment-notices",
    "POST /api/v1/statements/{statement_id}/payments",
)
async def _statement_payment(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        n = w.n()
        req.path["statement_id"] = await due_statement(
            w.container, home.partner_id, f"{1900 + n // 12:04d}-{n % 12 + 1:02d}"
        )
    req.json = {"transactionId": f"mx-stm-{w.n()}", "amount": "1.00", "bankReference": "矩阵转账"}


@builder("PUT /api/v1/partners/{partner_id}/required-deposit")
async def _required_deposit(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    # Operators set it on a postpaid SI of their own making (the world's partners are prepaid).
    if who.kind == "operator":
        from openability.partners import lifecycle
        from openability.partners.schemas import CreateSi

        async with w.container.uow() as uow:
            p = await lifecycle.create_si(
                uow, CreateSi(name=f"矩阵后付费伙伴{w.n()}", billing_mode="postpaid", activate=True)
            )
            req.path["partner_id"] = p.id
    req.json = {"amount": "100.00"}


@builder("POST /api/v1/tickets")
async def _ticket(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = _on_behalf(who, home, {"type": "consultation", "subtype": "tariffs", "subject": "资费咨询"})


@builder("POST /api/v1/tickets/{ticket_id}/attachments")
async def _attachment(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.files = {"file": ("说明.pdf", PDF, "application/pdf")}


@builder("POST /api/v1/tickets/{ticket_id}/reassign")
async def _reassign(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["ticket_id"] = await w.fresh_ticket(home.partner_id)
    req.json = {"ownerId": w.operator_ids["m-service_agent"]}


@builder(
    *(f"POST /api/v1/tickets/{{ticket_id}}/{{action={a}}}" for a in ("start", "pend", "respond", "cancel"))
)
async def _transition(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["ticket_id"] = await w.fresh_ticket(home.partner_id)


@builder("POST /api/v1/tickets/{ticket_id}/{action=resolve}")
async def _resolve_ticket(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["ticket_id"] = await w.fresh_ticket(home.partner_id)
    req.json = {"resolution": "已答复"}


@builder(
    "POST /api/v1/tickets/{ticket_id}/{action=close}", "POST /api/v1/tickets/{ticket_id}/{action=reopen}"
)
async def _resolved_ticket(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["ticket_id"] = await w.fresh_ticket(home.partner_id, "resolved")


@builder("PUT /api/v1/sla-policies")
async def _policies(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    admin = w.headers(w.who["op:admin"])
    current = await w.client.get("/api/v1/sla-policies", headers=admin)
    assert current.status_code == 200, current.text
    req.json = {"items": current.json()["items"], "note": "access matrix"}


@builder("DELETE /api/v1/calendar/overrides/{day}")
async def _override(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    day = date(2026, 12, 12)
    await w.calendar_override(day)
    req.path["day"] = day.isoformat()


@builder("POST /api/v1/notifications/{notification_id}/read")
async def _notification(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["notification_id"] = await w.fresh_notification(who, home.partner_id)


# ---- admission ----


@builder("POST /api/v1/applicants")
async def _applicant(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    n = w.n()
    req.json = {
        "name": f"矩阵集成申请{n}有限公司",
        "username": f"mx-si-{n}",
        "password": PASSWORD,
        "contactName": "钱八",
        "contactEmail": f"mx-si-{n}@example.com",
        "contactPhone": "13700137000",
    }


@builder("POST /api/v1/applications")
async def _application(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    # Only an SI applicant has applications (A and B are admitted already): operators name a new one; a
    # partner admin acts as a new applicant's admin (other partner roles keep their own token: 403).
    if who.kind == "operator":
        pid, _ = await w.fresh_applicant()
        req.json = {"partnerId": pid}
    else:
        req.json = {}
        if who.role == "admin":
            _, req.token = await w.fresh_applicant()


@builder(
    "PATCH /api/v1/applications/{application_id}",
    "POST /api/v1/applications/{application_id}/withdraw",
    "POST /api/v1/applications/{application_id}/submit",
)
async def _draft_application(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["application_id"] = await w.fresh_application(home.partner_id)


@builder("POST /api/v1/applications/{application_id}/documents")
async def _document(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["application_id"] = await w.fresh_application(home.partner_id)
    req.data = {"kind": "business_plan"}
    req.files = {"file": ("计划书.pdf", PDF, "application/pdf")}


@builder("POST /api/v1/applications/{application_id}/review")
async def _submitted_application(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["application_id"] = await w.fresh_application(home.partner_id, "submitted")


@builder("POST /api/v1/applications/{application_id}/checklist")
async def _checklist(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    await _submitted_application(w, who, home, req)
    req.json = {"items": [{"item": "compliance", "passed": True, "comment": "矩阵"}]}


@builder("POST /api/v1/applications/{application_id}/decision")
async def _decision(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["application_id"] = await w.fresh_application(home.partner_id, "underReview")
    req.json = {"decision": "return", "reason": "矩阵：请补充材料"}


@builder("POST /api/v1/applications/{application_id}/contract")
async def _contract(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.kind == "operator":
        req.path["application_id"] = await w.fresh_applicant_application("approved")
    req.json = {
        "number": f"MX-N-{w.n()}",
        "billingMode": "prepaid",
        "validFrom": "2026-11-01",
        "validTo": "2027-10-31",
    }


@builder("POST /api/v1/applications/{application_id}/activate")
async def _activate_admitted(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.kind == "operator":
        req.path["application_id"] = await w.fresh_applicant_application("contracted")


@builder("POST /api/v1/contracts/{contract_id}/renew")
async def _renew(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.kind == "operator":
        req.path["contract_id"] = await w.fresh_contract(home.partner_id)
    req.json = {"number": f"MX-R-{w.n()}", "validTo": "2028-12-31"}


@builder("POST /api/v1/partners/{partner_id}/terminate")
async def _terminate(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.kind == "operator":
        req.path["partner_id"] = await w.fresh_partner()
    req.json = {"reason": "矩阵测试"}


@builder("POST /api/v1/exit-bans")
async def _ban(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"companyName": f"矩阵禁入{w.n()}有限公司", "reason": "矩阵测试"}


@builder("POST /api/v1/partners/{partner_id}/contact-changes")
async def _contact_change(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        await w.no_waiting_contact_change(req.path["partner_id"])  # a waiting one refuses the next (409)
    req.json = {"name": "矩阵新接口人", "phone": "13700137001", "effectiveAt": LATER, "reason": "矩阵"}


@builder("POST /api/v1/contact-changes/{change_id}/handover")
async def _handover(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["change_id"] = await w.fresh_contact_change(home.partner_id)
    req.json = {"note": "矩阵交接"}


@builder("POST /api/v1/partners/{partner_id}/change-notices")
async def _change_notice(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"kind": "product_upgrade", "summary": "矩阵升级", "effectiveAt": LATER}


@builder("POST /api/v1/partners/{partner_id}/reports")
async def _report_request(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.json = {"kind": "business_analysis", "title": "矩阵报告", "dueAt": LATER}


@builder("POST /api/v1/reports/{report_id}/submit")
async def _report_submit(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["report_id"] = await w.fresh_report(home.partner_id)
    req.data = {"note": "矩阵提交"}


@builder("POST /api/v1/partners/{partner_id}/publicity")
async def _publicity(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    req.data = {"title": "矩阵宣传"}
    req.files = {"file": ("宣传.pdf", PDF, "application/pdf")}


@builder("POST /api/v1/publicity/{filing_id}/decision")
async def _publicity_decision(w: SecWorld, who: Who, home: Objects, req: Req) -> None:
    if who.authenticated:
        req.path["filing_id"] = await w.fresh_filing(home.partner_id)
    req.json = {"approve": True}


async def build_request(w: SecWorld, doc: dict[str, Any], row: Row, who: Who, home: Objects) -> Req:
    req = default_request(doc, row, home)
    fn = BUILDERS.get(row.label)
    if fn is not None:
        await fn(w, who, home, req)
    return req


async def send(w: SecWorld, row: Row, who: Who, req: Req) -> httpx.Response:
    url = row.path
    for name, value in req.path.items():
        url = url.replace("{" + name + "}", value)
    token = req.token if req.token is not None else who.token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await w.client.request(
        row.method,
        url,
        params=req.query or None,
        json=req.json,
        data=req.data,
        files=req.files,
        content=req.content,
        headers={**req.headers, **headers},
    )
