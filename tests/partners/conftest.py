"""Fixtures of the partners tests: fast password hashing, an admin operator with an API token,
and factories for APs, SIs, partner users and API clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from pydantic.alias_generators import to_camel

from openability.bootstrap import Container
from openability.partners import identity, lifecycle, passwords
from openability.partners.models import Partner, PartnerUser
from openability.partners.rules import credit_code_check_char
from openability.partners.schemas import CreateSi, RegisterAp

ADMIN_PASSWORD = "Admin12345"
USER_PASSWORD = "Secret123"


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    passwords.use_fast_hashing(True)
    yield
    passwords.use_fast_hashing(False)


def credit_code(body: str = "91310000MA1K00001") -> str:
    """A valid 统一社会信用代码 for a 17-character body."""
    return body + credit_code_check_char(body)


@pytest.fixture
def valid_credit_code() -> Callable[[str], str]:
    return credit_code


def ap_payload(n: int | str = 1, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"星河软件{n}有限公司",
        "username": f"ap{n}admin",
        "password": USER_PASSWORD,
        "contactName": "张三",
        "contactEmail": f"ap{n}@example.com",
        "contactPhone": "13800138000",
    }
    # Overrides may use either spelling (the API accepts both); one key per field either way.
    data.update({to_camel(k): v for k, v in over.items()})
    return data


@pytest.fixture
def ap_data() -> Callable[..., dict[str, Any]]:
    return ap_payload


@pytest.fixture
async def admin_token(container: Container) -> str:
    async with container.uow() as uow:
        await identity.create_operator(uow, "root", ADMIN_PASSWORD, ["admin"], "Root")
    async with container.uow() as uow:
        return await identity.create_operator_token(uow, "root", "tests")


@pytest.fixture
def admin_headers(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture
def make_ap(container: Container) -> Callable[..., Awaitable[tuple[Partner, PartnerUser]]]:
    async def make(n: int | str = 1, **over: Any) -> tuple[Partner, PartnerUser]:
        async with container.uow() as uow:
            return await lifecycle.register_ap(uow, RegisterAp(**ap_payload(n, **over)))

    return make


@pytest.fixture
def make_si(container: Container) -> Callable[..., Awaitable[Partner]]:
    async def make(name: str = "华东集成有限公司", **over: Any) -> Partner:
        data: dict[str, Any] = {"name": name, "billingMode": "postpaid", "activate": True}
        data.update({to_camel(k): v for k, v in over.items()})
        async with container.uow() as uow:
            return await lifecycle.create_si(uow, CreateSi(**data))

    return make


@pytest.fixture
def login_headers(container: Container) -> Callable[[str, str], Awaitable[dict[str, str]]]:
    async def do(username: str, password: str = USER_PASSWORD) -> dict[str, str]:
        async with container.uow() as uow:
            token, _ = await identity.login(uow, username, password)
        return {"Authorization": f"Bearer {token}"}

    return do
