"""Notification test support: a local SMTP server (aiosmtpd, on a free port, in its own thread) that
keeps what it received and can be told to refuse; partners with contact emails, operators with emails,
partner users, login tokens; settings that point email delivery at the local server."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from openability.bootstrap import Container
from openability.kernel.ids import new_id, new_secret
from openability.kernel.uow import Actor
from openability.partners.models import AccessToken, Operator, Partner, PartnerUser
from openability.partners.tokens import hash_token
from openability.partners.types import BillingMode, PartnerKind, PartnerStatus

FAKE_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$3aK6Hh7YQfrlNi3sZ7C3eA"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class MailServer:
    """What the SMTP server received; `refuse` makes it answer every RCPT with that reply."""

    port: int
    received: list[Received] = field(default_factory=list)
    refuse: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"


def start_server(handler: MailServer, **kwargs: Any) -> Controller:
    ctl = Controller(handler, hostname="127.0.0.1", port=handler.port, **kwargs)
    ctl.start()
    return ctl


def refuse_login(secret_echo: str) -> Any:
    """An authenticator that refuses every login and (badly) echoes the password in its reply."""

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        password = data.password.decode() if isinstance(data.password, bytes) else str(data.password)
        return AuthResult(
            success=False, handled=False, message=f"535 5.7.8 bad credentials {password} {secret_echo}"
        )

    return authenticator


@dataclass
class World:
    container: Container

    async def partner(self, name: str = "", *, email: str = "", owner_id: str | None = None) -> Partner:
        now = self.container.clock.now()
        p = Partner(
            id=new_id("prt"),
            kind=PartnerKind.AP,
            name=name or f"测试伙伴 {new_id('x')[-6:]}",
            billing_mode=BillingMode.PREPAID,
            status=PartnerStatus.ACTIVE,
            contact_email=email,
            service_owner_id=owner_id,
            created_at=now,
            updated_at=now,
        )
        async with self.container.uow() as uow:
            uow.session.add(p)
        return p

    async def operator(
        self, username: str, roles: list[str], *, email: str = "", active: bool = True
    ) -> Operator:
        op = Operator(
            id=new_id("opr"),
            username=username,
            display_name=username.title(),
            email=email,
            password_hash=FAKE_HASH,
            roles=roles,
            active=active,
            created_at=self.container.clock.now(),
        )
        async with self.container.uow() as uow:
            uow.session.add(op)
        return op

    async def user(self, partner: Partner) -> PartnerUser:
        u = PartnerUser(
            id=new_id("pu"),
            partner_id=partner.id,
            username=f"u{new_id('x')[-8:]}",
            display_name="伙伴用户",
            password_hash=FAKE_HASH,
            role="admin",
            active=True,
            created_at=self.container.clock.now(),
        )
        async with self.container.uow() as uow:
            uow.session.add(u)
        return u

    async def token(self, kind: str, subject_id: str, partner_id: str | None = None) -> str:
        tok = new_secret(32)
        async with self.container.uow() as uow:
            uow.session.add(
                AccessToken(
                    token_hash=hash_token(tok),
                    kind=kind,
                    subject_id=subject_id,
                    partner_id=partner_id,
                    scopes=[],
                    name="test",
                    created_at=self.container.clock.now(),
                    expires_at=None,
                )
            )
        return tok

    @staticmethod
    def as_op(op: Operator) -> Actor:
        return Actor(type="operator", id=op.id, roles=frozenset(op.roles), name=op.display_name)

    @staticmethod
    def as_user(u: PartnerUser) -> Actor:
        return Actor(
            type="partner_user",
            id=u.id,
            partner_id=u.partner_id,
            roles=frozenset({"admin"}),
            name=u.display_name,
        )
