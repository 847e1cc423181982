"""Is an exception a dependency being unreachable (the database down, restarting or overloaded), as
opposed to a bug? One answer for every route: an outage is 503 SERVICE_UNAVAILABLE with Retry-After
(nothing was done; the client may retry), a bug is 500 (kernel/web.unhandled_error)."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from openability.kernel.errors import Busy

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

RETRY_AFTER_SECONDS = 2

try:  # asyncpg is the PostgreSQL driver; its connection-level errors are outages
    from asyncpg import exceptions as _pg

    _PG_OUTAGE: tuple[type[Exception], ...] = (
        _pg.PostgresConnectionError,  # SQLSTATE class 08
        _pg.CannotConnectNowError,  # 57P03: starting up / shutting down
        _pg.AdminShutdownError,  # 57P01
        _pg.CrashShutdownError,  # 57P02
        _pg.TooManyConnectionsError,  # 53300
        _pg.ConnectionDoesNotExistError,
    )
except ImportError:  # pragma: no cover - asyncpg is a dependency
    _PG_OUTAGE = ()

_NETWORK: tuple[type[Exception], ...] = (ConnectionError, TimeoutError, socket.gaierror)


# The exception classes an outage shows up as: each gets the outage handler (kernel/web.py), which
# answers 503 when `is_outage` says so and re-raises anything else to the 500 handler.
OUTAGE_CLASSES: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    DBAPIError,
    *_NETWORK,
    *_PG_OUTAGE,
)


def is_outage(exc: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OperationalError | InterfaceError | PoolTimeout):
            return True
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, _NETWORK + _PG_OUTAGE):
            return True
        e = e.__cause__ or e.__context__
    return False


def log_failure(logger: logging.Logger, exc: BaseException, msg: str, *args: object) -> None:
    """Log a failed background step: an outage (the database down or restarting: expected, retried) as
    one warning line with its reason, anything else (a bug) with its traceback."""
    if is_outage(exc):
        logger.warning(msg + " (unavailable: %s: %s)", *args, type(exc).__name__, exc)
    else:
        logger.error(msg, *args, exc_info=exc)


def unavailable(what: str = "the database") -> Busy:
    return Busy(
        f"{what} is unavailable; nothing was done, please retry",
        details={"retryAfter": RETRY_AFTER_SECONDS},
    )


async def database_ready(platform: Platform, *, within_seconds: float) -> bool:
    """Does the database answer `SELECT 1` within the given seconds?"""
    try:
        async with asyncio.timeout(within_seconds), platform.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        if is_outage(exc) or isinstance(exc, TimeoutError):
            return False
        raise
    return True
