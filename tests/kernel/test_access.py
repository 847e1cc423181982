"""kernel.access: one visibility rule and one paging rule for every service (they had drifted: some
services clamped bad paging, others refused it)."""

from __future__ import annotations

import pytest

from openability.kernel import access
from openability.kernel.errors import InvalidArgument, NotFound, PermissionDenied
from openability.kernel.uow import SYSTEM, Actor

OP = Actor(type="operator", id="op1", roles=frozenset({"billing_clerk"}))
PARTNER = Actor(type="partner_user", id="pu1", partner_id="prt_a")


def test_staff_sees_every_partner_a_partner_only_itself() -> None:
    access.check_partner_visible(OP, "prt_b")
    access.check_partner_visible(SYSTEM, "prt_b")
    access.check_partner_visible(PARTNER, "prt_a")
    with pytest.raises(NotFound, match="partner prt_b not found"):
        access.check_partner_visible(PARTNER, "prt_b")


def test_scope_of_a_list() -> None:
    assert access.scope_partner(OP, None) is None
    assert access.scope_partner(OP, "prt_b") == "prt_b"
    assert access.scope_partner(PARTNER, None) == "prt_a"
    with pytest.raises(NotFound):
        access.scope_partner(PARTNER, "prt_b")


def test_roles() -> None:
    access.require_staff(OP, "billing_clerk")
    access.require_staff(SYSTEM, "anything")
    with pytest.raises(PermissionDenied, match="needs one of the operator roles: service_agent"):
        access.require_staff(OP, "service_agent")
    with pytest.raises(PermissionDenied, match="operator only"):
        access.require_staff(PARTNER)


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0), (0, access.MAX_LIMIT + 1), (2**63, 1)])
def test_out_of_range_paging_is_refused_not_clamped(offset: int, limit: int) -> None:
    with pytest.raises(InvalidArgument):
        access.page(offset, limit)


def test_paging_in_range() -> None:
    assert access.page(0, 1) == (0, 1)
    assert access.page(10, access.MAX_LIMIT) == (10, access.MAX_LIMIT)
