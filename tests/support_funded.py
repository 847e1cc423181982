"""Shared fixtures (charging and ledger tests): a funded prepaid partner with accounts and one SMS product."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from openability.billing.models import Payment
from openability.billing.types import PaymentMethod, PaymentPurpose, PaymentState
from openability.bootstrap import Container
from openability.catalog.models import Capability, PricePlan, PriceTier, Product
from openability.kernel.ids import new_id
from openability.ledger import service as ledger
from openability.ledger.types import PLATFORM, AccountType, EntryKind
from openability.partners.models import Partner
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus


@dataclass
class Funded:
    container: Container
    partner_id: str
    product_id: str
    plan_id: str

    async def balances(self) -> dict[AccountType, Decimal]:
        async with self.container.uow() as uow:
            return await ledger.balances(uow.session, self.partner_id)


async def build_funded(container: Container, balance: Decimal) -> Funded:
    async with container.uow() as uow:
        s, now = uow.session, uow.now
        await ledger.ensure_platform_accounts(s, now)
        if await s.get(Capability, "sms") is None:
            s.add(
                Capability(code="sms", name_zh="短信", name_en="SMS", operations=[], network_element="smpp")
            )
        pid, prod, plan = new_id("prt"), new_id("prd"), new_id("pp")
        s.add(
            Partner(
                id=pid,
                kind=PartnerKind.AP,
                name=f"p {pid}",
                billing_mode=BillingMode.PREPAID,
                status=PartnerStatus.ACTIVE,
                created_at=now,
                updated_at=now,
            )
        )
        s.add(
            Product(
                id=prod,
                code=f"sms-{prod}",
                capability_code="sms",
                name_zh="短信",
                name_en="SMS",
                unit="segment",
                created_at=now,
                updated_at=now,
            )
        )
        await s.flush()
        s.add(
            PricePlan(
                id=plan,
                product_id=prod,
                version=1,
                valid_from=now - timedelta(days=1),
                created_by="t",
                created_at=now,
            )
        )
        await s.flush()
        s.add(
            PriceTier(
                plan_id=plan, scope="national", band="list", from_volume=0, unit_price=Decimal("0.0500")
            )
        )
        await ledger.ensure_partner_accounts(s, pid, now)
        if balance:
            cash = await ledger.get_account(s, PLATFORM, AccountType.CASH)
            avail = await ledger.get_account(s, pid, AccountType.PREPAID_AVAILABLE)
            pay = new_id("pay")
            e = await ledger.post(
                s,
                kind=EntryKind.TOP_UP,
                legs=[ledger.debit(cash, balance), ledger.credit(avail, balance)],
                now=now,
                ref=("payment", pay),
            )
            s.add(
                Payment(
                    id=pay,
                    partner_id=pid,
                    transaction_id=pay,
                    method=PaymentMethod.SANDBOX,
                    purpose=PaymentPurpose.TOP_UP,
                    amount=balance,
                    state=PaymentState.CONFIRMED,
                    created_at=now,
                    created_by="t",
                    confirmed_at=now,
                    confirmed_by="t",
                    journal_entry_id=e.id,
                )
            )
    return Funded(container, pid, prod, plan)


@pytest.fixture
async def funded(container: Container) -> Funded:
    return await build_funded(container, Decimal("10.0000"))


@pytest.fixture
def build() -> Any:
    return build_funded


SUBJECT_PRICE = Decimal("0.0500")


def flat_subject(f: Any, *, valid_days: int = 1) -> Any:
    """The charging Subject of `f`'s partner and product: prepaid, national/list, one price version
    valid since `valid_days` ago with one flat tier of SUBJECT_PRICE per segment."""
    from openability.charging import rules
    from openability.charging.service import Subject

    plans = (
        rules.PlanVersion(
            f.plan_id,
            1,
            f.container.clock.now() - timedelta(days=valid_days),
            None,
            {("national", "list"): ((0, SUBJECT_PRICE),)},
        ),
    )
    return Subject(f.partner_id, f.product_id, "cli_x", "prepaid", "national", "list", plans, "segment")


async def charge_call(engine: Any, subj: Any, i: int, units: int = 1) -> None:
    """One charged SMS call through a ChargingEngine: authorize `units`, settle them, and record its
    CDR `cdr_<i>` under the key `k<i>` (its answer {"i": i})."""
    auth = await engine.authorize(subj, units)
    engine.settle(auth, units)
    await engine.record(
        auth,
        record_id=f"cdr_{i}",
        request_key=f"k{i}",
        req_hash="",
        capability="sms",
        operation="sendMessage",
        recipients=["+8613800138000"],
        response={"i": i},
        messages=[],
    )
