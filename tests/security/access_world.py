"""The access tests' world (issue 8, tests/security): the demo data (seed_demo) plus one operator per
operator role, partner A (the demo AP) and partner B (the demo SI) each with a user of every partner-user
role, A's API client token and the anonymous caller; real objects of A and B for every kind of path parameter; and
builders of fresh objects (a ticket in a given state, a pending payment, an active order, an API client, a
notification, a partner) for the calls that change what they touch.

Everything is made through the services (as the system actor) and the real login and token routes, on the
backend under test (SQLite, and PostgreSQL when OPENABILITY_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from openability.bootstrap import Container
from openability.connectors.base import SmsSubmission, Submitted
from openability.connectors.sms_codec import count_segments
from openability.kernel.ids import new_secret
from openability.partners.models import AccessToken
from openability.partners.rules import OPERATOR_ROLES, PARTNER_USER_ROLES
from openability.partners.tokens import KIND_OPERATOR, KIND_PARTNER_USER, hash_token

PASSWORD = "matrix12345"
PDF = b"%PDF-1.4\n% access matrix\n"
# The WeChat-Pay-like provider the world's installation offers (its notifications are HMAC-signed).
WECHAT_APP_ID = "wx0000000000000001"
WECHAT_MCH_ID = "1900000001"
WECHAT_KEY = "k" * 32


class _Network:
    """Stands in for the SMSC, MMSC and voice platform: always accepts (A and B make one call each, so
    that the usage routes have rows of both partners)."""

    available = True

    async def submit(self, msg: Any, *rest: Any) -> Submitted:
        parts = count_segments(msg.text)[1] if isinstance(msg, SmsSubmission) else 1
        return Submitted(network_ids=[f"N{i}" for i in range(parts)], parts=parts)

    async def call(self, recipient: str, text: str, repeat: int) -> Submitted:
        return Submitted(network_ids=["V1"], parts=1, duration_seconds=65)


@dataclass(frozen=True)
class Who:
    """One caller of the matrix. kind: operator | partner | client | anonymous."""

    name: str
    kind: str
    role: str = ""
    partner: str = ""  # "A" or "B" for partner users and the client token
    subject_id: str = ""  # the operator's or partner user's id
    username: str = ""
    token: str = ""

    @property
    def authenticated(self) -> bool:
        return self.kind in ("operator", "partner")


@dataclass
class Objects:
    """Real, long-lived objects of one partner (read by the calls that only read)."""

    partner_id: str
    client_id: str
    client_secret: str
    client_token: str  # a bearer token of that client (it made the capability call)
    order_id: str
    payment_id: str
    invoice_id: str
    ticket_id: str
    attachment_id: str
    notification_id: str
    statement_id: str  # an issued statement
    due_statement_id: str  # a confirmed postpaid statement, due (collections)
    username: str
    password: str
    application_id: str = ""  # a draft admission application (admission rows made directly)
    document_id: str = ""  # a document of it
    contract_id: str = ""  # a contract in force
    change_id: str = ""  # an interface-contact change waiting for its handover
    report_id: str = ""  # an open requested report
    filing_id: str = ""  # a publicity filing waiting for its decision


@dataclass
class SecWorld:
    container: Container
    app: Any
    client: httpx.AsyncClient
    who: dict[str, Who]
    objects: dict[str, Objects]  # "A", "B"
    operator_ids: dict[str, str]  # username -> id
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def n(self) -> int:
        return next(self._n)

    def headers(self, who: Who) -> dict[str, str]:
        return {"Authorization": f"Bearer {who.token}"} if who.token else {}

    # ---- fresh objects (as the system actor) ------------------------------------------------

    async def fresh_partner(self, *, suspended: bool = False) -> str:
        from openability.partners import lifecycle as partners
        from openability.partners.schemas import CreateSi
        from openability.partners.types import PartnerStatus

        async with self.container.uow() as uow:
            p = await partners.create_si(
                uow, CreateSi(name=f"矩阵集成伙伴{self.n()}", billing_mode="prepaid", activate=True)
            )
            pid = p.id
        if suspended:
            async with self.container.uow() as uow:
                await partners.set_partner_status(uow, pid, PartnerStatus.SUSPENDED, "矩阵测试")
        return pid

    async def fresh_ticket(self, partner_id: str, state: str = "acknowledged") -> str:
        from openability.tickets import service as tickets
        from openability.tickets.rules import Action
        from openability.tickets.schemas import CreateTicket, TransitionIn

        async with self.container.uow() as uow:
            t = await tickets.create_ticket(
                uow,
                CreateTicket.model_validate(
                    {
                        "type": "consultation",
                        "subtype": "tariffs",
                        "subject": "资费咨询",
                        "partnerId": partner_id,
                    }
                ),
            )
            tid = t.id
        if state == "resolved":
            async with self.container.uow() as uow:
                await tickets.transition(uow, tid, Action.RESOLVE, TransitionIn(resolution="已答复"))
        return tid

    async def fresh_pending_payment(self, partner_id: str) -> str:
        from openability.billing import service as billing
        from openability.billing.types import PaymentMethod

        async with self.container.uow() as uow:
            p, _ = await billing.create_payment(
                uow, partner_id, f"mx-bank-{self.n()}", Decimal("20.00"), PaymentMethod.BANK_TRANSFER
            )
            return p.id

    async def fresh_statement(self, partner_id: str) -> str:
        """An issued statement of the partner (of a month of its own: one statement per partner and month),
        open to confirmation or dispute."""
        n = self.n()
        return await issued_statement(self.container, partner_id, f"{2000 + n // 12:04d}-{n % 12 + 1:02d}")

    async def fresh_provider_notification(self, partner_id: str) -> bytes:
        """A pending online payment of the partner at the WeChat-Pay-like provider, and the provider's
        signed "paid" notification of it (an XML document)."""
        from openability.billing.models import Payment, ProviderOrder
        from openability.billing.providers.wechat_like import hmac_sign, to_xml
        from openability.billing.types import PaymentMethod, PaymentState
        from openability.kernel.ids import new_id

        n = self.n()
        async with self.container.uow() as uow:
            payment = Payment(
                id=new_id("pay"),
                partner_id=partner_id,
                transaction_id=f"mx-online-{n}",
                method=PaymentMethod.ONLINE,
                amount=Decimal("20.00"),
                state=PaymentState.PENDING,
                created_at=uow.now,
                created_by="matrix",
            )
            uow.session.add(payment)
            await uow.session.flush()
            uow.session.add(
                ProviderOrder(
                    payment_id=payment.id,
                    provider="wechatpay",
                    pay_url=f"weixin://wxpay/bizpayurl?pr={payment.id}",
                    created_at=uow.now,
                )
            )
            payment_id = payment.id
        fields = {
            "return_code": "SUCCESS",
            "result_code": "SUCCESS",
            "appid": WECHAT_APP_ID,
            "mch_id": WECHAT_MCH_ID,
            "nonce_str": f"mx{n:08d}",
            "trade_type": "NATIVE",
            "total_fee": "2000",
            "cash_fee": "2000",
            "transaction_id": f"4200{n:016d}",
            "out_trade_no": payment_id,
            "time_end": "20261102100459",
        }
        return to_xml(fields | {"sign": hmac_sign(fields, WECHAT_KEY)}).encode()

    async def no_active_order(self, partner_id: str, product: str) -> None:
        from openability.catalog import service as catalog
        from openability.catalog.models import Product, ProductOrder

        async with self.container.uow() as uow:
            ids = (
                await uow.session.scalars(
                    select(ProductOrder.id)
                    .join(Product, Product.id == ProductOrder.product_id)
                    .where(
                        ProductOrder.partner_id == partner_id,
                        Product.code == product,
                        ProductOrder.active.is_(True),
                    )
                )
            ).all()
        for oid in ids:
            async with self.container.uow() as uow:
                await catalog.cancel_order(uow, oid)

    async def fresh_order(self, partner_id: str, product: str = "mms-standard") -> str:
        from openability.catalog import service as catalog

        await self.no_active_order(partner_id, product)
        async with self.container.uow() as uow:
            return (await catalog.place_order(uow, partner_id, product)).id

    async def fresh_client(self, partner_id: str) -> str:
        from openability.partners import oauth as partners

        async with self.container.uow() as uow:
            c, _ = await partners.create_api_client(uow, partner_id, f"matrix {self.n()}", ["sms"])
            return c.id

    async def fresh_notification(self, who: Who, home: str) -> str:
        from openability.kernel.notify import notify

        recipient = ("operator", who.subject_id) if who.kind == "operator" else ("partner", home)
        async with self.container.uow() as uow:
            n = await notify(
                uow, recipient=recipient, kind="matrix", subject="矩阵通知", body="access matrix"
            )
            assert n is not None
            return n.id

    # ---- admission (rows made directly: A and B are admitted already; the flow is tests/admission's) ----

    async def fresh_application(self, partner_id: str, state: str = "draft") -> str:
        app_id, _ = await admission_application(self.container, partner_id, state)
        return app_id

    async def fresh_applicant(self) -> tuple[str, str]:
        """A new SI applicant (its partner id) and a login token of its admin user."""
        from openability.partners import identity
        from openability.partners import lifecycle as partners
        from openability.partners.types import ProductKind, Scope

        n = self.n()
        async with self.container.uow() as uow:
            p, _ = await partners.register_applicant(
                uow,
                name=f"矩阵申请{n}有限公司",
                username=f"mx-applicant-{n}",
                password=PASSWORD,
                display_name="",
                contact_name="申请人",
                contact_email=f"mx-applicant-{n}@example.com",
                contact_phone="13700137000",
                credit_code=None,
                billing_mode="prepaid",
                scope=Scope.NATIONAL,
                product_kind=ProductKind.STANDARD,
                industry=None,
            )
            pid = p.id
        async with self.container.uow() as uow:
            token, _ = await identity.login(uow, f"mx-applicant-{n}", PASSWORD)
        return pid, token

    async def fresh_applicant_application(self, state: str) -> str:
        """An application of a new applicant in `state`; contracted: with a signed postpaid contract whose
        deposit (none) is met, so that asking for activation succeeds."""
        pid, _ = await self.fresh_applicant()
        app_id, _ = await admission_application(self.container, pid, state)
        if state == "contracted":
            await admission_contract(self.container, pid, app_id, f"MX-S-{self.n()}", "signed")
        return app_id

    async def fresh_contract(self, partner_id: str) -> str:
        app_id, _ = await admission_application(self.container, partner_id, "active")
        return await admission_contract(self.container, partner_id, app_id, f"MX-C-{self.n()}", "inForce")

    async def no_waiting_contact_change(self, partner_id: str) -> None:
        from sqlalchemy import update

        from openability.admission.models import InterfaceContact

        async with self.container.uow() as uow:
            await uow.session.execute(
                update(InterfaceContact)
                .where(InterfaceContact.partner_id == partner_id, InterfaceContact.state == "requested")
                .values(state="cancelled")
            )

    async def fresh_contact_change(self, partner_id: str) -> str:
        return await obligation_rows(self.container, partner_id, "change")

    async def fresh_report(self, partner_id: str) -> str:
        return await obligation_rows(self.container, partner_id, "report")

    async def fresh_filing(self, partner_id: str) -> str:
        return await obligation_rows(self.container, partner_id, "filing")

    async def calendar_override(self, day: date) -> None:
        from openability.kernel import calendar_admin

        async with self.container.uow() as uow:
            await calendar_admin.set_override(uow, day, True, "矩阵测试")

    async def extra_token(self, who: Who) -> str:
        """A second login token of the caller (the logout call revokes it, not the one the run uses)."""
        token = new_secret(32)
        async with self.container.uow() as uow:
            uow.session.add(
                AccessToken(
                    token_hash=hash_token(token),
                    kind=KIND_OPERATOR if who.kind == "operator" else KIND_PARTNER_USER,
                    subject_id=who.subject_id,
                    partner_id=self.objects[who.partner].partner_id if who.partner else None,
                    scopes=[],
                    name="matrix logout",
                    created_at=uow.now,
                    expires_at=None,
                )
            )
        return token


async def issued_statement(container: Container, partner_id: str, month: str) -> str:
    """An issued statement of the partner for the month (one usage line, CNY 12.34), its window to
    confirm or dispute open until 2100."""
    from openability.billing.models import Statement, StatementLine
    from openability.billing.types import LineKind, StatementState
    from openability.kernel.ids import new_id

    total = Decimal("12.3400")
    zero = Decimal("0.0000")
    async with container.uow() as uow:
        stmt = Statement(
            id=new_id("stm"),
            partner_id=partner_id,
            month=month,
            state=StatementState.ISSUED,
            billing_mode="prepaid",
            calls=1,
            quantity=1,
            provisional=total,
            exact=total,
            adjustments=zero,
            rounding=zero,
            total=total,
            true_up=zero,
            undercharge=zero,
            created_at=uow.now,
            issued_at=uow.now,
            confirm_by=datetime(2100, 1, 1, tzinfo=UTC),
        )
        uow.session.add(stmt)
        await uow.session.flush()
        uow.session.add(
            StatementLine(
                statement_id=stmt.id,
                seq=1,
                kind=LineKind.USAGE,
                description="矩阵短信 / access matrix",
                units=1,
                amount=total,
            )
        )
        return stmt.id


async def due_statement(container: Container, partner_id: str, month: str) -> str:
    """A confirmed postpaid statement of the partner for the month (CNY 12.34), due (billing.dues)."""
    from openability.billing import dues
    from openability.billing.models import Statement, StatementLine
    from openability.billing.types import LineKind, StatementState
    from openability.kernel.ids import new_id

    total, zero = Decimal("12.3400"), Decimal("0.0000")
    async with container.uow() as uow:
        stmt = Statement(
            id=new_id("stm"),
            partner_id=partner_id,
            month=month,
            state=StatementState.CONFIRMED,
            billing_mode="postpaid",
            provisional=total,
            exact=total,
            adjustments=zero,
            rounding=zero,
            total=total,
            true_up=zero,
            undercharge=zero,
            created_at=uow.now,
            issued_at=uow.now,
            confirm_by=datetime(2100, 1, 1, tzinfo=UTC),
        )
        uow.session.add(stmt)
        await uow.session.flush()
        uow.session.add(
            StatementLine(
                statement_id=stmt.id, seq=1, kind=LineKind.USAGE, units=1, amount=total, description="矩阵"
            )
        )
        await dues.open_due(uow, stmt)
        return stmt.id


async def admission_application(container: Container, partner_id: str, state: str) -> tuple[str, str]:
    """An application of the partner in `state`, complete (four valid certificates and a business plan,
    capital above the minimum), each document's file on disk; returns (application id, a document id)."""
    from openability.admission.models import Application, Document
    from openability.admission.types import ApplicationState, DocumentKind
    from openability.kernel.ids import new_id

    kinds = (
        "business_licence",
        "bank_account_permit",
        "tax_registration",
        "org_code_certificate",
        "business_plan",
    )
    async with container.uow() as uow:
        app = Application(
            id=new_id("apl"),
            partner_id=partner_id,
            state=ApplicationState(state),
            company_name="矩阵申请公司",
            registered_capital=Decimal("5000000"),
            product_kind="standard",
            scope="national",
            intended_products=["sms-standard"],
            billing_mode="prepaid",
            needs_resource_authorization=False,
            local_customer_resources="",
            local_promotion_resources="",
            legal_representative="",
            address="",
            decision_reason="",
            submitted_at=uow.now if state != "draft" else None,
            created_at=uow.now,
            updated_at=uow.now,
        )
        uow.session.add(app)
        await uow.session.flush()
        doc_ids = []
        for kind in kinds:
            cert = kind != "business_plan"
            d = Document(
                id=new_id("doc"),
                partner_id=partner_id,
                owner_type="application",
                owner_id=app.id,
                kind=DocumentKind(kind),
                number="MX-1" if cert else "",
                issuer="矩阵局" if cert else "",
                valid_from=date(2020, 1, 1) if cert else None,
                valid_to=date(2035, 1, 1) if cert else None,
                filename="矩阵.pdf",
                content_type="application/pdf",
                size=len(PDF),
                sha256="0" * 64,
                storage_key=f"{partner_id}/{app.id}-{kind}",
                uploaded_by_type="system",
                uploaded_by_id="matrix",
                created_at=uow.now,
            )
            uow.session.add(d)
            path = container.settings.data_dir / "admission" / d.storage_key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(PDF)
            doc_ids.append(d.id)
        return app.id, doc_ids[0]


async def admission_contract(
    container: Container, partner_id: str, app_id: str, number: str, state: str
) -> str:
    from openability.admission.models import Contract
    from openability.admission.types import ContractState
    from openability.kernel.ids import new_id

    async with container.uow() as uow:
        c = Contract(
            id=new_id("ctr"),
            number=number,
            application_id=app_id,
            partner_id=partner_id,
            state=ContractState(state),
            scope="national",
            product_kind="standard",
            billing_mode="postpaid",
            price_band="certified",
            deposit=Decimal("0"),
            agreed_payment=Decimal("0"),
            valid_from=date(2026, 1, 1),
            valid_to=date(2027, 12, 31),
            recorded_by="matrix",
            created_at=uow.now,
            end_reason="",
        )
        uow.session.add(c)
        return c.id


async def obligation_rows(container: Container, partner_id: str, what: str) -> str:
    """One obligation row of the partner, made directly: a contact change waiting for its handover (any
    earlier one still waiting is cancelled), an open report due in a month, a publicity filing."""
    from datetime import timedelta

    from sqlalchemy import update

    from openability.admission.models import InterfaceContact, PublicityFiling, ReportRequest
    from openability.kernel.ids import new_id

    async with container.uow() as uow:
        row: Any
        if what == "change":
            await uow.session.execute(
                update(InterfaceContact)
                .where(InterfaceContact.partner_id == partner_id, InterfaceContact.state == "requested")
                .values(state="cancelled")
            )
            row = InterfaceContact(
                id=new_id("ctc"),
                partner_id=partner_id,
                state="requested",
                name="矩阵接口人",
                phone="+8613700137000",
                email="",
                reason="矩阵",
                effective_at=uow.now + timedelta(days=3),
                filed_at=uow.now,
                filed_by="matrix",
                handover_note="",
            )
        elif what == "report":
            row = ReportRequest(
                id=new_id("rpt"),
                partner_id=partner_id,
                kind="other",
                title="矩阵报告",
                due_at=uow.now + timedelta(days=30),
                state="open",
                requested_by="matrix",
                created_at=uow.now,
                note="",
                next_requested=False,
            )
        else:
            row = PublicityFiling(
                id=new_id("pub"),
                partner_id=partner_id,
                title="矩阵宣传",
                channel="",
                state="filed",
                filed_at=uow.now,
                filed_by="matrix",
                comment="",
            )
        uow.session.add(row)
        return str(row.id)


def _ok(resp: httpx.Response, what: str, status: int = 200) -> Any:
    assert resp.status_code == status, f"{what}: {resp.status_code} {resp.text}"
    return resp.json()


async def _login(client: httpx.AsyncClient, username: str, password: str) -> tuple[str, str]:
    body = _ok(
        await client.post("/api/v1/auth/login", json={"username": username, "password": password}), username
    )
    return body["access_token"], body["actor"]["id"]


async def _partner_objects(
    container: Container, client: httpx.AsyncClient, creds: dict[str, Any], token: str
) -> Objects:
    """A's or B's long-lived objects: its seeded order, payment and invoice, an open ticket with an
    attachment, a notification to the partner, an issued statement, one capability call (a usage record)."""
    from openability.billing.models import Invoice, Payment
    from openability.catalog.models import ProductOrder
    from openability.kernel.notify import notify

    pid = creds["id"]
    async with container.uow() as uow:
        order_id = await uow.session.scalar(
            select(ProductOrder.id).where(ProductOrder.partner_id == pid).limit(1)
        )
        payment_id = await uow.session.scalar(select(Payment.id).where(Payment.partner_id == pid).limit(1))
        invoice_id = await uow.session.scalar(select(Invoice.id).where(Invoice.partner_id == pid).limit(1))
        n = await notify(
            uow, recipient=("partner", pid), kind="matrix", subject="矩阵通知", body="access matrix"
        )
        assert order_id and payment_id and invoice_id and n is not None
        notification_id = n.id
    auth = {"Authorization": f"Bearer {token}"}
    ticket = _ok(
        await client.post(
            "/api/v1/tickets",
            json={"type": "consultation", "subtype": "tariffs", "subject": "资费咨询"},
            headers=auth,
        ),
        "ticket",
        201,
    )
    attachment = _ok(
        await client.post(
            f"/api/v1/tickets/{ticket['id']}/attachments",
            files={"file": ("说明.pdf", PDF, "application/pdf")},
            headers=auth,
        ),
        "attachment",
        201,
    )
    form = {
        "grant_type": "client_credentials",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
    }
    client_token = _ok(await client.post("/oauth/token", data=form), "client token")["access_token"]
    _ok(
        await client.post(
            "/capabilities/sms/v1/messages",
            json={"to": ["+8613800138000"], "text": "矩阵测试"},
            headers={"Authorization": f"Bearer {client_token}"},
        ),
        "sms",
        201,
    )
    application_id, document_id = await admission_application(container, pid, "draft")
    contract_app, _ = await admission_application(container, pid, "active")
    contract_id = await admission_contract(container, pid, contract_app, f"MX-{pid}", "inForce")
    return Objects(
        change_id=await obligation_rows(container, pid, "change"),
        report_id=await obligation_rows(container, pid, "report"),
        filing_id=await obligation_rows(container, pid, "filing"),
        application_id=application_id,
        document_id=document_id,
        contract_id=contract_id,
        partner_id=pid,
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        client_token=client_token,
        order_id=order_id,
        payment_id=payment_id,
        invoice_id=invoice_id,
        ticket_id=ticket["id"],
        attachment_id=attachment["id"],
        notification_id=notification_id,
        statement_id=await issued_statement(container, pid, "1999-12"),
        due_statement_id=await due_statement(container, pid, "1999-11"),
        username=creds["username"],
        password=creds["password"],
    )


@asynccontextmanager
async def build_world(container: Container) -> AsyncIterator[SecWorld]:
    from openability.app import create_app
    from openability.partners import identity as partners
    from openability.seed import seed_demo

    container.connectors.sms = container.connectors.mms = container.connectors.voice = _Network()  # type: ignore[assignment]
    creds = await seed_demo(container)
    ap, si = creds["partners"]["ap"], creds["partners"]["si"]
    async with container.uow() as uow:
        for role in sorted(OPERATOR_ROLES):
            await partners.create_operator(uow, f"m-{role}", PASSWORD, [role], display_name=f"矩阵 {role}")
        for side, pid in (("a", ap["id"]), ("b", si["id"])):
            for role in sorted(PARTNER_USER_ROLES - {"admin"}):
                await partners.create_partner_user(uow, pid, f"{side}-{role}", PASSWORD, role)

    app = create_app(container, manage_container=False)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            who: dict[str, Who] = {}
            operator_ids: dict[str, str] = {}
            for role in sorted(OPERATOR_ROLES):
                token, oid = await _login(client, f"m-{role}", PASSWORD)
                who[f"op:{role}"] = Who(f"op:{role}", "operator", role, "", oid, f"m-{role}", token)
                operator_ids[f"m-{role}"] = oid
            for side, c in (("A", ap), ("B", si)):
                for role in sorted(PARTNER_USER_ROLES):
                    username = c["username"] if role == "admin" else f"{side.lower()}-{role}"
                    token, uid = await _login(
                        client, username, c["password"] if role == "admin" else PASSWORD
                    )
                    who[f"{side}:{role}"] = Who(f"{side}:{role}", "partner", role, side, uid, username, token)
            objects = {
                "A": await _partner_objects(container, client, ap, who["A:admin"].token),
                "B": await _partner_objects(container, client, si, who["B:admin"].token),
            }
            who["A:client"] = Who(
                "A:client", "client", "", "A", ap["client_id"], "", objects["A"].client_token
            )
            who["anonymous"] = Who("anonymous", "anonymous")
            yield SecWorld(container, app, client, who, objects, operator_ids)
