"""Demo data for `make run` (first start only): capabilities and products with prices, an operator
team, an AP and a prepaid SI with users, API credentials, orders and prepaid money, and a postpaid SI
with its deposit (its month ends in a statement to pay, or in a deduction from that deposit on the 27th:
docs/billing.md "Walkthrough")."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from openability.kernel.platform import Platform

DEMO_FILE = "demo-credentials.json"

OPERATORS = [
    ("admin", "admin1234", ["admin"], "平台管理员 Admin"),
    ("lead", "lead12345", ["service_lead", "service_agent"], "客服主管 Service lead"),
    ("agent", "agent1234", ["service_agent"], "客服专员 Service agent"),
    ("billing", "billing123", ["billing_clerk"], "账务 Billing clerk"),
]


def credentials_path(container: Platform) -> Path:
    return container.settings.data_dir / DEMO_FILE


async def is_seeded(container: Platform) -> bool:
    from openability.partners import service as partners

    async with container.uow() as uow:
        return await partners.has_operators(uow)


async def seed_demo(container: Platform) -> dict[str, Any]:
    """Idempotent: does nothing when operators already exist; returns the demo credentials."""
    from openability.billing import service as billing
    from openability.billing.types import PaymentMethod, PaymentPurpose
    from openability.catalog import service as catalog
    from openability.catalog.seed import seed_catalog
    from openability.partners import identity, lifecycle, oauth
    from openability.partners.schemas import CreateSi, RegisterAp

    path = credentials_path(container)
    if await is_seeded(container):
        return json.loads(path.read_text()) if path.exists() else {}

    async with container.uow() as uow:
        await seed_catalog(uow)
        ops: dict[str, str] = {}
        for username, password, roles, name in OPERATORS:
            lead = ops.get("lead") if username == "agent" else None
            op = await identity.create_operator(
                uow, username, password, roles, display_name=name, lead_id=lead
            )
            ops[username] = op.id

    async with container.uow() as uow:
        ap, _user = await lifecycle.register_ap(
            uow,
            RegisterAp(
                name="演示应用科技有限公司",
                username="ap-demo",
                password="demo12345",
                contact_name="张三",
                contact_email="ap-demo@example.com",
                contact_phone="13800138000",
            ),
        )
        si = await lifecycle.create_si(
            uow,
            CreateSi(
                name="示例系统集成有限公司",
                billing_mode="prepaid",
                scope="national",
                product_kind="standard",
                contact_name="李四",
                contact_email="si-demo@example.com",
                contact_phone="13900139000",
                registered_capital="5000000",
                activate=True,
            ),
        )
        await identity.create_partner_user(uow, si.id, "si-demo", "demo12345", display_name="李四")
        post = await lifecycle.create_si(
            uow,
            CreateSi(
                name="示例后付费集成有限公司",
                billing_mode="postpaid",
                scope="national",
                product_kind="standard",
                contact_name="王五",
                contact_email="si-post-demo@example.com",
                contact_phone="13700137000",
                registered_capital="8000000",
                activate=True,
            ),
        )
        await identity.create_partner_user(
            uow, post.id, "si-post-demo", "demo12345", role="admin", display_name="王五"
        )
        for p in (ap, si, post):
            await lifecycle.assign_service_owner(uow, p.id, ops["agent"])
        ap_id, si_id, post_id = ap.id, si.id, post.id

    async with container.uow() as uow:
        for pid in (ap_id, si_id, post_id):
            for code in ("sms-standard", "mms-standard", "voice-notify"):
                await catalog.place_order(uow, pid, code)
    async with container.uow() as uow:
        # Demo money as real money arrives: a bank transfer the platform confirms (works whether or not
        # the sandbox is on; `openability seed` may run without --demo).
        for pid, amount in ((ap_id, Decimal("100.00")), (si_id, Decimal("500.00"))):
            pay, _ = await billing.create_payment(
                uow, pid, "demo-topup-1", amount, PaymentMethod.BANK_TRANSFER, bank_reference="DEMO-0001"
            )
            await billing.confirm_payment(uow, pay.id)
        # The postpaid SI's deposit (R-BILL-08), by bank transfer: its required deposit from now on.
        pay, _ = await billing.create_payment(
            uow,
            post_id,
            "demo-deposit-1",
            Decimal("50.00"),
            PaymentMethod.BANK_TRANSFER,
            purpose=PaymentPurpose.DEPOSIT,
            bank_reference="DEMO-0002",
        )
        await billing.confirm_payment(uow, pay.id)
    async with container.uow() as uow:
        ap_client, ap_secret = await oauth.create_api_client(uow, ap_id, "demo app", ["sms", "mms", "voice"])
        si_client, si_secret = await oauth.create_api_client(uow, si_id, "demo app", ["sms", "mms", "voice"])
        post_client, post_secret = await oauth.create_api_client(
            uow, post_id, "demo app", ["sms", "mms", "voice"]
        )

    creds = {
        "operators": {u: pw for u, pw, _r, _n in OPERATORS},
        "partners": {
            "ap": {
                "id": ap_id,
                "username": "ap-demo",
                "password": "demo12345",
                "client_id": ap_client.id,
                "client_secret": ap_secret,
            },
            "si": {
                "id": si_id,
                "username": "si-demo",
                "password": "demo12345",
                "client_id": si_client.id,
                "client_secret": si_secret,
            },
            "si_postpaid": {
                "id": post_id,
                "username": "si-post-demo",
                "password": "demo12345",
                "client_id": post_client.id,
                "client_secret": post_secret,
            },
        },
    }
    path.write_text(json.dumps(creds, ensure_ascii=False, indent=2))
    path.chmod(0o600)
    return creds
