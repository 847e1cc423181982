"""Email delivery of the outbox over SMTP with aiosmtplib (asyncio end to end: a slow mail server never
blocks the event loop the gateway shares).

One run (`deliver_due`): claim a batch of due notices (service.claim_due), send each over one SMTP
connection, record each attempt in its own transaction (service.record_attempt), repeat while full
batches come back. A failure is retried after an exponential back-off until the last allowed attempt
(rules.after_failure); a recipient without a usable address is skipped, not retried. The SMTP password
never reaches a log line or the delivery log (rules.scrub)."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.message import EmailMessage
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import aiosmtplib

from openability.config import Settings
from openability.jobs.scheduler import OWNER
from openability.kernel.ids import new_secret
from openability.notifications import rules, service
from openability.notifications.types import AttemptResult, DeliveryReport, Outcome, Outgoing

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

log = logging.getLogger(__name__)

# Batches one run works through at most before it leaves the rest to the next run (and lets the
# scheduler's other jobs have their turn).
MAX_BATCHES_PER_RUN = 20


class Mailer(Protocol):
    async def __aenter__(self) -> Mailer: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def send(self, message: EmailMessage) -> None: ...


class Unreachable(Exception):
    """The mail server could not be reached (or refused the login) earlier in this run."""


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SmtpMailer:
    """One SMTP connection for a run, opened at its first message and again after the server dropped
    it. When the server cannot be reached, or refuses the login, every later message of the run fails
    at once with the same error instead of waiting out one more timeout each: all are retried."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        self._unreachable: str | None = None

    async def __aenter__(self) -> SmtpMailer:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_seconds,
            use_tls=s.smtp_ssl,
            start_tls=s.smtp_starttls,
        )
        await smtp.connect()
        try:
            if s.smtp_username:
                await smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def send(self, message: EmailMessage) -> None:
        if self._unreachable is not None:
            raise Unreachable(self._unreachable)
        if self._smtp is None or not self._smtp.is_connected:
            try:
                self._smtp = await self._connect()
            except (aiosmtplib.SMTPException, OSError) as exc:
                self._unreachable = describe(exc)
                raise
        try:
            await self._smtp.send_message(message)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError, TimeoutError):
            await self._close()
            raise


def _secrets(settings: Settings) -> tuple[str, ...]:
    return (settings.smtp_password.get_secret_value(),)


async def _attempt(platform: Platform, mailer: Mailer, item: Outgoing) -> AttemptResult:
    s = platform.settings
    if item.address is None:
        return AttemptResult(
            Outcome.SKIPPED, f"no email address for {item.recipient_type} {item.recipient_id}"
        )
    if not rules.valid_address(item.address):
        return AttemptResult(Outcome.SKIPPED, f"not a usable email address: {item.address!r}"[:300])
    now = platform.clock.now()
    message = rules.compose(
        notification_id=item.id,
        to=item.address,
        from_address=s.smtp_from,
        subject=item.subject,
        body=item.body,
        inbox_url=s.base_url + rules.inbox_path(item.recipient_type),
        now=now,
        attachments=item.attachments,
    )
    try:
        await mailer.send(message)
    except Exception as exc:
        error = rules.scrub(describe(exc), _secrets(s))
        if isinstance(exc, aiosmtplib.SMTPException | OSError | Unreachable):
            log.warning("email of notification %s (attempt %d) failed: %s", item.id, item.attempt, error)
        else:  # not the network's doing: worth a traceback (the password cannot be in it: not in scope)
            log.exception("email of notification %s (attempt %d) failed", item.id, item.attempt)
        return service.failure_result(item.attempt, error, platform.clock.now(), s)
    return AttemptResult(Outcome.SENT)


async def deliver_due(
    platform: Platform, *, mailer: Mailer | None = None, owner: str | None = None
) -> DeliveryReport:
    """Send what is due. Safe to run from several schedulers or processes at once: every notice is
    claimed by one of them (service.claim_due), and a claim that outlives its lease before its turn
    comes is given back untried rather than sent by two."""
    s = platform.settings
    report = DeliveryReport(enabled=s.smtp_enabled)
    if not s.smtp_enabled:
        return report
    owner = owner or f"{OWNER}:{new_secret(4)}"[:80]
    lease = timedelta(seconds=s.notify_lease_seconds)
    async with mailer or SmtpMailer(s) as m:
        for _ in range(MAX_BATCHES_PER_RUN):
            async with platform.uow() as uow:
                batch = await service.claim_due(uow, owner, limit=s.notify_batch_size, lease=lease)
            for item in batch:
                if platform.clock.now() >= item.claimed_until:
                    async with platform.uow() as uow:
                        await service.release(uow, owner, item)
                    report.left_to_expire += 1
                    continue
                result = await _attempt(platform, m, item)
                async with platform.uow() as uow:
                    await service.record_attempt(uow, owner, item, result)
                report.count(result.outcome)
            if len(batch) < s.notify_batch_size:
                break
    return report
