"""Role × route matrix (issue 8, "the tests that keep it so"): every operation of the OpenAPI document under
/api/v1 and /oauth, called with a valid request by every kind of caller — an operator of each operator
role, partner A's users of each partner-user role, partner B's users, A's API client token and the
anonymous caller — and each answer held to the expectation in access_routes.ALLOW:

- the anonymous caller (and an API client's token, which does not sign in to the management API) gets 401
  everywhere but the public list (registration, login, the OAuth token endpoint);
- nobody gets a 5xx, anywhere;
- a partner user never gets a 2xx on an operator-only route (those whose handler depends on
  require_operator are checked against the table);
- each operator role and partner-user role gets a 2xx exactly where its role allows, a 403 elsewhere.

The matrix (route × caller → status) is printed to the test log (`pytest -s` or `-rP`)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from access_routes import (
    ALLOW,
    PUBLIC_ROUTES,
    Row,
    build_request,
    management_rows,
    operator_only_by_dependency,
    send,
)
from access_world import SecWorld, Who

from openability.bootstrap import build_container
from openability.config import Settings
from openability.kernel.db import make_engine

# Columns of the printed matrix, in this order.
CALLERS = [
    "op:admin",
    "op:reviewer",
    "op:product_manager",
    "op:billing_clerk",
    "op:service_lead",
    "op:service_agent",
    "A:admin",
    "A:developer",
    "A:finance",
    "B:admin",
    "B:developer",
    "B:finance",
    "A:client",
    "anonymous",
]
SHORT = {
    "op:admin": "adm",
    "op:reviewer": "rev",
    "op:product_manager": "pm",
    "op:billing_clerk": "bill",
    "op:service_lead": "lead",
    "op:service_agent": "agt",
    "A:admin": "A.adm",
    "A:developer": "A.dev",
    "A:finance": "A.fin",
    "B:admin": "B.adm",
    "B:developer": "B.dev",
    "B:finance": "B.fin",
    "A:client": "A.cli",
    "anonymous": "anon",
}


def _document() -> tuple[Any, dict[str, Any]]:
    """The app and the document it serves, built without a database."""
    from openability.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), smsc_enabled=False, run_test_smsc=False, _env_file=None)  # type: ignore[call-arg]
        app = create_app(
            build_container(settings, engine=make_engine("sqlite+aiosqlite://")), manage_container=False
        )
        return app, app.openapi()


def test_every_route_has_an_expectation() -> None:
    """A route the table does not know fails here (so a new route is covered the day it is added); so does
    a table entry whose route is gone."""
    _, doc = _document()
    labels = {row.label for row in management_rows(doc)}
    assert labels - ALLOW.keys() == set(), "routes without an expectation in access_routes.ALLOW"
    assert ALLOW.keys() - labels == set(), "expectations of routes the app no longer has"
    public = {label for label, allow in ALLOW.items() if allow.public}
    assert public == PUBLIC_ROUTES


def test_operator_only_routes_match_their_dependencies() -> None:
    """Every route whose handler depends on require_operator is operator-only in the table (no partner
    role may get a 2xx there)."""
    app, doc = _document()
    by_dependency = operator_only_by_dependency(app)
    documented = {f"{m.upper()} {path}" for path, ops in doc["paths"].items() for m in ops}
    assert by_dependency <= documented, "the dependency walk found paths the document does not have"
    rows = [row for row in management_rows(doc) if f"{row.method} {row.path}" in by_dependency]
    assert rows, "no route depends on require_operator: the derivation is broken"
    wrong = [row.label for row in rows if ALLOW[row.label].partner or ALLOW[row.label].public]
    assert wrong == []


def _violation(row: Row, who: Who, r: httpx.Response, operator_only: set[str]) -> str | None:
    status = r.status_code
    where = f"{row.label} as {who.name}: {status} {r.text[:200]}"
    if status >= 500:
        return f"5xx: {where}"
    if who.kind == "partner" and f"{row.method} {row.path}" in operator_only and status < 300:
        return f"partner got a 2xx on an operator-only route: {where}"
    expected = ALLOW[row.label].expected(who)
    if expected == 200 and not 200 <= status < 300:
        return f"expected 2xx: {where}"
    if expected != 200 and status != expected:
        return f"expected {expected}: {where}"
    if status >= 400:
        body = r.json()
        if body.get("status") != status or not body.get("code") or not body.get("message"):
            return f"error body is not {{status, code, message}}: {where}"
    return None


def _table(rows: list[Row], results: dict[str, dict[str, int]]) -> str:
    width = max(len(row.label) for row in rows)
    head = " ".join(f"{SHORT[c]:>5}" for c in CALLERS)
    lines = [f"{'route':<{width}} {head}"]
    for row in rows:
        cells = " ".join(f"{results[row.label][c]:>5}" for c in CALLERS)
        lines.append(f"{row.label:<{width}} {cells}")
    return "\n".join(lines)


async def test_role_route_matrix(sec: SecWorld, backend: str) -> None:
    doc = sec.app.openapi()
    rows = management_rows(doc)
    operator_only = operator_only_by_dependency(sec.app)
    assert set(CALLERS) == set(sec.who)
    results: dict[str, dict[str, int]] = {}
    violations: list[str] = []
    for row in rows:
        results[row.label] = {}
        for name in CALLERS:
            who = sec.who[name]
            req = await build_request(sec, doc, row, who, sec.objects[who.partner or "A"])
            r = await send(sec, row, who, req)
            results[row.label][name] = r.status_code
            problem = _violation(row, who, r, operator_only)
            if problem is not None:
                violations.append(problem)
    statuses = Counter(s for per in results.values() for s in per.values())
    operations = {(row.method, row.path) for row in rows}
    print(f"\naccess matrix ({backend}): route × caller → HTTP status\n{_table(rows, results)}")
    print(
        f"access matrix ({backend}): {len(operations)} operations ({len(rows)} rows with the ticket actions "
        f"apart) × {len(CALLERS)} callers = {sum(statuses.values())} calls; statuses "
        f"{dict(sorted(statuses.items()))}; violations {len(violations)}"
    )
    assert violations == [], "\n".join(violations)
