"""The billing domain's face: enums, value objects and typed read models (no ORM)."""

from __future__ import annotations

import enum


class PaymentMethod(enum.StrEnum):
    SANDBOX = "sandbox"  # online provider simulator: confirms at once
    BANK_TRANSFER = "bank_transfer"  # an operator confirms when the funds arrive


class PaymentState(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class PaymentPurpose(enum.StrEnum):
    TOP_UP = "top_up"  # prepaid balance
    DEPOSIT = "deposit"  # postpaid SI security deposit
