"""Gateway test world: partners with accounts, API clients and bearer tokens, products with price plans,
orders, top-ups (payment + TOP_UP entry), and fake connectors that count submissions and can fail."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openability.billing.models import Payment
from openability.billing.types import PaymentMethod, PaymentPurpose, PaymentState
from openability.bootstrap import Container
from openability.catalog.models import Capability, PricePlan, PriceTier, Product, ProductOrder
from openability.catalog.types import OrderState
from openability.charging.models import Grant, UsageRecord
from openability.connectors.base import NetworkUnavailable, SmsSubmission, Submitted
from openability.connectors.sms_codec import count_segments
from openability.kernel.ids import new_id
from openability.ledger import service as ledger
from openability.ledger.types import PLATFORM, AccountType, EntryKind
from openability.partners.models import AccessToken, ApiClient, Partner
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus, Tier

PRICES = {"sms": Decimal("0.0500"), "mms": Decimal("0.2000"), "voice": Decimal("0.1500")}
UNITS = {"sms": "segment", "mms": "message", "voice": "minute"}
_n = itertools.count(1)


class FakeSms:
    def __init__(self) -> None:
        self.submits: list[SmsSubmission] = []
        self.fail = False
        self.fail_for: set[str] = set()
        self.up = True
        self._ids = itertools.count(1)

    @property
    def available(self) -> bool:
        return self.up

    async def submit(self, msg: SmsSubmission) -> Submitted:
        if self.fail or msg.recipient in self.fail_for:
            raise NetworkUnavailable("SMSC down")
        self.submits.append(msg)
        _, parts = count_segments(msg.text)
        return Submitted(network_ids=[f"S{next(self._ids)}" for _ in range(parts)], parts=parts)


class FakeMms:
    def __init__(self) -> None:
        self.submits: list[tuple[str, str, list[dict[str, str]]]] = []
        self.fail = False
        self._ids = itertools.count(1)

    async def submit(self, recipient: str, subject: str, parts: list[dict[str, str]]) -> Submitted:
        if self.fail:
            raise NetworkUnavailable("MMSC down")
        self.submits.append((recipient, subject, parts))
        return Submitted(network_ids=[f"M{next(self._ids)}"], parts=1)


class FakeVoice:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.fail = False
        self.duration = 65
        self._ids = itertools.count(1)

    async def call(self, recipient: str, text: str, repeat: int) -> Submitted:
        if self.fail:
            raise NetworkUnavailable("voice platform down")
        self.calls.append((recipient, text, repeat))
        return Submitted(network_ids=[f"V{next(self._ids)}"], parts=1, duration_seconds=self.duration)


@dataclass
class Fakes:
    sms: FakeSms = field(default_factory=FakeSms)
    mms: FakeMms = field(default_factory=FakeMms)
    voice: FakeVoice = field(default_factory=FakeVoice)

    @property
    def sent(self) -> int:
        return len(self.sms.submits) + len(self.mms.submits) + len(self.voice.calls)


@dataclass
class World:
    container: Container
    partner_id: str
    client_id: str
    token: str
    products: dict[str, str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def balances(self) -> dict[AccountType, Decimal]:
        async with self.container.uow() as uow:
            return await ledger.balances(uow.session, self.partner_id)

    async def prepaid_total(self) -> Decimal:
        b = await self.balances()
        return b[AccountType.PREPAID_AVAILABLE] + b[AccountType.PREPAID_RESERVED]

    async def cdrs(self) -> list[UsageRecord]:
        async with self.container.uow() as uow:
            return list(
                (
                    await uow.session.scalars(
                        select(UsageRecord).where(UsageRecord.partner_id == self.partner_id)
                    )
                ).all()
            )

    async def grants(self) -> list[Grant]:
        async with self.container.uow() as uow:
            return list(
                (await uow.session.scalars(select(Grant).where(Grant.partner_id == self.partner_id))).all()
            )

    async def set_status(self, status: PartnerStatus) -> None:
        from openability.kernel import events

        async with self.container.uow() as uow:
            p = await uow.session.get(Partner, self.partner_id)
            assert p is not None
            p.status = status
            uow.publish(events.PARTNER_CHANGED, self.partner_id)

    async def top_up(self, amount: Decimal) -> None:
        await top_up(self.container, self.partner_id, amount)

    async def new_token(self, scopes: list[str], expires_in: timedelta = timedelta(hours=1)) -> str:
        return await issue_token(self.container, self.partner_id, self.client_id, scopes, expires_in)


async def ensure_catalog_base(container: Container) -> None:
    async with container.uow() as uow:
        await ledger.ensure_platform_accounts(uow.session, uow.now)
        for code in ("sms", "mms", "voice"):
            if await uow.session.get(Capability, code) is None:
                uow.session.add(
                    Capability(
                        code=code, name_zh=code, name_en=code, operations=[], network_element=f"{code}-sim"
                    )
                )


async def make_product(
    container: Container,
    cap: str,
    *,
    prices: dict[tuple[str, str], list[tuple[int, Decimal]]] | None = None,
    rate_limit: int = 1000,
    valid_from: datetime | None = None,
) -> str:
    await ensure_catalog_base(container)
    price = PRICES[cap]
    tiers = prices or {
        ("national", "list"): [(0, price), (1000, price - Decimal("0.0100"))],
        ("national", "certified"): [(0, price - Decimal("0.0050"))],
        ("national", "strategic"): [(0, price - Decimal("0.0200"))],
    }
    async with container.uow() as uow:
        pid = new_id("prd")
        uow.session.add(
            Product(
                id=pid,
                code=f"{cap}-{next(_n)}",
                capability_code=cap,
                name_zh=cap,
                name_en=cap,
                unit=UNITS[cap],
                rate_limit_per_second=rate_limit,
                created_at=uow.now,
                updated_at=uow.now,
            )
        )
        await uow.session.flush()
        await add_plan(uow.session, pid, 1, valid_from or uow.now - timedelta(days=60), tiers, uow.now)
    return pid


async def add_plan(
    session: Any,
    product_id: str,
    version: int,
    valid_from: datetime,
    tiers: dict[tuple[str, str], list[tuple[int, Decimal]]],
    now: datetime,
    valid_to: datetime | None = None,
) -> str:
    plan_id = new_id("pp")
    session.add(
        PricePlan(
            id=plan_id,
            product_id=product_id,
            version=version,
            valid_from=valid_from,
            valid_to=valid_to,
            created_by="test",
            created_at=now,
        )
    )
    await session.flush()
    for (scope, band), lst in tiers.items():
        for frm, price in lst:
            session.add(PriceTier(plan_id=plan_id, scope=scope, band=band, from_volume=frm, unit_price=price))
    await session.flush()
    return plan_id


async def top_up(container: Container, partner_id: str, amount: Decimal) -> None:
    """A confirmed top-up payment and its TOP_UP entry, as billing books it."""
    async with container.uow() as uow:
        s = uow.session
        cash = await ledger.get_account(s, PLATFORM, AccountType.CASH)
        avail = await ledger.get_account(s, partner_id, AccountType.PREPAID_AVAILABLE)
        pay_id = new_id("pay")
        entry = await ledger.post(
            s,
            kind=EntryKind.TOP_UP,
            legs=[ledger.debit(cash, amount), ledger.credit(avail, amount)],
            now=uow.now,
            ref=("payment", pay_id),
        )
        s.add(
            Payment(
                id=pay_id,
                partner_id=partner_id,
                transaction_id=new_id("tx"),
                method=PaymentMethod.SANDBOX,
                purpose=PaymentPurpose.TOP_UP,
                amount=amount,
                state=PaymentState.CONFIRMED,
                created_at=uow.now,
                created_by="test",
                confirmed_at=uow.now,
                confirmed_by="test",
                journal_entry_id=entry.id,
            )
        )
        from openability.kernel import events

        uow.publish(events.BALANCE_CHANGED, partner_id)


async def issue_token(
    container: Container, partner_id: str, client_id: str, scopes: list[str], expires_in: timedelta
) -> str:
    token = secrets.token_urlsafe(32)
    async with container.uow() as uow:
        uow.session.add(
            AccessToken(
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                kind="client",
                subject_id=client_id,
                partner_id=partner_id,
                scopes=scopes,
                name="test",
                created_at=uow.now,
                expires_at=uow.now + expires_in,
            )
        )
    return token


async def make_world(
    container: Container,
    *,
    kind: PartnerKind = PartnerKind.AP,
    billing_mode: BillingMode = BillingMode.PREPAID,
    tier: Tier | None = None,
    balance: Decimal = Decimal("10.0000"),
    caps: tuple[str, ...] = ("sms", "mms", "voice"),
    scopes: list[str] | None = None,
    products: dict[str, str] | None = None,
    rate_limit: int = 1000,
) -> World:
    await ensure_catalog_base(container)
    prods = dict(products or {})
    for cap in caps:
        if cap not in prods:
            prods[cap] = await make_product(container, cap, rate_limit=rate_limit)
    async with container.uow() as uow:
        s = uow.session
        pid = new_id("prt")
        s.add(
            Partner(
                id=pid,
                kind=kind,
                name=f"partner {pid}",
                billing_mode=billing_mode,
                status=PartnerStatus.ACTIVE,
                tier=tier,
                created_at=uow.now,
                updated_at=uow.now,
            )
        )
        await s.flush()
        await ledger.ensure_partner_accounts(s, pid, uow.now)
        client_id = new_id("cli")
        s.add(
            ApiClient(
                id=client_id,
                partner_id=pid,
                name="app",
                secret_hash="x",
                scopes=["sms", "mms", "voice"],
                active=True,
                created_at=uow.now,
            )
        )
        for cap, prod in prods.items():
            if cap in caps:
                s.add(
                    ProductOrder(
                        id=new_id("ord"),
                        partner_id=pid,
                        product_id=prod,
                        state=OrderState.COMPLETED,
                        active=True,
                        created_at=uow.now,
                        completed_at=uow.now,
                    )
                )
    if balance:
        await top_up(container, pid, balance)
    token = await issue_token(
        container, pid, client_id, scopes or ["sms", "mms", "voice"], timedelta(hours=1)
    )
    return World(container, pid, client_id, token, prods)


@pytest.fixture
def fakes(container: Container) -> Fakes:
    f = Fakes()
    container.connectors.sms = f.sms
    container.connectors.mms = f.mms
    container.connectors.voice = f.voice
    return f


@pytest.fixture
async def client(container: Container, fakes: Fakes) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app with fake connectors injected before start-up."""
    from openability.app import create_app

    app = create_app(container, manage_container=False)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


@pytest.fixture
async def app_and_client(container: Container, fakes: Fakes) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The started app (to call raw, through ASGI) and an httpx client of it that answers 500 for an
    exception instead of raising it."""
    from openability.app import create_app

    app = create_app(container, manage_container=False)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield app, c


def asgi_post(path: str, headers: dict[str, str], *raw: tuple[bytes, bytes]) -> dict[str, Any]:
    """The ASGI scope of a POST to `path` as a server passes it: `headers` (lower-cased), the `raw`
    header pairs, a Host."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [*raw, (b"host", b"test")],
        "client": ("127.0.0.1", 40000),
        "server": ("test", 80),
    }


@pytest.fixture
async def world(container: Container) -> World:
    return await make_world(container)


def sms(to: list[str] | None = None, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"to": to or ["+8613800138000"], "text": text, **extra}


@pytest.fixture
def runtime(container: Container) -> Any:
    def get() -> Any:
        return container.gateway

    return get


@pytest.fixture
def kit() -> Any:
    """The builders above, for test modules (tests is not a package, so they cannot import them)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        make_world=make_world,
        make_product=make_product,
        add_plan=add_plan,
        top_up=top_up,
        issue_token=issue_token,
        sms=sms,
        asgi_post=asgi_post,
        PRICES=PRICES,
    )
