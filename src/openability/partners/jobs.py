"""Partners' housekeeping job: forget old login failures (throttle.py keeps one row per key ever seen
failing — account, API client or source address — and nothing else deletes the rows of keys that never
succeed, e.g. a scanner's addresses)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_

from openability.jobs.registry import Job, daily
from openability.partners.models import LoginFailure

if TYPE_CHECKING:
    from openability.kernel.platform import Platform
    from openability.kernel.uow import UnitOfWork


async def prune_login_failures(uow: UnitOfWork) -> int:
    """Delete the keys whose last failure is older than the retention and that are not locked now; a
    locked key stays until its lock has expired and the retention has passed. Returns the rows deleted."""
    cutoff = uow.now - timedelta(hours=uow.settings.login_failure_retention_hours)
    res = await uow.session.execute(
        delete(LoginFailure).where(
            LoginFailure.updated_at < cutoff,
            or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= uow.now),
        )
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


async def _run(container: Platform) -> str:
    async with container.uow() as uow:
        n = await prune_login_failures(uow)
    return f"deleted {n} old login failure record(s)"


LOGIN_FAILURES_PRUNE = Job(
    name="login-failures-prune",
    fn=_run,
    period=daily,
    description="Forget login and client-secret failures older than the retention (unlocked keys only)",
)
