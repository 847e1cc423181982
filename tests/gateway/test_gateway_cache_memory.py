"""The gateway's caches share the values their entries repeat (gateway/cache.py `_Shared`): partners
with the same active products hold one products-by-capability mapping, tokens with the same scopes one
scope set — memory per cached partner, not per distinct value (issue 9, worker RSS)."""

from __future__ import annotations

from typing import Any

from openability.bootstrap import Container
from openability.gateway.cache import _Shared, token_hash


async def test_partners_with_the_same_products_share_one_mapping_and_one_scope_set(
    client: Any, container: Container, world: Any, kit: Any
) -> None:
    other = await kit.make_world(container, products=world.products)
    assert container.gateway is not None
    caches, now = container.gateway.caches, container.clock.now()
    t1 = await caches.tokens.get(token_hash(world.token), now)
    t2 = await caches.tokens.get(token_hash(other.token), now)
    assert t1 is not None and t2 is not None and t1.partner_id != t2.partner_id
    assert t1.scopes == t2.scopes and t1.scopes is t2.scopes
    p1 = await caches.partners.get(world.partner_id, now)
    p2 = await caches.partners.get(other.partner_id, now)
    assert p1 is not None and p2 is not None and p1.id != p2.id
    assert p1.products == p2.products and p1.products is p2.products


def test_past_its_limit_a_value_is_kept_as_given() -> None:
    shared = _Shared(limit=1)
    a = shared.scopes(frozenset({"sms"}))
    assert shared.scopes(frozenset({"sms"})) is a
    b = frozenset({"mms"})
    assert shared.scopes(b) is b and shared.scopes(frozenset({"mms"})) is not b
