"""partners/service.py is the domain's face for other domains: read models only (no ORM object crosses
the boundary), delegating to the use-case modules with their permission rules intact."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable

import pytest

from openability.bootstrap import Container
from openability.kernel.db import Base
from openability.kernel.errors import NotFound
from openability.partners import identity, oauth, service
from openability.partners.models import Partner, PartnerUser
from openability.partners.tokens import hash_token
from openability.partners.types import OperatorRef, PartnerRef, PartnerStatus

MakeAp = Callable[..., Awaitable[tuple[Partner, PartnerUser]]]


def _orm_classes_in(tp: object) -> list[type]:
    found: list[type] = []
    if isinstance(tp, type) and issubclass(tp, Base):
        found.append(tp)
    for arg in typing.get_args(tp):
        found.extend(_orm_classes_in(arg))
    return found


def test_no_face_function_returns_an_orm_object() -> None:
    functions = [
        f
        for name, f in inspect.getmembers(service, inspect.iscoroutinefunction)
        if not name.startswith("_") and f.__module__ == service.__name__
    ]
    assert len(functions) >= 10
    for f in functions:
        ret = typing.get_type_hints(f)["return"]
        assert _orm_classes_in(ret) == [], f"{f.__name__} returns {ret}"


async def _client_with_token(container: Container, user: PartnerUser, name: str) -> str:
    async with container.uow(identity.partner_user_actor(user)) as uow:
        client, secret = await oauth.create_api_client(uow, user.partner_id, name, ["sms"])
    async with container.uow() as uow:
        token, _, _ = await oauth.issue_client_token(uow, client.id, secret)
    return token


async def test_r_exit_01_exit_through_the_face_revokes_the_partners_clients_only(
    container: Container, make_ap: MakeAp
) -> None:
    # R-EXIT-01: an exited partner's credentials are revoked (the tickets domain exits through the face).
    ap, ap_user = await make_ap(1)
    other, other_user = await make_ap(2)
    tokens = [await _client_with_token(container, ap_user, n) for n in ("app", "batch")]
    other_token = await _client_with_token(container, other_user, "app")
    async with container.uow() as uow:
        assert [await service.client_token(uow, hash_token(t)) is not None for t in tokens] == [True, True]
        ref = await service.set_partner_status(uow, ap.id, PartnerStatus.EXITED, "failed assessment")
    assert isinstance(ref, PartnerRef) and ref.id == ap.id and ref.status == PartnerStatus.EXITED
    async with container.uow() as uow:
        assert [await service.client_token(uow, hash_token(t)) for t in tokens] == [None, None]
        live = await service.client_token(uow, hash_token(other_token))
        assert live is not None and live.partner_id == other.id
        assert await service.active_client_count(uow, ap.id) == 0
        assert await service.active_client_count(uow, other.id) == 1


async def test_active_client_count_keeps_partner_visibility(container: Container, make_ap: MakeAp) -> None:
    ap, ap_user = await make_ap(1)
    _other, other_user = await make_ap(2)
    await _client_with_token(container, ap_user, "app")
    async with container.uow(identity.partner_user_actor(ap_user)) as uow:
        assert await service.active_client_count(uow, ap.id) == 1
    with pytest.raises(NotFound):
        async with container.uow(identity.partner_user_actor(other_user)) as uow:
            await service.active_client_count(uow, ap.id)


async def test_face_reads_are_read_models(container: Container, make_ap: MakeAp) -> None:
    ap, _user = await make_ap(1)
    async with container.uow() as uow:
        op = await identity.create_operator(uow, "owner1", "Secret123", ["service_agent"], "Owner")
    async with container.uow() as uow:
        await service.assign_service_owner(uow, ap.id, op.id)
    async with container.uow() as uow:
        ref = await service.partner_ref(uow, ap.id, lock=True)
        assert isinstance(ref, PartnerRef) and ref.service_owner_id == op.id
        assert await service.find_partner_ref(uow, ap.id) == ref
        assert await service.find_partner_ref(uow, "prt_missing") is None
        assert [p.id for p in await service.partners_with_status(uow, PartnerStatus.ACTIVE)] == [ap.id]
        oref = await service.operator_ref(uow, op.id)
        assert isinstance(oref, OperatorRef) and oref.label == "Owner"
        assert await service.active_operators(uow) == [oref]
        assert await service.operator_labels(uow, [op.id]) == {op.id: "Owner"}
        assert await service.recipient_email(uow, "partner", ap.id) == "ap1@example.com"
        assert await service.has_operators(uow)
