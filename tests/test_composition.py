"""The composition root: routes, jobs and connectors are wired by explicit, typed registration."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

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
from openability.connectors.base import Connectors
from openability.jobs.registry import job_table
from openability.jobs_catalog import all_jobs
from openability.ledger.jobs import REVENUE_ROLLUP
from openability.notifications.jobs import NOTIFICATIONS_DELIVERY
from openability.partners.jobs import LOGIN_FAILURES_PRUNE
from openability.tickets.jobs import HOLIDAY_GREETINGS, SLA_BREACHES


def test_every_job_is_listed_once_by_explicit_import() -> None:
    jobs = (
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
    assert all_jobs() == {j.name: j for j in jobs}


def test_two_jobs_with_one_name_are_a_wiring_error() -> None:
    with pytest.raises(ValueError, match="two jobs are named 'grant-reaper'"):
        job_table(GRANT_REAPER, GRANT_REAPER)


def test_connectors_by_capability_name() -> None:
    sms, ussd = object(), object()
    c = Connectors(sms=sms)  # type: ignore[arg-type]
    c.extra["ussd"] = ussd
    assert c.get("sms") is sms and c.get("ussd") is ussd
    assert c.get("mms") is None and c.get("fax") is None


async def test_favicon_is_served(app_client: httpx.AsyncClient) -> None:
    r = await app_client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert r.content.startswith(b"<svg")


async def test_the_app_is_the_dispatcher_in_front_of_fastapi(container: Any) -> None:
    from fastapi import FastAPI

    from openability.app import PlatformApp, create_app
    from openability.gateway.dataplane import DataPlane

    app = create_app(container, manage_container=False)
    assert isinstance(app, PlatformApp) and isinstance(app.api, FastAPI)
    assert isinstance(app.data_plane, DataPlane)
    paths = app.openapi()["paths"]
    assert "/capabilities/sms/v1/messages" in paths and "/api/v1/jobs" in paths
