"""Import every domain's models so Base.metadata is complete (Alembic, tests, create_all)."""

from openability.admission import models as admission_models
from openability.billing import models as billing_models
from openability.catalog import models as catalog_models
from openability.charging import models as charging_models
from openability.jobs import registry as jobs_registry
from openability.kernel import audit, calendar, calendar_admin, changes, notify, testclock
from openability.kernel.db import Base
from openability.ledger import models as ledger_models
from openability.notifications import models as notification_models
from openability.partners import models as partner_models
from openability.tickets import models as ticket_models

metadata = Base.metadata

__all__ = [
    "admission_models",
    "audit",
    "billing_models",
    "calendar",
    "calendar_admin",
    "catalog_models",
    "changes",
    "charging_models",
    "jobs_registry",
    "ledger_models",
    "metadata",
    "notification_models",
    "notify",
    "partner_models",
    "testclock",
    "ticket_models",
]
