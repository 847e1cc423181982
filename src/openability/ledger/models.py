"""Double-entry journal. Line amounts are signed: debit positive, credit negative; each entry sums to 0.
Account.balance is kept in the account's normal side (so a partner's prepaid money reads positive)
and always equals the sum of its lines times the side sign; `openability audit` checks it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openability.kernel.db import Base, IdStr, Money, UTCDateTime, enum_column
from openability.ledger.types import (
    AccountType,
    EntryKind,
)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("owner_id", "type", "slot"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(40), index=True)  # partner id or "platform"
    type: Mapped[AccountType] = mapped_column(enum_column(AccountType))
    # a partner's prepaid:reserved money per worker slot (ledger/types.py RESERVED_SLOTS); 0 otherwise
    slot: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    # optimistic version, bumped on each posting: cheap evidence of contention in benchmarks
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_ref", "ref_type", "ref_id"),)

    id: Mapped[str] = mapped_column(IdStr(), primary_key=True)
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind))
    ref_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ref_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    memo: Mapped[str] = mapped_column(String(300), default="")
    reversal_of: Mapped[str | None] = mapped_column(IdStr(), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class JournalLine(Base):
    __tablename__ = "journal_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())  # debit > 0, credit < 0
