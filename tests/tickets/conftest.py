"""Ticket test fixtures: partners, operators and partner users as plain rows (so these tests do not
depend on admission flows), login tokens stored the way partners/tokens.py stores them, CDRs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from openability.bootstrap import Container
from openability.kernel.ids import new_id, new_secret
from openability.kernel.uow import Actor
from openability.partners.models import AccessToken, Operator, Partner, PartnerUser
from openability.partners.tokens import hash_token
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus

# A real argon2 hash of "pw-123456" is not needed here: login is exercised in the browser test.
FAKE_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$3aK6Hh7YQfrlNi3sZ7C3eA"


@dataclass
class World:
    container: Container

    async def partner(
        self, name: str = "", *, owner_id: str | None = None, status: PartnerStatus = PartnerStatus.ACTIVE
    ) -> Partner:
        now = self.container.clock.now()
        p = Partner(
            id=new_id("prt"),
            kind=PartnerKind.AP,
            name=name or f"测试伙伴 {new_id('x')[-6:]}",
            billing_mode=BillingMode.PREPAID,
            status=status,
            service_owner_id=owner_id,
            created_at=now,
            updated_at=now,
        )
        async with self.container.uow() as uow:
            uow.session.add(p)
        return p

    async def operator(
        self,
        username: str,
        roles: list[str],
        *,
        lead_id: str | None = None,
        active: bool = True,
        password_hash: str = FAKE_HASH,
    ) -> Operator:
        op = Operator(
            id=new_id("opr"),
            username=username,
            display_name=username.title(),
            password_hash=password_hash,
            roles=roles,
            lead_id=lead_id,
            active=active,
            created_at=self.container.clock.now(),
        )
        async with self.container.uow() as uow:
            uow.session.add(op)
        return op

    async def user(self, partner: Partner, username: str = "", password_hash: str = FAKE_HASH) -> PartnerUser:
        u = PartnerUser(
            id=new_id("pu"),
            partner_id=partner.id,
            username=username or f"u{new_id('x')[-8:]}",
            display_name="伙伴用户",
            password_hash=password_hash,
            role="admin",
            active=True,
            created_at=self.container.clock.now(),
        )
        async with self.container.uow() as uow:
            uow.session.add(u)
        return u

    async def token(self, kind: str, subject_id: str, partner_id: str | None = None) -> str:
        tok = new_secret(32)
        async with self.container.uow() as uow:
            uow.session.add(
                AccessToken(
                    token_hash=hash_token(tok),
                    kind=kind,
                    subject_id=subject_id,
                    partner_id=partner_id,
                    scopes=[],
                    name="test",
                    created_at=self.container.clock.now(),
                    expires_at=None,
                )
            )
        return tok

    async def cdr(
        self,
        partner: Partner,
        *,
        amount: str = "0.0500",
        quantity: int = 1,
        occurred_at: datetime | None = None,
    ) -> str:
        """A usage record with the rows its foreign keys need (capability, product, journal entry)."""
        from openability.catalog.models import Capability, Product
        from openability.charging.models import UsageRecord
        from openability.ledger.models import JournalEntry
        from openability.ledger.types import EntryKind

        now = self.container.clock.now()
        at = occurred_at or now
        async with self.container.uow() as uow:
            if await uow.session.get(Capability, "sms") is None:
                uow.session.add(
                    Capability(
                        code="sms", name_zh="短信", name_en="SMS", operations=[], network_element="smpp"
                    )
                )
                await uow.session.flush()
            from sqlalchemy import select

            prod = await uow.session.scalar(select(Product).where(Product.code == "t-sms"))
            if prod is None:
                prod = Product(
                    id=new_id("prd"),
                    code="t-sms",
                    capability_code="sms",
                    name_zh="短信",
                    name_en="SMS",
                    unit="segment",
                    created_at=now,
                    updated_at=now,
                )
                uow.session.add(prod)
                await uow.session.flush()
            je = JournalEntry(id=new_id("je"), kind=EntryKind.CHARGE, memo="test", created_at=now)
            uow.session.add(je)
            await uow.session.flush()
            rid = new_id("cdr")
            uow.session.add(
                UsageRecord(
                    id=rid,
                    partner_id=partner.id,
                    product_id=prod.id,
                    capability="sms",
                    operation="sendMessage",
                    client_id="cli_x",
                    request_key=rid,
                    quantity=quantity,
                    unit="segment",
                    amount=Decimal(amount),
                    billing_mode="prepaid",
                    price_plan_id="pp_x",
                    band="list",
                    scope="national",
                    month="2026-11",
                    journal_entry_id=je.id,
                    occurred_at=at,
                    recipients=["+8613800000000"],
                    response={},
                )
            )
        return rid

    @staticmethod
    def as_op(op: Operator) -> Actor:
        return Actor(type="operator", id=op.id, roles=frozenset(op.roles), name=op.display_name)

    @staticmethod
    def as_user(u: PartnerUser) -> Actor:
        return Actor(
            type="partner_user",
            id=u.id,
            partner_id=u.partner_id,
            roles=frozenset({"admin"}),
            name=u.display_name,
        )


@pytest.fixture
def world(container: Container) -> World:
    return World(container)


Run = Callable[[Actor, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]


@pytest.fixture
def run(container: Container) -> Run:
    """run(actor, lambda uow: service.x(uow, ...)) in its own unit of work."""

    async def _run(actor: Actor, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        async with container.uow(actor) as uow:
            return await fn(uow)

    return _run
