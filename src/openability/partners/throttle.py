"""Login and client-secret throttling (issue 8): a guessing run against one account, one API client or
from one source address is slowed down exponentially and then locked out for a while; every failure
and every refusal is audited. State is in the database (`login_failures`), so it holds across workers
and restarts; it is written only on failures, never on the charging path.

Keys: "user:<username>" (an operator or partner user, known or not: an unknown name is throttled the
same way, so the lockout does not reveal which names exist), "client:<client_id>", "source:<address>".
A refusal is 429 TOO_MANY_REQUESTS with Retry-After, decided before the password is hashed."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import select

from openability.kernel.errors import TooManyRequests, Unauthenticated
from openability.kernel.uow import UnitOfWork
from openability.partners import rules
from openability.partners._common import audit_as
from openability.partners.models import LoginFailure


def keys_for(subject: str, source: str | None) -> list[str]:
    keys = [subject[:200]]
    if source:
        keys.append(f"source:{source}"[:200])
    return keys


def _threshold(uow: UnitOfWork, key: str) -> int:
    s = uow.settings
    return s.login_source_max_failures if key.startswith("source:") else s.login_max_failures


async def check(uow: UnitOfWork, keys: list[str], what: str) -> None:
    """Refuse (429, audited) while any key is locked."""
    rows = (await uow.session.scalars(select(LoginFailure).where(LoginFailure.key.in_(keys)))).all()
    locked = [r for r in rows if r.locked_until is not None and r.locked_until > uow.now]
    if not locked:
        return
    until = max(r.locked_until for r in locked if r.locked_until is not None)
    wait = max(1, math.ceil((until - uow.now).total_seconds()))
    audit_as(
        uow,
        ("anonymous", "-"),
        f"{what}.throttled",
        ("login", locked[0].key),
        after={"keys": [r.key for r in locked], "retry_after": wait},
    )
    uow.commit_despite(TooManyRequests)  # the refusal's audit row stands
    raise TooManyRequests(f"too many failed attempts; try again in {wait} s", details={"retryAfter": wait})


async def failed(uow: UnitOfWork, keys: list[str], what: str, reason: str) -> None:
    """Count a failure on every key and lock the keys that reached their threshold; audited. The caller
    raises its refusal next: the unit of work commits these records all the same (commit_despite)."""
    s = uow.settings
    uow.commit_despite(Unauthenticated)
    stmt = select(LoginFailure).where(LoginFailure.key.in_(keys)).with_for_update()
    rows = {r.key: r for r in (await uow.session.scalars(stmt)).all()}
    locked: dict[str, float] = {}
    for key in keys:
        row = rows.get(key)
        if row is None:
            row = LoginFailure(key=key, failures=0, locked_until=None, updated_at=uow.now)
            uow.session.add(row)
        row.failures += 1
        row.updated_at = uow.now
        seconds = rules.lockout_seconds(
            row.failures, _threshold(uow, key), s.login_lockout_base_seconds, s.login_lockout_max_seconds
        )
        if seconds:
            row.locked_until = uow.now + timedelta(seconds=seconds)
            locked[key] = seconds
    audit_as(
        uow,
        ("anonymous", "-"),
        f"{what}.failed",
        ("login", keys[0]),
        after={"reason": reason, "keys": keys, "locked_seconds": locked or None},
    )


async def succeeded(uow: UnitOfWork, subject_key: str) -> None:
    """A success clears the account's (or client's) count; the source's count stands."""
    row = await uow.session.get(LoginFailure, subject_key)
    if row is not None:
        await uow.session.delete(row)
