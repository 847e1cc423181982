"""Partners service: registration, SIs, status, users, API clients and tokens, login, operators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from openability.bootstrap import Container
from openability.kernel import events
from openability.kernel.audit import AuditEntry
from openability.kernel.clock import FrozenClock
from openability.kernel.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Unauthenticated,
)
from openability.kernel.uow import Actor
from openability.ledger.models import Account
from openability.ledger.types import PLATFORM, AccountType
from openability.partners import identity, lifecycle, oauth
from openability.partners.models import AccessToken, ApiClient, Partner, PartnerUser
from openability.partners.passwords import verify_secret
from openability.partners.schemas import CreateSi, RegisterAp, UpdatePartner
from openability.partners.tokens import hash_token
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus, Scope, Tier

MakeAp = Callable[..., Awaitable[tuple[Partner, PartnerUser]]]
MakeSi = Callable[..., Awaitable[Partner]]

OPERATOR = Actor(type="operator", id="op_test", roles=frozenset({"reviewer"}), name="reviewer")


async def audit_rows(container: Container, action: str, entity_id: str | None = None) -> list[AuditEntry]:
    async with container.uow() as uow:
        stmt = select(AuditEntry).where(AuditEntry.action == action)
        if entity_id is not None:
            stmt = stmt.where(AuditEntry.entity_id == entity_id)
        return list((await uow.session.scalars(stmt)).all())


def partner_actor(user: PartnerUser) -> Actor:
    return identity.partner_user_actor(user)


async def test_r_admit_06_ap_self_registration_is_active_prepaid_without_review(
    container: Container, make_ap: MakeAp
) -> None:
    partner, user = await make_ap(1, credit_code=None, branches=["杭州分公司"])
    assert partner.kind == PartnerKind.AP
    assert partner.status == PartnerStatus.ACTIVE
    assert partner.billing_mode == BillingMode.PREPAID  # R-PARTNER-01
    assert partner.tier is None and partner.scope == Scope.NATIONAL
    assert partner.contact_phone == "+8613800138000"
    assert user.partner_id == partner.id and user.role == "admin"
    assert user.password_hash != "Secret123" and verify_secret("Secret123", user.password_hash)
    async with container.uow() as uow:
        owners = {a.owner_id for a in (await uow.session.scalars(select(Account))).all()}
        types = set(
            (await uow.session.scalars(select(Account.type).where(Account.owner_id == partner.id))).all()
        )
    assert PLATFORM in owners
    assert types == {
        AccountType.PREPAID_AVAILABLE,
        AccountType.PREPAID_RESERVED,
        AccountType.DEPOSIT,
        AccountType.RECEIVABLE,
    }
    (row,) = await audit_rows(container, "partner.registered", partner.id)
    assert row.actor_type == "partner_user" and row.actor_id == user.id
    assert row.partner_id == partner.id and row.after is not None and row.after["status"] == "active"
    (urow,) = await audit_rows(container, "partner_user.created", user.id)
    assert "password" not in str(urow.after)


async def test_r_partner_01_ap_registration_refuses_postpaid(container: Container, ap_data: Any) -> None:
    with pytest.raises(RuleViolation) as ei:
        async with container.uow() as uow:
            await lifecycle.register_ap(uow, RegisterAp(**ap_data(1, billing_mode="postpaid")))
    assert ei.value.code == "AP_PREPAID_ONLY"
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Partner)) == 0


async def test_r_partner_04_registration_with_brand_word_refused_and_nothing_written(
    container: Container, ap_data: Any
) -> None:
    for over in ({"name": "深圳电信公司代理"}, {"branches": ["天翼应用工厂 南京"]}):
        with pytest.raises(RuleViolation) as ei:
            async with container.uow() as uow:
                await lifecycle.register_ap(uow, RegisterAp(**ap_data(1, **over)))
        assert ei.value.code == "BRAND_WORD"
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Partner)) == 0
        assert await uow.session.scalar(select(func.count()).select_from(PartnerUser)) == 0
        assert await uow.session.scalar(select(func.count()).select_from(AuditEntry)) == 0


async def test_duplicate_name_and_username_conflict(container: Container, make_ap: MakeAp) -> None:
    await make_ap(1)
    with pytest.raises(Conflict) as ei:
        await make_ap(2, name="星河软件1有限公司")
    assert ei.value.code == "DUPLICATE_NAME"
    with pytest.raises(Conflict) as ei:
        await make_ap(2, username="AP1ADMIN")
    assert ei.value.code == "DUPLICATE_USERNAME"
    async with container.uow() as uow:
        await identity.create_operator(uow, "opname", "Passw0rdX", ["reviewer"])
    with pytest.raises(Conflict):
        await make_ap(3, username="opname")
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Partner)) == 1


async def test_registration_identity_fields_validated(container: Container, ap_data: Any) -> None:
    cases = [
        ({"contact_email": "nope"}, "INVALID_EMAIL"),
        ({"contact_phone": "12345"}, "INVALID_PHONE"),
        ({"password": "short"}, "WEAK_PASSWORD"),
        ({"username": "x"}, "INVALID_USERNAME"),
        ({"credit_code": "91350100M000100Y44"}, "INVALID_CREDIT_CODE"),
        ({"name": "A"}, "INVALID_NAME"),
    ]
    for over, code in cases:
        with pytest.raises(InvalidArgument) as ei:
            async with container.uow() as uow:
                await lifecycle.register_ap(uow, RegisterAp(**ap_data(1, **over)))
        assert ei.value.code == code


async def test_create_si_simplest_form(container: Container, valid_credit_code: Any) -> None:
    cmd = CreateSi(
        name="华东系统集成有限公司",
        billing_mode="postpaid",
        scope=Scope.LOCAL,
        product_kind="industry",
        industry="logistics",
        credit_code=valid_credit_code("91310000MA1K00001"),
        registered_capital="2000000",
        admin_username="siadmin",
        admin_password="Secret123",
    )
    async with container.uow(OPERATOR) as uow:
        si = await lifecycle.create_si(uow, cmd)
    assert si.kind == PartnerKind.SI and si.status == PartnerStatus.PENDING
    assert si.tier == Tier.CERTIFIED and si.billing_mode == BillingMode.POSTPAID
    assert si.scope == Scope.LOCAL and si.industry == "logistics"
    async with container.uow() as uow:
        user = await uow.session.scalar(select(PartnerUser).where(PartnerUser.partner_id == si.id))
        assert user is not None and user.username == "siadmin"
        assert (
            await uow.session.scalar(
                select(func.count()).select_from(Account).where(Account.owner_id == si.id)
            )
            == 4
        )
    (row,) = await audit_rows(container, "partner.created", si.id)
    assert row.actor_type == "operator" and row.actor_id == "op_test"


async def test_create_si_activate_and_rules(container: Container, make_si: MakeSi) -> None:
    si = await make_si("西部集成", billing_mode="prepaid", tier="strategic")
    assert si.status == PartnerStatus.ACTIVE and si.tier == Tier.STRATEGIC
    with pytest.raises(InvalidArgument) as ei:
        await make_si("另一家集成", billing_mode="both")
    assert ei.value.code == "INVALID_BILLING_MODE"  # R-PARTNER-02
    with pytest.raises(InvalidArgument) as ei:
        await make_si("行业集成", product_kind="industry")
    assert ei.value.code == "INDUSTRY_REQUIRED"
    with pytest.raises(RuleViolation):
        await make_si("中国电信公司集成")  # R-PARTNER-04
    with pytest.raises(Conflict):
        await make_si("西部集成")


async def test_create_si_needs_an_operator_reviewer(container: Container, make_ap: MakeAp) -> None:
    _, user = await make_ap(1)
    agent = Actor(type="operator", id="op_a", roles=frozenset({"service_agent"}))
    for actor in (partner_actor(user), agent):
        with pytest.raises(PermissionDenied):
            async with container.uow(actor) as uow:
                await lifecycle.create_si(uow, CreateSi(name="某集成商", billing_mode="prepaid"))


async def test_set_partner_status_publishes_and_audits(container: Container, make_si: MakeSi) -> None:
    si = await make_si()
    seen: list[tuple[str, str]] = []
    container.events.subscribe(events.PARTNER_CHANGED, lambda t, k: seen.append((t, k)))
    async with container.uow(OPERATOR) as uow:
        p = await lifecycle.set_partner_status(uow, si.id, PartnerStatus.SUSPENDED, "unpaid bill")
    assert p.status == PartnerStatus.SUSPENDED and p.status_reason == "unpaid bill"
    assert seen == [(events.PARTNER_CHANGED, si.id)]
    (row,) = await audit_rows(container, "partner.suspended", si.id)
    assert row.before is not None and row.before["status"] == "active"
    assert row.after is not None and row.after["status"] == "suspended" and row.note == "unpaid bill"
    with pytest.raises(InvalidArgument):
        async with container.uow(OPERATOR) as uow:
            await lifecycle.set_partner_status(uow, si.id, PartnerStatus.ACTIVE, "   ")
    with pytest.raises(NotFound):
        async with container.uow(OPERATOR) as uow:
            await lifecycle.set_partner_status(uow, "prt_nope", PartnerStatus.ACTIVE, "x")


async def test_exit_is_final_and_revokes_clients(container: Container, make_ap: MakeAp) -> None:
    partner, _ = await make_ap(1)
    async with container.uow(OPERATOR) as uow:
        client, secret = await oauth.create_api_client(uow, partner.id, "app", ["sms"])
    async with container.uow() as uow:
        token, _, _ = await oauth.issue_client_token(uow, client.id, secret)
    async with container.uow(OPERATOR) as uow:
        await lifecycle.set_partner_status(uow, partner.id, PartnerStatus.EXITED, "failed assessment")
    async with container.uow() as uow:
        row = await uow.session.get(AccessToken, hash_token(token))
        c = await uow.session.get(ApiClient, client.id)
        assert row is not None and row.revoked_at is not None
        assert c is not None and not c.active
    with pytest.raises(RuleViolation) as ei:
        async with container.uow(OPERATOR) as uow:
            await lifecycle.set_partner_status(uow, partner.id, PartnerStatus.ACTIVE, "oops")
    assert ei.value.code == "PARTNER_EXITED"
    with pytest.raises(Unauthenticated):
        async with container.uow() as uow:
            await oauth.issue_client_token(uow, client.id, secret)


async def test_update_partner_rename_checks_brand_words(container: Container, make_ap: MakeAp) -> None:
    partner, user = await make_ap(1)
    await make_ap(2)
    actor = partner_actor(user)
    async with container.uow(actor) as uow:
        p = await lifecycle.update_partner(
            uow, partner.id, UpdatePartner(name="新星河科技", contact_phone="021-87654321")
        )
    assert p.name == "新星河科技" and p.contact_phone == "021-87654321"
    (row,) = await audit_rows(container, "partner.updated", partner.id)
    assert row.before == {"name": "星河软件1有限公司", "contact_phone": "+8613800138000"}
    with pytest.raises(RuleViolation) as ei:
        async with container.uow(actor) as uow:
            await lifecycle.update_partner(uow, partner.id, UpdatePartner(name="星河电信公司"))
    assert ei.value.code == "BRAND_WORD"
    with pytest.raises(RuleViolation):
        async with container.uow(actor) as uow:
            await lifecycle.update_partner(uow, partner.id, UpdatePartner(branches=["天翼应用工厂分部"]))
    with pytest.raises(Conflict):
        async with container.uow(actor) as uow:
            await lifecycle.update_partner(uow, partner.id, UpdatePartner(name="星河软件2有限公司"))
    async with container.uow() as uow:
        fresh = await uow.session.get(Partner, partner.id)
        assert fresh is not None and fresh.name == "新星河科技" and fresh.branches == []


async def test_partner_visibility(container: Container, make_ap: MakeAp) -> None:
    p1, u1 = await make_ap(1)
    p2, _ = await make_ap(2)
    a1 = partner_actor(u1)
    async with container.uow(a1) as uow:
        assert (await lifecycle.get_partner(uow, p1.id)).id == p1.id
        rows, total = await lifecycle.list_partners(uow)
        assert [r.id for r in rows] == [p1.id] and total == 1
    for call in (
        lambda uow: lifecycle.get_partner(uow, p2.id),
        lambda uow: identity.list_partner_users(uow, p2.id),
        lambda uow: oauth.list_api_clients(uow, p2.id),
        lambda uow: oauth.create_api_client(uow, p2.id, "x", ["sms"]),
        lambda uow: identity.create_partner_user(uow, p2.id, "intruder", "Secret123"),
        lambda uow: lifecycle.update_partner(uow, p2.id, UpdatePartner(contact_name="x")),
    ):
        with pytest.raises(NotFound):
            async with container.uow(a1) as uow:
                await call(uow)
    async with container.uow(OPERATOR) as uow:
        rows, total = await lifecycle.list_partners(uow, kind=PartnerKind.AP, offset=1, limit=1)
        assert total == 2 and [r.id for r in rows] == [p2.id]
        with pytest.raises(InvalidArgument):
            await lifecycle.list_partners(uow, limit=201)


async def test_partner_users_by_partner_admin_only(container: Container, make_ap: MakeAp) -> None:
    partner, admin = await make_ap(1)
    async with container.uow(partner_actor(admin)) as uow:
        dev = await identity.create_partner_user(uow, partner.id, "Dev1", "Secret123", "developer", "Dev")
    assert dev.username == "dev1" and dev.role == "developer"
    with pytest.raises(PermissionDenied):
        async with container.uow(partner_actor(dev)) as uow:
            await identity.create_partner_user(uow, partner.id, "dev2", "Secret123")
    with pytest.raises(InvalidArgument):
        async with container.uow(partner_actor(admin)) as uow:
            await identity.create_partner_user(uow, partner.id, "dev3", "Secret123", "superuser")
    async with container.uow(partner_actor(dev)) as uow:
        rows, total = await identity.list_partner_users(uow, partner.id)
    assert total == 2 and {u.username for u in rows} == {"ap1admin", "dev1"}
    (row,) = await audit_rows(container, "partner_user.created", dev.id)
    assert row.actor_id == admin.id


async def test_api_client_secret_hashed_and_token_issued(
    container: Container, make_ap: MakeAp, clock: FrozenClock
) -> None:
    partner, admin = await make_ap(1)
    changed: list[str] = []
    container.events.subscribe(events.CLIENT_CHANGED, lambda t, k: changed.append(k))
    async with container.uow(partner_actor(admin)) as uow:
        client, secret = await oauth.create_api_client(uow, partner.id, " My  app ", ["voice", "sms"])
    assert client.id.startswith("cli_") and client.name == "My app" and client.scopes == ["sms", "voice"]
    assert secret not in client.secret_hash and verify_secret(secret, client.secret_hash)
    assert changed == [client.id]
    async with container.uow() as uow:
        token, ttl, scopes = await oauth.issue_client_token(uow, client.id, secret, ["sms"])
    assert ttl == container.settings.token_ttl_seconds and scopes == ["sms"]
    async with container.uow() as uow:
        row = await uow.session.get(AccessToken, hash_token(token))
        assert row is not None and row.kind == "client" and row.partner_id == partner.id
        assert row.scopes == ["sms"] and row.expires_at == clock.now() + timedelta(seconds=ttl)
        assert await uow.session.get(AccessToken, token) is None  # only the hash is stored
    with pytest.raises(InvalidArgument) as ei:
        async with container.uow() as uow:
            await oauth.issue_client_token(uow, client.id, secret, ["mms"])
    assert ei.value.code == "INVALID_SCOPE"
    for cid, sec in ((client.id, secret + "x"), ("cli_unknown", secret), ("", secret)):
        with pytest.raises(Unauthenticated) as ei2:
            async with container.uow() as uow:
                await oauth.issue_client_token(uow, cid, sec)
        assert ei2.value.code == "INVALID_CLIENT"
    (row2,) = await audit_rows(container, "client.created", client.id)
    assert row2.after == {"name": "My app", "scopes": ["sms", "voice"]}


async def test_revoke_client_revokes_its_tokens(container: Container, make_ap: MakeAp) -> None:
    partner, admin = await make_ap(1)
    actor = partner_actor(admin)
    async with container.uow(actor) as uow:
        client, secret = await oauth.create_api_client(uow, partner.id, "app", ["sms"])
    async with container.uow() as uow:
        token, _, _ = await oauth.issue_client_token(uow, client.id, secret)
    changed: list[str] = []
    container.events.subscribe(events.CLIENT_CHANGED, lambda t, k: changed.append(k))
    async with container.uow(actor) as uow:
        c = await oauth.revoke_api_client(uow, partner.id, client.id)
    assert not c.active and c.revoked_at is not None and changed == [client.id]
    async with container.uow() as uow:
        row = await uow.session.get(AccessToken, hash_token(token))
        assert row is not None and row.revoked_at is not None
    with pytest.raises(Unauthenticated):
        async with container.uow() as uow:
            await oauth.issue_client_token(uow, client.id, secret)
    (arow,) = await audit_rows(container, "client.revoked", client.id)
    assert arow.actor_id == admin.id
    with pytest.raises(NotFound):
        async with container.uow(actor) as uow:
            await oauth.revoke_api_client(uow, partner.id, "cli_missing")
    async with container.uow(actor) as uow:
        rows, total = await oauth.list_api_clients(uow, partner.id)
    assert total == 1 and not rows[0].active


async def test_finance_user_cannot_manage_clients(container: Container, make_ap: MakeAp) -> None:
    partner, admin = await make_ap(1)
    async with container.uow(partner_actor(admin)) as uow:
        fin = await identity.create_partner_user(uow, partner.id, "fin1", "Secret123", "finance")
    with pytest.raises(PermissionDenied):
        async with container.uow(partner_actor(fin)) as uow:
            await oauth.create_api_client(uow, partner.id, "app", ["sms"])


async def test_login_and_logout(container: Container, make_ap: MakeAp, clock: FrozenClock) -> None:
    partner, user = await make_ap(1)
    async with container.uow() as uow:
        token, actor = await identity.login(uow, "  AP1Admin ", "Secret123")
    assert actor.type == "partner_user" and actor.partner_id == partner.id and actor.id == user.id
    assert actor.roles == frozenset({"partner_admin"})
    async with container.uow() as uow:
        found = await identity.actor_for_token_hash(uow.session, hash_token(token), clock.now())
        assert found is not None and found[0] == actor
        assert found[1] == clock.now() + timedelta(hours=12)
    for name, pw in (("ap1admin", "wrong123"), ("nobody", "Secret123"), ("", "")):
        with pytest.raises(Unauthenticated):
            async with container.uow() as uow:
                await identity.login(uow, name, pw)
    revoked: list[str] = []
    container.events.subscribe(identity.TOKEN_REVOKED, lambda t, k: revoked.append(k))
    async with container.uow() as uow:
        await identity.logout(uow, token)
    assert revoked == [hash_token(token)]
    async with container.uow() as uow:
        assert await identity.actor_for_token_hash(uow.session, hash_token(token), clock.now()) is None
        await identity.logout(uow, token)  # idempotent
        await identity.logout(uow, "not-a-token")
    assert len(await audit_rows(container, "auth.login", user.id)) == 1
    assert len(await audit_rows(container, "auth.logout", user.id)) == 1


async def test_login_refused_for_inactive_user(container: Container, make_ap: MakeAp) -> None:
    _, user = await make_ap(1)
    async with container.uow() as uow:
        u = await uow.session.get(PartnerUser, user.id)
        assert u is not None
        u.active = False
    with pytest.raises(Unauthenticated):
        async with container.uow() as uow:
            await identity.login(uow, "ap1admin", "Secret123")


async def test_operators_and_operator_tokens(container: Container, clock: FrozenClock) -> None:
    async with container.uow() as uow:
        lead = await identity.create_operator(uow, "lead", "Passw0rd1", ["service_lead"], "Lead")
        agent = await identity.create_operator(
            uow, "agent", "Passw0rd1", ["service_agent"], "Agent", lead_id=lead.id
        )
    assert agent.lead_id == lead.id and agent.roles == ["service_agent"]
    async with container.uow() as uow:
        _token, actor = await identity.login(uow, "agent", "Passw0rd1")
    assert actor.is_operator and actor.roles == frozenset({"service_agent"})
    with pytest.raises(PermissionDenied):
        async with container.uow(actor) as uow:
            await identity.create_operator(uow, "x1x", "Passw0rd1", ["admin"])
    with pytest.raises(PermissionDenied):
        async with container.uow(actor) as uow:
            await identity.create_operator_token(uow, "agent", "mine")
    with pytest.raises(InvalidArgument):
        async with container.uow() as uow:
            await identity.create_operator(uow, "x2x", "Passw0rd1", ["wizard"])
    with pytest.raises(InvalidArgument):
        async with container.uow() as uow:
            await identity.create_operator(uow, "x3x", "Passw0rd1", ["admin"], lead_id="op_nope")
    with pytest.raises(Conflict):
        async with container.uow() as uow:
            await identity.create_operator(uow, "LEAD", "Passw0rd1", ["admin"])
    async with container.uow() as uow:
        api_token = await identity.create_operator_token(uow, "agent", "ci", ttl_days=2)
    async with container.uow() as uow:
        row = await uow.session.get(AccessToken, hash_token(api_token))
        assert row is not None and row.kind == "operator" and row.name == "ci"
        assert row.expires_at == clock.now() + timedelta(days=2)
    with pytest.raises(NotFound):
        async with container.uow() as uow:
            await identity.create_operator_token(uow, "ghost", "ci")
    (row2,) = await audit_rows(container, "operator.token_created", agent.id)
    assert "token" not in str(row2.after).replace("token_", "")
    async with container.uow() as uow:
        ops, total = await identity.list_operators(uow)
    assert total == 2 and [o.username for o in ops] == ["lead", "agent"]
