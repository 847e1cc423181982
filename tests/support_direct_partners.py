"""Shared fixtures (billing and catalog tests): partners inserted directly (independent of the partners service), the demo
catalog, and a fake authenticator chosen by the `X-Test-Actor` header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import Request

from openability.bootstrap import Container
from openability.catalog.seed import seed_catalog
from openability.kernel.ids import new_id
from openability.kernel.uow import Actor
from openability.ledger.service import ensure_partner_accounts, ensure_platform_accounts
from openability.partners.models import Partner
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus, Scope, Tier


class Auth:
    """Request headers selecting the fake actor (test files cannot import conftest helpers)."""

    operator = {"X-Test-Actor": "operator"}

    @staticmethod
    def partner(partner_id: str) -> dict[str, str]:
        return {"X-Test-Actor": f"partner:{partner_id}"}

    @staticmethod
    def roles(*roles: str) -> dict[str, str]:
        return {"X-Test-Actor": "operator:" + ",".join(roles)}


@pytest.fixture
def auth() -> type[Auth]:
    return Auth


async def fake_authenticator(request: Request) -> Actor | None:
    """operator (admin) | operator:<role,role> | partner:<partner id>; no header: anonymous."""
    who = request.headers.get("x-test-actor")
    if not who:
        return None
    if who == "operator":
        return Actor(type="operator", id="op_test", roles=frozenset({"admin"}), name="op")
    if who.startswith("operator:"):
        roles = frozenset(r for r in who.split(":", 1)[1].split(",") if r)
        return Actor(type="operator", id="op_" + "_".join(sorted(roles)), roles=roles, name="op")
    if who.startswith("partner:"):
        pid = who.split(":", 1)[1]
        return Actor(type="partner_user", id="pu_" + pid, partner_id=pid, roles=frozenset({"admin"}))
    return None


MakePartner = Callable[..., Awaitable[Partner]]


@pytest.fixture
def make_partner(container: Container) -> MakePartner:
    async def make(
        kind: str = "AP",
        status: str = "active",
        billing_mode: str | None = None,
        tier: str | None = None,
        scope: str = "national",
        name: str | None = None,
    ) -> Partner:
        pid = new_id("ptn")
        async with container.uow() as uow:
            p = Partner(
                id=pid,
                kind=PartnerKind(kind),
                name=name or f"测试伙伴 {pid}",
                billing_mode=BillingMode(billing_mode or "prepaid"),
                status=PartnerStatus(status),
                scope=Scope(scope),
                tier=Tier(tier) if tier else None,
                created_at=uow.now,
                updated_at=uow.now,
            )
            uow.session.add(p)
            await uow.session.flush()
            await ensure_partner_accounts(uow.session, pid, uow.now)
            await ensure_platform_accounts(uow.session, uow.now)
        return p

    return make


@pytest.fixture
async def seeded(container: Container) -> None:
    async with container.uow() as uow:
        await seed_catalog(uow)


@pytest.fixture
async def api(app_client: httpx.AsyncClient, container: Container) -> httpx.AsyncClient:
    # Set after the app (and any real authenticator) is installed and started: ours wins.
    container.authenticator = fake_authenticator
    return app_client


@pytest.fixture
def events(container: Container) -> Callable[[str], list[str]]:
    """events(topic) -> the keys published on it from now on (after commit)."""

    def watch(topic: str) -> list[str]:
        seen: list[str] = []
        container.events.subscribe(topic, lambda _t, key: seen.append(key))
        return seen

    return watch
