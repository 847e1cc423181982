"""The billing domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum


class PaymentMethod(enum.StrEnum):
    SANDBOX = "sandbox"  # demo/test provider simulator (settings.payments_sandbox): confirms at once
    BANK_TRANSFER = "bank_transfer"  # an operator confirms when the funds arrive
    ONLINE = "online"  # an online provider (billing/providers/) confirms by a signed notification


class PaymentState(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class PaymentPurpose(enum.StrEnum):
    TOP_UP = "top_up"  # prepaid balance
    DEPOSIT = "deposit"  # postpaid SI security deposit
