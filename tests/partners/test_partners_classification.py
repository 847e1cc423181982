"""R-PARTNER-03: SIs are classified by product kind (standard / industry, with the industry as data) and
by scope (national / local); scope is what the price lists and peer groups are keyed by."""

from __future__ import annotations

import pytest

from openability.bootstrap import Container
from openability.kernel.errors import InvalidArgument
from openability.kernel.uow import Actor
from openability.partners import lifecycle
from openability.partners.schemas import CreateSi
from openability.partners.types import ProductKind, Scope

REVIEWER = Actor(type="operator", id="op_rev", roles=frozenset({"reviewer"}), name="reviewer")


def si(name: str, **over: object) -> CreateSi:
    data: dict[str, object] = {
        "name": name,
        "billing_mode": "postpaid",
        "scope": "local",
        "product_kind": "standard",
        "contact_name": "赵六",
        "contact_email": "si@example.com",
        "contact_phone": "13600136000",
    }
    data.update(over)
    return CreateSi.model_validate(data)


async def test_r_partner_03_industry_si_records_its_industry_and_scope(container: Container) -> None:
    async with container.uow(REVIEWER) as uow:
        p = await lifecycle.create_si(
            uow, si("蜀道物流信息有限公司", product_kind="industry", industry="logistics")
        )
    assert p.product_kind == ProductKind.INDUSTRY and p.industry == "logistics"
    assert p.scope == Scope.LOCAL


async def test_r_partner_03_industry_si_without_industry_is_refused(container: Container) -> None:
    with pytest.raises(InvalidArgument) as exc:
        async with container.uow(REVIEWER) as uow:
            await lifecycle.create_si(uow, si("无行业集成有限公司", product_kind="industry"))
    assert exc.value.code == "INDUSTRY_REQUIRED"
