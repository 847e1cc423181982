"""The month's billing jobs on the business calendar (Asia/Shanghai). Each is about a month M, its period
key, and runs once per month when M's time comes in M+1; a start later in M+1 (the 12th, say) still
runs it for M, and each also catches up what earlier months left undone:

  bill-run              00:00 on the 1st        bill M (and any earlier month with usage never billed)
  statement-issue       00:00 on the 3rd        issue the drafts of M and earlier, notify the partners
  statement-late-alert  00:00 on the 9th        drafts of M or earlier still unissued -> alert operators
  deemed-confirmation   24:00 on the 15th       issued statements past their window -> deemed confirmed;
                                                prepaid statements past their window -> settled;
                                                postpaid ones due (billing/collections.py)
  collections           24:00 on the 26th       unpaid postpaid statements without a timely payment
                                                notice -> taken from the deposit; short -> suspended
  collections-deferred  00:00 on the 1st of M+2 the same for those a notice deferred (R-BILL-07)
  prepaid-consumption-invoices                  invoice_prepaid_mode=monthly: the prepaid statements
                        24:00 on the 15th       past their window -> their consumption invoiced

The days are settings (statement_issue_day, statement_late_alert_day, statement_confirm_day,
statement_payment_day).
`openability jobs run NAME --period YYYY-MM` runs one for a given month."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from openability.billing import alerts, collection_rules, collections, invoices, statements
from openability.billing import statement_rules as rules
from openability.charging import settlement
from openability.jobs.registry import DueFn, Job, PeriodJobFn, every_minute
from openability.kernel.clock import SHANGHAI, month_key, previous_month
from openability.kernel.errors import RuleViolation
from openability.kernel.money import fmt_fen

if TYPE_CHECKING:
    from openability.kernel.platform import Platform


def settled_month(now: datetime) -> str:
    """The period key of the month's jobs: the month before the current one (Asia/Shanghai)."""
    return previous_month(month_key(now))


async def run_bill_run(platform: Platform, month: str) -> str:
    """Bill `month`, first catching up earlier months with usage that were never billed."""
    async with platform.uow() as uow:
        earlier = await settlement.rollup_months(uow.session, month)
        done = {
            m for m in earlier if (r := await statements.bill_run_of(uow, m)) is not None and r.finished_at
        }
    out = []
    for m in [*(m for m in earlier if m not in done), month]:
        res = await statements.bill_run(platform, m)
        if res.already_done:
            out.append(f"{m}: already billed ({res.statements} statement(s))")
        else:
            out.append(
                f"{m}: {res.created} statement(s) made, {res.statements} in all, total ¥{fmt_fen(res.total)}"
            )
    return "; ".join(out)


async def run_issue(platform: Platform, month: str) -> str:
    async with platform.uow() as uow:
        n = await statements.issue_statements(uow, month)
    return f"{n} statement(s) of {month} or earlier issued"


async def run_late_alert(platform: Platform, month: str) -> str:
    async with platform.uow() as uow:
        drafts, billed = await statements.late_statements(uow, month)
        alerted = await statements.alert_late(uow, month)
    if not drafts and billed:
        return f"{month}: every statement issued"
    return f"{month}: {drafts} draft(s), bill run {'done' if billed else 'not done'}; {alerted} operator(s) alerted"


async def run_deemed(platform: Platform, month: str) -> str:
    async with platform.uow() as uow:
        deemed, settled = await statements.deem_and_settle(uow)
    return f"{deemed} statement(s) deemed confirmed, {settled} prepaid statement(s) settled"


def monthly(name: str, run: PeriodJobFn, description: str, due: DueFn | None) -> Job:
    """A job about the month that ended: its period key is that month; `due` delays it within the next."""

    async def current(platform: Platform) -> str:
        return await run(platform, settled_month(platform.clock.now()))

    return Job(name, current, settled_month, description, run_period=run, due=due)


BILL_RUN = monthly(
    "bill-run",
    run_bill_run,
    "bill the month that ended: statements from the daily rollups, true-ups (R-BILL-02, R-CHARGE-06)",
    None,
)
STATEMENT_ISSUE = monthly(
    "statement-issue",
    run_issue,
    "issue the month's statements and notify the partners before the 10th (R-BILL-03)",
    lambda p, m: rules.start_of_day(m, p.settings.statement_issue_day),
)
STATEMENT_LATE_ALERT = monthly(
    "statement-late-alert",
    run_late_alert,
    "statements not issued by the 9th: alert the billing operators (R-BILL-03)",
    lambda p, m: rules.start_of_day(m, p.settings.statement_late_alert_day),
)
DEEMED_CONFIRMATION = monthly(
    "deemed-confirmation",
    run_deemed,
    "statements neither confirmed nor disputed by the end of the 15th are deemed confirmed (R-BILL-04)",
    lambda p, m: rules.confirm_deadline(m, p.settings.statement_confirm_day),
)


async def run_consumption_invoices(platform: Platform, month: str) -> str:
    if platform.settings.invoice_prepaid_mode != "monthly":
        return "invoice_prepaid_mode is top_up: prepaid money is invoiced at top-up"
    async with platform.uow() as uow:
        issued, dealt = await invoices.invoice_consumption(uow, month)
    return f"{dealt} prepaid statement(s) of {month} or earlier invoiced on consumption: {issued} invoice(s)"


PREPAID_CONSUMPTION_INVOICES = monthly(
    "prepaid-consumption-invoices",
    run_consumption_invoices,
    "invoice_prepaid_mode=monthly: invoice each prepaid partner's consumption of the month once its "
    "statement's window has closed (less what was invoiced in advance)",
    lambda p, m: rules.confirm_deadline(m, p.settings.statement_confirm_day),
)


async def low_balance_alerts(platform: Platform) -> str:
    async with platform.uow() as uow:
        notified, rearmed = await alerts.scan(uow)
    return f"{notified} low-balance notice(s), {rearmed} re-armed"


LOW_BALANCE_ALERTS = Job(
    "low-balance-alerts",
    low_balance_alerts,
    every_minute,
    "notify prepaid partners whose balance fell below their alert threshold, once per crossing",
)


# ---- collections (R-BILL-07..09): two passes over month M's postpaid statements ----------------------


def collection_due(p: Platform, month: str) -> datetime:
    """00:00 on the 27th of M+1: the end of the payment day (statement_payment_day, the 26th)."""
    return rules.confirm_deadline(month, p.settings.statement_payment_day)


def deferred_due(p: Platform, month: str) -> datetime:
    """00:00 on the 1st of M+2: collection of the statements a timely payment notice deferred."""
    return collection_rules.deferred_until(collection_due(p, month))


def deferred_month(now: datetime) -> str:
    """The period key of `collections-deferred`: the month two before the current one."""
    return previous_month(settled_month(now))


async def _collect(platform: Platform, month: str, due: datetime) -> str:
    if platform.clock.now() < due:
        # A run before its time would mark the month done and skip its collection (an explicit --period).
        raise RuleViolation(
            f"collection of {month} starts at {due.astimezone(SHANGHAI):%Y-%m-%d %H:%M} Asia/Shanghai "
            "(R-BILL-07)",
            code="NOT_YET_DUE",
        )
    return (await collections.run_collections(platform, month)).summary()


async def run_collections(platform: Platform, month: str) -> str:
    return await _collect(platform, month, collection_due(platform, month))


async def run_deferred_collections(platform: Platform, month: str) -> str:
    return await _collect(platform, month, deferred_due(platform, month))


COLLECTIONS = monthly(
    "collections",
    run_collections,
    "unpaid postpaid statements without a payment notice by the 26th: taken from the deposit at 00:00 on "
    "the 27th, the partner suspended when it falls short (R-BILL-07..09)",
    collection_due,
)


async def _deferred_current(platform: Platform) -> str:
    return await run_deferred_collections(platform, deferred_month(platform.clock.now()))


COLLECTIONS_DEFERRED = Job(
    "collections-deferred",
    _deferred_current,
    deferred_month,
    "postpaid statements a payment notice deferred: what is still unpaid at 00:00 on the 1st is taken "
    "from the deposit, the partner suspended when it falls short (R-BILL-07..09)",
    run_period=run_deferred_collections,
    due=deferred_due,
)
