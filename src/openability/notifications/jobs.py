"""Notification jobs: email delivery of the outbox, every scheduler tick."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openability.jobs.registry import Job, every_second
from openability.notifications.delivery import deliver_due

if TYPE_CHECKING:
    from openability.kernel.platform import Platform


async def deliver(container: Platform) -> str:
    return (await deliver_due(container)).text()


# Unrecorded (no job_runs row per tick): each notice is claimed on its own row, so two schedulers
# running it at once share the work and send each notice once.
NOTIFICATIONS_DELIVERY = Job(
    "notifications-delivery",
    deliver,
    every_second,
    "email the notices that are due (retries with back-off, gives up after notify_max_attempts)",
    record=False,
)
