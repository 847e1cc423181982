"""The seam between the platform and an online payment provider (Alipay, WeChat Pay and the like).

A provider does two things for the platform: it opens a payment order (the platform's payment id is
the provider's merchant order number) and answers where the payer pays (a pay URL or a QR payload);
later it confirms the payment by a signed asynchronous notification to
`POST /api/v1/payments/notify/{provider}`, which the adapter verifies and turns into a typed
`Notification`. What the platform does with a verified notification (amount, order, idempotency by
the provider's transaction id, the ledger) is the billing service's, the same for every provider."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from openability.kernel.errors import AppError, InvalidArgument


class ProviderUnavailable(AppError):
    """The provider could not be reached, refused the order or answered something unverifiable."""

    status = 502
    code = "PAYMENT_PROVIDER_UNAVAILABLE"


class BadNotification(InvalidArgument):
    """A notification that is not the provider's: bad or missing signature, malformed fields."""

    code = "INVALID_NOTIFICATION"


@dataclass(frozen=True)
class OrderRequest:
    order_id: str  # the platform's payment id: the provider's merchant order number (out_trade_no)
    amount: Decimal  # CNY, whole fen
    subject: str  # shown to the payer
    notify_url: str  # where the provider posts its notification
    requested_at: datetime  # the platform's clock (the request's timestamp)
    timeout_minutes: int = 30  # the provider closes the order unpaid after this


@dataclass(frozen=True)
class ProviderOrder:
    pay_url: str  # where the payer pays: a URL to open, or the payload of a QR code to scan


class TradeStatus(enum.StrEnum):
    PAID = "paid"  # the funds are the merchant's
    CLOSED = "closed"  # closed unpaid (timed out or cancelled)
    WAITING = "waiting"  # created, not paid yet


@dataclass(frozen=True)
class Notification:
    """A verified notification: the signature checked, fields typed. Amount, order and merchant are
    checked against the platform's records by the billing service."""

    provider: str
    app_id: str
    merchant_id: str  # the provider's merchant (seller) id, "" when the provider sends none
    order_id: str  # the platform's payment id
    transaction_id: str  # the provider's own transaction id: a payment is credited once per id
    amount: Decimal
    status: TradeStatus
    raw_status: str
    paid_at: datetime | None


@dataclass(frozen=True)
class NotifyReply:
    """What the provider expects as the answer to a notification it may stop retrying."""

    body: str
    media_type: str = "text/plain"


class PaymentProvider(Protocol):
    """One online payment provider. `name` is its path segment in the notify URL."""

    @property
    def name(self) -> str: ...

    @property
    def app_id(self) -> str: ...

    @property
    def merchant_id(self) -> str: ...

    async def create_order(self, order: OrderRequest) -> ProviderOrder:
        """Open the order at the provider (raises ProviderUnavailable)."""
        ...

    def parse_notification(self, content_type: str, body: bytes) -> dict[str, str]:
        """The notification's fields, as the provider sends them (form or JSON); BadNotification if
        they cannot be read."""
        ...

    def verify_notification(self, fields: Mapping[str, str]) -> Notification:
        """Check the signature with the provider's public key and type the fields (BadNotification)."""
        ...

    def success_reply(self) -> NotifyReply:
        """The answer that tells the provider the notification was handled (stop retrying)."""
        ...
