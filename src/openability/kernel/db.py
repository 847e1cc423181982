"""Database base, column types and engine factory. No engine is created at import time."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import BigInteger, DateTime, Enum, MetaData, String, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from openability.kernel.money import from_units, to_units

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Money(TypeDecorator[Decimal]):
    """Decimal CNY in code, exact integer 0.0001 units in storage."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"Money column needs Decimal, got {type(value).__name__}")
        return to_units(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return from_units(int(value))


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use the injected clock")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def IdStr() -> String:
    return String(40)


def json_dumps(value: Any) -> str:
    """JSON columns' serializer: orjson (a CDR has three JSON columns), UTF-8 rather than \\u escapes
    (same values when read back). Whatever orjson refuses (an int beyond 64 bits, a Decimal: the
    latter must not reach a JSON column) goes to the standard library, which serializes or raises
    TypeError as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def json_loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # e.g. NaN written by the standard library before orjson was used
        return json.loads(text)


def make_engine(url: str, *, search_path: str | None = None, pool_size: int = 20) -> AsyncEngine:
    """The engine. PostgreSQL: a fixed pool of `pool_size` connections and no overflow. Overflow
    connections are closed as soon as they are checked in while the pool is full, so a burst of calls
    (e.g. many partners' first calls) would open and close a connection (TCP, TLS negotiation, backend
    start: milliseconds of CPU each) again and again; a burst waits for a pooled connection instead."""
    kwargs: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": json_loads}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = 0
        if search_path:
            kwargs["connect_args"] = {"server_settings": {"search_path": search_path}}
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
            # Let SQLAlchemy's "begin" event own BEGIN (the driver's implicit BEGIN is off).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # SQLite: take the write lock at BEGIN so concurrent writers queue instead of failing on upgrade.
        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgres(session_or_engine: Any) -> bool:
    bind = getattr(session_or_engine, "bind", session_or_engine)
    return bool(bind.dialect.name == "postgresql")


def enum_column(e: type[enum.Enum]) -> Enum:
    """Enums stored as their string values (portable, readable in SQL)."""
    return Enum(e, native_enum=False, length=24, values_callable=lambda x: [m.value for m in x])
