"""R-CHARGE-02: a grant sized from the observed spending rate (a quotient) is still whole money units,
so the refill books cleanly. Found by the two-worker drain test: an unrounded target failed the refill."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from openability.charging.grants import GrantManager
from openability.ledger import service as ledger
from openability.ledger.types import AccountType


async def test_r_charge_02_rate_sized_grant_refill_books_exact_units(
    container: Any, kit: Any, assert_ledger_clean: Any
) -> None:
    w = await kit.make_world(container, caps=("sms",), balance=Decimal("100.0000"))
    gm = GrantManager(container)
    price = Decimal("0.0500")
    for _ in range(19):
        await gm.reserve(w.partner_id, price)
    container.clock.advance(timedelta(seconds=1.3))
    # closes the first rate window (0.95 CNY in 1.3 s), then drains the grant so the next refill is rate-sized
    for _ in range(41):
        await gm.reserve(w.partner_id, price)
    async with container.uow() as uow:
        bal = await ledger.balances(uow.session, w.partner_id)
    reserved = bal[AccountType.PREPAID_RESERVED]
    assert reserved == reserved.quantize(Decimal("0.0001"))
    assert reserved + bal[AccountType.PREPAID_AVAILABLE] == Decimal("100.0000")
    assert reserved >= 60 * price  # every reserved call is covered by the grants taken
    await assert_ledger_clean()
