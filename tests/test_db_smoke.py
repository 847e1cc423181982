from decimal import Decimal

import pytest

from openability.bootstrap import Container
from openability.kernel.errors import InsufficientBalance
from openability.ledger import service as ledger
from openability.ledger.types import PLATFORM, AccountType, EntryKind


async def test_r_bill_10_balanced_posting_moves_balances(container: Container) -> None:
    async with container.uow() as uow:
        await ledger.ensure_platform_accounts(uow.session, uow.now)
        await ledger.ensure_partner_accounts(uow.session, "prt_x", uow.now)
        # partners row is not needed for accounts: owner_id is free text
        cash = await ledger.get_account(uow.session, PLATFORM, AccountType.CASH)
        avail = await ledger.get_account(uow.session, "prt_x", AccountType.PREPAID_AVAILABLE)
        await ledger.post(
            uow.session,
            kind=EntryKind.TOP_UP,
            legs=[ledger.debit(cash, Decimal("100")), ledger.credit(avail, Decimal("100"))],
            now=uow.now,
        )
    async with container.uow() as uow:
        bal = await ledger.balances(uow.session, "prt_x")
        assert bal[AccountType.PREPAID_AVAILABLE] == Decimal("100.0000")
        avail = await ledger.get_account(uow.session, "prt_x", AccountType.PREPAID_AVAILABLE)
        reserved = await ledger.get_account(uow.session, "prt_x", AccountType.PREPAID_RESERVED)
        with pytest.raises(InsufficientBalance):
            await ledger.post(
                uow.session,
                kind=EntryKind.GRANT,
                legs=[ledger.debit(avail, Decimal("100.0001")), ledger.credit(reserved, Decimal("100.0001"))],
                now=uow.now,
            )


async def test_r_bill_10_unbalanced_entry_refused(container: Container) -> None:
    async with container.uow() as uow:
        await ledger.ensure_platform_accounts(uow.session, uow.now)
        cash = await ledger.get_account(uow.session, PLATFORM, AccountType.CASH)
        with pytest.raises(ledger.UnbalancedEntry):
            await ledger.post(
                uow.session, kind=EntryKind.TOP_UP, legs=[ledger.debit(cash, Decimal(1))], now=uow.now
            )
