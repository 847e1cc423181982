"""A fourth capability plugged in without touching the gateway or charging: one class implementing the
Capability protocol, a fake network element, and the runtime's capability list (docs/charging.md
"Adding a capability"). A charged call through the application is rated, charged and has its CDR.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select

from openability.capabilities import default_capabilities
from openability.capabilities import validation as v
from openability.capabilities.base import KB
from openability.capabilities.schemas import RECIPIENTS
from openability.catalog.models import Capability as CatalogCapability
from openability.catalog.models import OrderState, PricePlan, PriceTier, Product, ProductOrder
from openability.charging.models import Message, UsageRecord
from openability.charging.types import JsonObject
from openability.connectors.base import NetworkUnavailable, Submitted
from openability.kernel.ids import new_id
from openability.ledger.models import AccountType
from openability.partners.models import AccessToken, ApiClient

SCREEN_CHARS = 182  # one USSD screen
PRICE = Decimal("0.0200")  # per screen


class FakeUssdGateway:
    """The toy network element: pushes a USSD menu to a handset."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, str]] = []
        self.down = False
        self._ids = itertools.count(1)

    async def push(self, msisdn: str, text: str) -> Submitted:
        if self.down:
            raise NetworkUnavailable("USSD gateway down")
        self.pushed.append((msisdn, text))
        return Submitted(network_ids=[f"U{next(self._ids)}"], parts=1)


@dataclass(frozen=True, slots=True)
class UssdRequest:
    to: tuple[str, ...]
    menu: str
    client_correlator: str | None
    product_id: str | None


@dataclass(slots=True)
class UssdPlan:
    capability: ClassVar[str] = "ussd"
    operation: ClassVar[str] = "pushMenu"
    collection: ClassVar[str] = "sessions"
    id_field: ClassVar[str] = "sessionId"

    request: UssdRequest
    connector: FakeUssdGateway
    screens: int

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.request.to

    @property
    def estimate(self) -> int:
        return self.screens * len(self.request.to)

    def canonical(self) -> list[Any]:
        return ["ussd", list(self.request.to), self.request.menu]

    async def send(self, recipient: str) -> Submitted:
        return await self.connector.push(recipient, self.request.menu)

    def quantity_of(self, served: Submitted) -> int:
        return self.screens

    def response_fields(self) -> JsonObject:
        return {"screens": self.screens}

    def item_fields(self, served: Submitted) -> None:
        return None


class UssdCapability:
    """USSD menu push, charged per screen of 182 characters per recipient."""

    name: ClassVar[str] = "ussd"
    operation: ClassVar[str] = "pushMenu"
    collection: ClassVar[str] = "sessions"
    id_field: ClassVar[str] = "sessionId"
    max_body: ClassVar[int] = 8 * KB
    request_schema: ClassVar[tuple[str, dict[str, Any]]] = (
        "UssdPushRequest",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["to", "menu"],
            "properties": {"to": RECIPIENTS, "menu": {"type": "string", "minLength": 1}},
        },
    )

    def validate(self, body: Any, settings: Any) -> UssdRequest:
        b = v.check_object(body, frozenset({"to", "menu"}) | v.COMMON_FIELDS)
        to = v.check_recipients(b.get("to"), settings.max_recipients)
        menu = b.get("menu")
        if not isinstance(menu, str) or not menu.strip():
            raise v.bad("menu: a non-empty string is required")
        return UssdRequest(to, menu, v.correlator(b), v.product_ref(b))

    def plan(self, request: UssdRequest, connector: FakeUssdGateway) -> UssdPlan:
        return UssdPlan(request, connector, -(-len(request.menu) // SCREEN_CHARS))


@dataclass
class UssdWorld:
    partner_id: str
    product_id: str
    plan_id: str
    token: str


async def _ussd_world(container: Any, funded: Any) -> UssdWorld:
    """The catalog side of the new capability (capability, product, price plan), the partner's order
    and an API client with the `ussd` scope."""
    token = secrets.token_urlsafe(32)
    async with container.uow() as uow:
        s, now = uow.session, uow.now
        s.add(
            CatalogCapability(
                code="ussd", name_zh="USSD", name_en="USSD", operations=[], network_element="ussd-sim"
            )
        )
        prod, plan, client = new_id("prd"), new_id("pp"), new_id("cli")
        s.add(
            Product(
                id=prod,
                code="ussd-menu",
                capability_code="ussd",
                name_zh="USSD 菜单",
                name_en="USSD menu",
                unit="screen",
                created_at=now,
                updated_at=now,
            )
        )
        await s.flush()
        s.add(
            PricePlan(
                id=plan,
                product_id=prod,
                version=1,
                valid_from=now - timedelta(days=1),
                created_by="t",
                created_at=now,
            )
        )
        await s.flush()
        s.add(PriceTier(plan_id=plan, scope="national", band="list", from_volume=0, unit_price=PRICE))
        s.add(
            ProductOrder(
                id=new_id("ord"),
                partner_id=funded.partner_id,
                product_id=prod,
                state=OrderState.COMPLETED,
                active=True,
                created_at=now,
                completed_at=now,
            )
        )
        s.add(
            ApiClient(
                id=client,
                partner_id=funded.partner_id,
                name="app",
                secret_hash="x",
                scopes=["ussd"],
                active=True,
                created_at=now,
            )
        )
        s.add(
            AccessToken(
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                kind="client",
                subject_id=client,
                partner_id=funded.partner_id,
                scopes=["ussd"],
                name="test",
                created_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
    return UssdWorld(funded.partner_id, prod, plan, token)


@pytest.fixture
def ussd_gateway() -> FakeUssdGateway:
    return FakeUssdGateway()


@pytest.fixture
async def ussd(container: Any, ussd_gateway: FakeUssdGateway) -> AsyncIterator[httpx.AsyncClient]:
    """The whole application with USSD registered the way a fourth capability is: its class in the
    container's capability list and its network element among the connectors. Nothing in the gateway,
    charging or the app's wiring knows USSD."""
    from openability.app import create_app

    container.capabilities = (*default_capabilities(), UssdCapability())
    container.connectors.extra["ussd"] = ussd_gateway
    app = create_app(container, manage_container=False)
    assert "/capabilities/ussd/v1/sessions" in app.openapi()["paths"]
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


URL = "/capabilities/ussd/v1/sessions"


async def test_toy_capability_call_is_rated_charged_and_recorded(
    container: Any,
    funded: Any,
    ussd: httpx.AsyncClient,
    ussd_gateway: FakeUssdGateway,
    assert_ledger_clean: Any,
) -> None:
    w = await _ussd_world(container, funded)
    auth = {"Authorization": f"Bearer {w.token}"}
    menu = "1. 余额查询 2. 话费充值 " + "x" * 200  # 2 screens
    r = await ussd.post(URL, json={"to": ["+8613800138000", "+8613900139000"], "menu": menu}, headers=auth)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["screens"] == 2 and body["quantity"] == 4 and body["unit"] == "screen"
    assert body["amountCharged"] == "0.0800" and body["currency"] == "CNY"
    assert [s["to"] for s in body["sessions"]] == ["+8613800138000", "+8613900139000"]
    assert all(s["sessionId"].startswith("msg_") for s in body["sessions"])
    assert [to for to, _ in ussd_gateway.pushed] == ["+8613800138000", "+8613900139000"]

    async with container.uow() as uow:
        cdrs = (await uow.session.scalars(select(UsageRecord).where(UsageRecord.capability == "ussd"))).all()
        msgs = (await uow.session.scalars(select(Message).where(Message.capability == "ussd"))).all()
    assert len(cdrs) == 1
    cdr = cdrs[0]
    assert (cdr.product_id, cdr.price_plan_id, cdr.operation) == (w.product_id, w.plan_id, "pushMenu")
    assert (cdr.quantity, cdr.unit, cdr.amount) == (4, "screen", Decimal("0.0800"))
    assert cdr.response == body and cdr.recipients == ["+8613800138000", "+8613900139000"]
    assert sorted(m.id for m in msgs) == sorted(s["sessionId"] for s in body["sessions"])
    b = await funded.balances()
    assert b[AccountType.PREPAID_AVAILABLE] + b[AccountType.PREPAID_RESERVED] == Decimal("9.9200")

    # its status query and its refusals go through the same runtime
    sid = body["sessions"][0]["sessionId"]
    g = await ussd.get(f"{URL}/{sid}", headers=auth)
    assert g.status_code == 200 and g.json()["sessionId"] == sid
    r = await ussd.post(URL, json={"to": ["+8613800138000"], "menu": ""}, headers=auth)
    assert r.status_code == 400 and "menu" in r.json()["message"]
    ussd_gateway.down = True
    r = await ussd.post(URL, json={"to": ["+8613800138000"], "menu": "hi"}, headers=auth)
    assert r.status_code == 503
    assert len(ussd_gateway.pushed) == 2
    await assert_ledger_clean()
