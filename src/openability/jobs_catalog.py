"""Every scheduled job of the platform, by explicit import: a job that is not listed here does not
run, and a listed one that does not exist is an import error at start, never a silent skip."""

from __future__ import annotations

from openability.admission.jobs import CERTIFICATE_WATCH, SI_REPORTS
from openability.billing.jobs import (
    BILL_RUN,
    COLLECTIONS,
    COLLECTIONS_DEFERRED,
    DEEMED_CONFIRMATION,
    LOW_BALANCE_ALERTS,
    PREPAID_CONSUMPTION_INVOICES,
    STATEMENT_ISSUE,
    STATEMENT_LATE_ALERT,
)
from openability.charging.jobs import CDR_PARTITIONS, CLAIMS_RECOVERY, GRANT_REAPER, VOLUME_COUNTERS_PRUNE
from openability.jobs.registry import Job, job_table
from openability.ledger.jobs import REVENUE_ROLLUP
from openability.notifications.jobs import NOTIFICATIONS_DELIVERY
from openability.partners.jobs import LOGIN_FAILURES_PRUNE
from openability.tickets.jobs import HOLIDAY_GREETINGS, SLA_BREACHES


def all_jobs() -> dict[str, Job]:
    # The month's billing jobs in calendar order: one tick that enters several of their times (a start
    # on the 12th) bills, then issues, then alerts.
    return job_table(
        GRANT_REAPER,
        CLAIMS_RECOVERY,
        CDR_PARTITIONS,
        VOLUME_COUNTERS_PRUNE,
        SLA_BREACHES,
        HOLIDAY_GREETINGS,
        BILL_RUN,
        STATEMENT_ISSUE,
        STATEMENT_LATE_ALERT,
        DEEMED_CONFIRMATION,
        COLLECTIONS_DEFERRED,
        COLLECTIONS,
        PREPAID_CONSUMPTION_INVOICES,
        NOTIFICATIONS_DELIVERY,
        LOW_BALANCE_ALERTS,
        CERTIFICATE_WATCH,
        SI_REPORTS,
        LOGIN_FAILURES_PRUNE,
        REVENUE_ROLLUP,
    )
