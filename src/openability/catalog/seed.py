"""Demo catalog: SMS, MMS and voice notification with price plan v1 (idempotent: safe to run twice)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from openability.catalog.models import Capability, PricePlan, Product
from openability.catalog.service import _insert_price_plan
from openability.catalog.types import Audience, ProductStatus
from openability.kernel.clock import SHANGHAI
from openability.kernel.events import CATALOG_CHANGED
from openability.kernel.ids import new_id
from openability.kernel.uow import UnitOfWork

SEED_VALID_FROM = datetime(2026, 1, 1, tzinfo=SHANGHAI)

CAPABILITIES: list[dict[str, object]] = [
    {
        "code": "sms",
        "name_zh": "短信",
        "name_en": "SMS",
        "network_element": "smpp",
        "operations": [
            {"name": "sendMessage", "method": "POST", "path": "/capabilities/sms/v1/messages"},
            {"name": "getMessage", "method": "GET", "path": "/capabilities/sms/v1/messages/{id}"},
        ],
    },
    {
        "code": "mms",
        "name_zh": "彩信",
        "name_en": "MMS",
        "network_element": "mms-sim",
        "operations": [
            {"name": "sendMessage", "method": "POST", "path": "/capabilities/mms/v1/messages"},
            {"name": "getMessage", "method": "GET", "path": "/capabilities/mms/v1/messages/{id}"},
        ],
    },
    {
        "code": "voice",
        "name_zh": "语音通知",
        "name_en": "Voice notification",
        "network_element": "voice-sim",
        "operations": [
            {"name": "createNotification", "method": "POST", "path": "/capabilities/voice/v1/notifications"},
            {
                "name": "getNotification",
                "method": "GET",
                "path": "/capabilities/voice/v1/notifications/{id}",
            },
        ],
    },
]

PRODUCTS: list[dict[str, object]] = [
    {
        "code": "sms-standard",
        "capability_code": "sms",
        "name_zh": "标准短信",
        "name_en": "Standard SMS",
        "description": "按条（分段）计费的短信下发 / SMS sending, charged per segment",
        "unit": "segment",
        "rate_limit_per_second": 200,
    },
    {
        "code": "mms-standard",
        "capability_code": "mms",
        "name_zh": "标准彩信",
        "name_en": "Standard MMS",
        "description": "按条计费的彩信下发 / MMS sending, charged per message",
        "unit": "message",
        "rate_limit_per_second": 50,
    },
    {
        "code": "voice-notify",
        "capability_code": "voice",
        "name_zh": "语音通知",
        "name_en": "Voice notification",
        "description": "按分钟计费的语音通知 / voice notification, charged per started minute",
        "unit": "minute",
        "rate_limit_per_second": 20,
    },
]

_SMS_NATIONAL: dict[str, list[str]] = {
    "list": ["0.0500", "0.0450", "0.0400"],
    "certified": ["0.0480", "0.0430", "0.0380"],
    "close": ["0.0460", "0.0410", "0.0360"],
    "strategic": ["0.0440", "0.0390", "0.0340"],
}
_SMS_BREAKS = [0, 100_000, 1_000_000]
LOCAL_DISCOUNT = Decimal("0.0010")


def _sms_tiers() -> dict[tuple[str, str], list[tuple[int, Decimal]]]:
    out: dict[tuple[str, str], list[tuple[int, Decimal]]] = {}
    for band, prices in _SMS_NATIONAL.items():
        national = [(v, Decimal(p)) for v, p in zip(_SMS_BREAKS, prices, strict=True)]
        out[("national", band)] = national
        out[("local", band)] = [(v, p - LOCAL_DISCOUNT) for v, p in national]
    return out


def _flat(prices: dict[str, str]) -> dict[tuple[str, str], list[tuple[int, Decimal]]]:
    return {("national", band): [(0, Decimal(p))] for band, p in prices.items()}


SEED_TIERS: dict[str, dict[tuple[str, str], list[tuple[int, Decimal]]]] = {
    "sms-standard": _sms_tiers(),
    "mms-standard": _flat(
        {"list": "0.3000", "certified": "0.2900", "close": "0.2800", "strategic": "0.2700"}
    ),
    "voice-notify": _flat(
        {"list": "0.1500", "certified": "0.1450", "close": "0.1400", "strategic": "0.1350"}
    ),
}


async def seed_catalog(uow: UnitOfWork) -> None:
    """Create what is missing of the demo catalog; existing rows are left as operators changed them."""
    session = uow.session
    for cap in CAPABILITIES:
        code = str(cap["code"])
        if await session.get(Capability, code) is None:
            session.add(Capability(**cap))
            uow.audit("capability.created", ("capability", code), after=dict(cap))
    await session.flush()
    for spec in PRODUCTS:
        code = str(spec["code"])
        product = await session.scalar(select(Product).where(Product.code == code))
        if product is None:
            product = Product(
                id=new_id("prd"),
                audience=Audience.ALL,
                status=ProductStatus.ACTIVE,
                created_at=uow.now,
                updated_at=uow.now,
                **spec,
            )
            session.add(product)
            await session.flush()
            uow.audit("product.created", ("product", product.id), after=dict(spec))
            uow.publish(CATALOG_CHANGED, product.id)
        has_plan = await session.scalar(
            select(PricePlan.id).where(PricePlan.product_id == product.id).limit(1)
        )
        if has_plan is None:
            await _insert_price_plan(
                uow, product.id, SEED_VALID_FROM, SEED_TIERS[code], "demo price list v1", check_start=False
            )
