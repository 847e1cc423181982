"""Collections tests (R-BILL-07..10) run a postpaid SI's month for real: usage through the gateway in
November, the bill run, issue and deemed confirmation in December (tests/billing/statements/conftest.py's
`month` world, loaded here by path), then the payment window, notices, clerk confirmations and the
collection jobs on a moved clock. Partner users act with their real role shape (`partner_<role>`)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.requests import Request

from openability.bootstrap import Container
from openability.kernel.notify import Notification
from openability.kernel.uow import Actor
from openability.partners.rules import PARTNER_ROLE_PREFIX
from openability.partners.types import BillingMode, PartnerKind
from support_direct_partners import Auth, fake_authenticator

_NAME = "statements_world"
if _NAME in sys.modules:
    statements_world = sys.modules[_NAME]
else:
    _PATH = Path(__file__).resolve().parents[1] / "statements" / "conftest.py"
    _spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    assert _spec is not None and _spec.loader is not None
    statements_world = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = statements_world
    _spec.loader.exec_module(statements_world)

client = statements_world.client
fakes = statements_world.fakes
kit = statements_world.kit
month = statements_world.month

__all__ = ["client", "fakes", "kit", "month"]

D = Decimal
_tx = itertools.count(1)


async def office_authenticator(request: Request) -> Actor | None:
    """`partner-user:<partner id>:<role>` as a real partner user is (roles `partner_<role>`); the rest as
    tests/support_direct_partners.py's fake authenticator."""
    who = request.headers.get("x-test-actor", "")
    if who.startswith("partner-user:"):
        _, pid, role = who.split(":")
        return Actor(
            type="partner_user",
            id=f"pu_{pid}_{role}",
            partner_id=pid,
            roles=frozenset({PARTNER_ROLE_PREFIX + role}),
        )
    return await fake_authenticator(request)


@dataclass
class Office:
    """A postpaid SI's month, its billing office and the calls it makes."""

    m: Any  # statements_world.Month
    kit: Any

    @property
    def container(self) -> Container:
        return self.m.container  # type: ignore[no-any-return]

    @property
    def http(self) -> httpx.AsyncClient:
        return self.m.http  # type: ignore[no-any-return]

    clerk = Auth.roles("billing_clerk")

    @staticmethod
    def user(world: Any, role: str = "finance") -> dict[str, str]:
        return {"X-Test-Actor": f"partner-user:{world.partner_id}:{role}"}

    async def postpaid(self, deposit: Decimal) -> Any:
        """An active postpaid SI (no tier: the certified band, 0.045 a segment) with `deposit` paid by
        bank transfer and confirmed by a clerk."""
        w = await self.kit.make_world(
            self.container,
            kind=PartnerKind.SI,
            billing_mode=BillingMode.POSTPAID,
            balance=D(0),
            caps=("sms",),
        )
        if deposit:
            await self.pay_deposit(w, deposit)
        return w

    async def pay_deposit(self, world: Any, amount: Decimal) -> str:
        r = await self.http.post(
            "/api/v1/payments",
            json={
                "partnerId": world.partner_id,
                "transactionId": f"dep-{next(_tx)}",
                "amount": f"{amount:.2f}",
                "method": "bank_transfer",
                "purpose": "deposit",
                "bankReference": "BANK-DEP",
            },
            headers=self.clerk,
        )
        assert r.status_code == 201, r.text
        c = await self.http.post(f"/api/v1/payments/{r.json()['id']}/confirm", headers=self.clerk)
        assert c.status_code == 200, c.text
        return str(r.json()["id"])

    async def november(self, *worlds: Any, units: int = 100) -> list[str]:
        """`units` segments each in November; billed on 1 December, issued on the 3rd, deemed confirmed
        when the 15th ends: due. Returns the statement ids."""
        self.m.at(11, 12, 9)
        for w in worlds:
            await self.m.send(w, units)
        self.m.at(12, 1, 0, 0, 10)
        assert await self.m.run("bill-run") is not None
        self.m.at(12, 3, 0, 0, 10)
        assert await self.m.run("statement-issue") is not None
        self.m.at(12, 16, 0, 0, 1)
        assert await self.m.run("deemed-confirmation") is not None
        return [(await self.due(w))["statementId"] for w in worlds]

    async def due(self, world: Any) -> dict[str, Any]:
        r = await self.http.get(
            "/api/v1/collections", params={"partner_id": world.partner_id}, headers=self.clerk
        )
        assert r.status_code == 200, r.text
        (item,) = r.json()["items"]
        return dict(item)

    async def notice(
        self, world: Any, statement_id: str, amount: str, *, ref: str = "BANK-1", tx: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/statements/{statement_id}/payment-notices",
            json={"transactionId": tx or f"ntc-{next(_tx)}", "amount": amount, "bankReference": ref},
            headers=self.user(world),
        )

    async def confirm(self, payment_id: str) -> httpx.Response:
        return await self.http.post(f"/api/v1/payments/{payment_id}/confirm", headers=self.clerk)

    async def sms(self, world: Any, http: httpx.AsyncClient | None = None) -> httpx.Response:
        token = await world.new_token(["sms"])
        return await (http or self.http).post(
            "/capabilities/sms/v1/messages",
            json={"to": ["+8613800138000"], "text": "hello"},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def status(self, world: Any) -> str:
        r = await self.http.get(f"/api/v1/partners/{world.partner_id}", headers=self.clerk)
        assert r.status_code == 200, r.text
        return str(r.json()["status"])

    async def notices(self, kind: str) -> list[Notification]:
        async with self.container.uow() as uow:
            rows = await uow.session.scalars(select(Notification).where(Notification.kind == kind))
            return list(rows.all())


@pytest.fixture
def office(month: Any, kit: Any, container: Container) -> Office:
    container.authenticator = office_authenticator
    return Office(month, kit)
