"""Partner isolation (issue 8, kernel.access): one partner's users cannot tell another partner's objects from
objects that do not exist.

- Every route with a path parameter naming a partner's object (partner, order, payment, invoice, API
  client, ticket, attachment, notification; found in the OpenAPI document, so a new route is covered):
  each of partner B's users asking for partner A's object gets exactly the answer (status and code) an
  unknown id gets, never a 2xx. Where the user's role may use the route on its own partner's objects,
  that answer is 404 NOT_FOUND (a 403 would tell "it exists"). Where it may not (operator-only routes, a
  finance user revoking API clients), the user is refused with 403 whatever the id, or the id is looked
  up first and answers 404: either way the same as an unknown id. A route taking two ids is also asked
  with B's own parent and A's child (B's partner with A's client, B's ticket with A's attachment).
- Every list with a `partner_id` query filter: B asking for A's rows gets 404 (kernel.access.scope_partner)
  or only its own rows, and without a filter only its own rows; an operator asking for A's rows gets them
  (so the check is not vacuous)."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
from access_routes import (
    ALLOW,
    NOT_PARTNER_OWNED,
    PARTNER_OWNED,
    Req,
    Row,
    build_request,
    management_rows,
    send,
)
from access_world import SecWorld

B_USERS = ("B:admin", "B:developer", "B:finance")


def _unknown(value: str) -> str:
    """An id shaped like the real one (same prefix) that names nothing."""
    prefix, sep, _ = value.partition("_")
    return f"{prefix}_0unknown0000000" if sep else "0unknown0000000"


def _answer(r: httpx.Response) -> tuple[int, str]:
    code = (
        r.json().get("code", "") if r.headers.get("content-type", "").startswith("application/json") else ""
    )
    return r.status_code, str(code)


def _id_rows(doc: dict[str, Any]) -> list[Row]:
    rows = []
    for row in management_rows(doc):
        params = set(row.path_params) - {name for name, _ in row.fixed}
        unclassified = params - PARTNER_OWNED.keys() - NOT_PARTNER_OWNED.keys()
        assert not unclassified, f"{row.label}: classify {unclassified} in access_routes"
        if params & PARTNER_OWNED.keys():
            rows.append(row)
    return rows


async def test_partner_cannot_tell_another_partners_objects_from_unknown_ids(
    sec: SecWorld, backend: str
) -> None:
    doc = sec.app.openapi()
    rows = _id_rows(doc)
    a, b = sec.objects["A"], sec.objects["B"]
    violations: list[str] = []
    lines: list[str] = []
    calls = 0
    for row in rows:
        owned = [p for p in row.path_params if p in PARTNER_OWNED]
        for name in B_USERS:
            who = sec.who[name]
            entitled = ALLOW[row.label].allows(who)  # on B's own objects
            req = await build_request(
                sec, doc, row, who, a
            )  # A's objects (fresh where the call changes them)
            cases: list[tuple[str, Req, Req]] = []
            unknown = dataclasses.replace(req, path={**req.path, **{p: _unknown(req.path[p]) for p in owned}})
            cases.append(("A's", req, unknown))
            if len(owned) == 2:  # B's own parent, A's child
                parent, child = owned
                mixed = dataclasses.replace(req, path={**req.path, parent: getattr(b, PARTNER_OWNED[parent])})
                mixed_unknown = dataclasses.replace(
                    mixed, path={**mixed.path, child: _unknown(req.path[child])}
                )
                cases.append((f"B's {parent} with A's {child}", mixed, mixed_unknown))
            for what, theirs, nothing in cases:
                got = await send(sec, row, who, theirs)
                ref = await send(sec, row, who, nothing)
                calls += 2
                lines.append(
                    f"{row.label:<62} {name:<12} {what:<34} {got.status_code} / unknown {ref.status_code}"
                )
                where = f"{row.label} as {name} with {what} ids: {got.status_code} {got.text[:200]}"
                if got.status_code < 300:
                    violations.append(f"2xx: {where}")
                elif _answer(got) != _answer(ref):
                    violations.append(f"differs from an unknown id's {_answer(ref)}: {where}")
                elif entitled and _answer(got) != (404, "NOT_FOUND"):
                    violations.append(f"expected 404 NOT_FOUND: {where}")
                elif got.status_code not in (403, 404):
                    violations.append(f"expected 403 or 404: {where}")
    print(f"\npartner isolation ({backend}): B's users asking for A's objects\n" + "\n".join(lines))
    print(
        f"partner isolation ({backend}): {len(rows)} routes with a partner's id × {len(B_USERS)} users, "
        f"{calls} calls; violations {len(violations)}"
    )
    assert violations == [], "\n".join(violations)


def _partner_ids(body: Any) -> set[str]:
    """Every partnerId in an answer (list items, a usage summary and its rows)."""
    if isinstance(body, dict):
        own = {body["partnerId"]} if isinstance(body.get("partnerId"), str) else set()
        return own.union(*(_partner_ids(v) for v in body.values()))
    if isinstance(body, list):
        return set().union(*(_partner_ids(v) for v in body))
    return set()


async def test_partner_id_filters_show_a_partner_only_its_own_rows(sec: SecWorld, backend: str) -> None:
    doc = sec.app.openapi()
    a, b = sec.objects["A"].partner_id, sec.objects["B"].partner_id
    rows = [
        row
        for row in management_rows(doc)
        if row.method == "GET" and any(p["name"] == "partner_id" for p in row.query_params)
    ]
    assert len(rows) >= 6, [row.label for row in rows]
    violations: list[str] = []
    lines: list[str] = []
    for row in rows:
        admin = sec.who["op:admin"]
        seen = await send(sec, row, admin, Req({}, {"partner_id": a}))
        assert seen.status_code == 200 and a in _partner_ids(seen.json()), f"{row.label}: A has no rows"
        for name in B_USERS:
            who = sec.who[name]
            theirs = await send(sec, row, who, Req({}, {"partner_id": a}))
            unknown = await send(sec, row, who, Req({}, {"partner_id": _unknown(a)}))
            own = await send(sec, row, who, Req({}, {}))
            lines.append(
                f"{row.label:<28} {name:<12} partner_id=A: {theirs.status_code} "
                f"(unknown {unknown.status_code}), no filter: {own.status_code} {sorted(_partner_ids(own.json()))}"
            )
            where = f"{row.label}?partner_id=A as {name}: {theirs.status_code} {theirs.text[:200]}"
            if theirs.status_code == 200:
                if not _partner_ids(theirs.json()) <= {b}:
                    violations.append(f"A's rows shown: {where}")
            elif _answer(theirs) != (404, "NOT_FOUND") or _answer(theirs) != _answer(unknown):
                violations.append(f"expected 404 NOT_FOUND like an unknown partner: {where}")
            if own.status_code != 200 or _partner_ids(own.json()) != {b}:
                violations.append(
                    f"{row.label} as {name} without a filter: {own.status_code} {own.text[:200]}"
                )
    print(f"\npartner_id filters ({backend}):\n" + "\n".join(lines))
    assert violations == [], "\n".join(violations)


async def test_draft_products_look_unknown_to_partners(sec: SecWorld) -> None:
    """A product still in draft answers a partner user exactly as a product that does not exist."""
    from openability.catalog import service as catalog
    from openability.catalog.schemas import ProductCreate

    async with sec.container.uow() as uow:
        await catalog.create_product(
            uow,
            ProductCreate.model_validate(
                {
                    "code": "mx-draft",
                    "capability": "sms",
                    "nameZh": "草稿短信",
                    "nameEn": "Draft SMS",
                    "unit": "segment",
                    "status": "draft",
                }
            ),
        )
    for path in ("/api/v1/products/{}", "/api/v1/products/{}/price-plans"):
        for name in ("A:admin", "B:finance"):
            h = sec.headers(sec.who[name])
            draft = await sec.client.get(path.format("mx-draft"), headers=h)
            unknown = await sec.client.get(path.format("mx-nothing"), headers=h)
            assert _answer(draft) == _answer(unknown) == (404, "NOT_FOUND"), (path, name, draft.text)
        staff = await sec.client.get(path.format("mx-draft"), headers=sec.headers(sec.who["op:reviewer"]))
        assert staff.status_code == 200, staff.text
