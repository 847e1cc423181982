"""`openability tickets …`: SLA policies, deadlines on the calendar, calendar status and overrides,
the breach scan and the monthly SLA report."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from openability.kernel import calendar_admin
from openability.kernel.clock import SHANGHAI
from openability.kernel.commands import CLI_ACTOR, CommandConsole, run_async
from openability.kernel.tables import id_column
from openability.tickets import rules, sla
from openability.tickets.rules import Importance

if TYPE_CHECKING:
    from openability.kernel.platform import Platform

NAME = "tickets"
app = typer.Typer(
    help="Customer-service tickets, SLA clocks and the working-day calendar", no_args_is_help=True
)
console = CommandConsole()
err_console = CommandConsole(stderr=True)


def _table(title: str, *columns: str | Column) -> Table:
    # Ids, codes and login names wrap inside their cell (or keep their width: kernel.tables.id_column)
    # rather than being cut to "prt_1m8…" on an 80-column terminal.
    table = Table(title=title)
    for col in columns:
        if isinstance(col, Column):
            table.columns.append(col)
        else:
            table.add_column(col, overflow="fold")
    return table


def _percent(p: Any) -> str:
    """Compliance or target-met % of a group; "–" while nothing of it is decided (the API gives null)."""
    return "–" if p is None else str(p)


class _DropCalendarWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "is not confirmed" not in record.getMessage()


@contextmanager
def _own_calendar_warning() -> Iterator[None]:
    """The working calendar logs "calendar for 2027 is not confirmed" when it first uses such a year; the
    deadline command reports those years itself (one line on stderr), so the log line would repeat it."""
    logger = logging.getLogger("openability.kernel.calendar")
    f = _DropCalendarWarning()
    logger.addFilter(f)
    try:
        yield
    finally:
        logger.removeFilter(f)


@app.command("policies")
def policies() -> None:
    """Show the SLA policy set in force (R-CS-03)."""

    async def go(c: Platform) -> None:
        async with c.uow(CLI_ACTOR) as uow:
            version, rows = await sla.current_policies(uow)
        table = _table(
            f"SLA policies v{version}",
            "type",
            "subtype",
            "importance",
            "first response",
            "final reply",
            "note",
        )
        for r in rows:
            table.add_row(
                r.type.value,
                r.subtype or "*",
                r.importance or "*",
                f"{r.first_response.text('en')} ({r.first_response.mode.value})",
                f"{r.final.text('en')} ({r.final.mode.value})",
                r.note,
            )
        console.print(table)

    run_async(go)


@app.command("deadline")
def deadline(
    received: Annotated[str, typer.Argument(help="receipt time, e.g. 2026-09-30T10:00 (Asia/Shanghai)")],
    type_: Annotated[str, typer.Option("--type")] = "consultation",
    subtype: Annotated[str, typer.Option()] = "business_content",
    importance: Annotated[Importance, typer.Option()] = Importance.GENERAL,
) -> None:
    """Compute a ticket's deadlines on the working-day calendar (R-CS-04)."""
    try:
        at = datetime.fromisoformat(received)
        t, s = rules.validate_kind(type_, subtype)
    except (ValueError, rules.KindError) as exc:
        raise typer.BadParameter(str(exc)) from None
    at = at if at.tzinfo else at.replace(tzinfo=SHANGHAI)

    async def go(c: Platform) -> None:
        async with c.uow(CLI_ACTOR) as uow:
            _, rows = await sla.current_policies(uow)
            cal = await calendar_admin.load_working_calendar(uow)
        p = rules.pick_policy(rows, t, s, importance)
        with _own_calendar_warning():
            dues = [
                (n, term, rules.deadline(at, term, cal))
                for n, term in (("first response", p.first_response), ("final reply", p.final))
            ]
        for name, term, due in dues:
            console.print(
                f"{name:15} {term.text('en'):>18} {term.mode.value:6}  due {rules.format_due(due)} (Asia/Shanghai)"
            )
        for year in sorted(cal.warnings):
            err_console.print(
                f"[yellow]warning: working-day calendar for {year} is not confirmed; "
                "using the package's estimate[/yellow]",
                soft_wrap=True,
            )

    run_async(go)


@app.command("calendar-status")
def calendar_status(year: int) -> None:
    """Is the year's official schedule confirmed? Lists days off, make-up days and overrides."""

    async def go(c: Platform) -> None:
        async with c.uow(CLI_ACTOR) as uow:
            st = await calendar_admin.calendar_status(uow, year)
        colour = "green" if st.confirmed else "yellow"
        console.print(
            f"{year}: [{colour}]{'confirmed' if st.confirmed else 'NOT confirmed'}[/{colour}] ({st.source})"
        )
        for d, n in st.days_off:
            console.print(f"  off  {d.isoformat()} {n}")
        for d in st.make_up_days:
            console.print(f"  work {d.isoformat()} 调休上班")
        for o in st.overrides:
            console.print(f"  override {o['day']} {'work' if o['is_working'] else 'off'} {o['note']}")

    run_async(go)


@app.command("override")
def override(
    day: str,
    working: Annotated[bool, typer.Option("--working/--off")] = False,
    note: str = "",
    delete: Annotated[bool, typer.Option("--delete")] = False,
) -> None:
    """Record (or --delete) an operator override of one day."""
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise typer.BadParameter(f"not a date: {day}") from None

    async def go(c: Platform) -> None:
        async with c.uow(CLI_ACTOR) as uow:
            if delete:
                await calendar_admin.delete_override(uow, d)
            else:
                await calendar_admin.set_override(uow, d, working, note)
        console.print("ok")

    run_async(go)


@app.command("scan-breaches")
def scan_breaches() -> None:
    """Run the SLA breach scan now (the scheduler runs it every minute)."""

    async def go(c: Platform) -> None:
        async with c.uow(CLI_ACTOR) as uow:
            n = await sla.scan_breaches(uow)
        console.print(f"{n} deadline(s) breached")

    run_async(go)


@app.command("report")
def report(month: str) -> None:
    """SLA compliance of the tickets received in a month (YYYY-MM)."""

    async def go(c: Platform) -> None:
        async with c.uow(CLI_ACTOR) as uow:
            rep = await sla.sla_report(uow, month)
        groups = [(r["type"], r) for r in rep["by_type"]] + [
            (r["owner_name"] or r["owner_id"] or "(unassigned)", r) for r in rep["by_owner"]
        ]
        table = _table(
            f"SLA compliance {month} ({rep['breach_events']} breach events)",
            id_column("group", [g for g, _ in groups]),
            "tickets",
            "met",
            "breached",
            "open",
            "%",
            "target met %",
        )
        for name, r in groups:
            counts = (str(r[k]) for k in ("tickets", "met", "breached", "open"))
            table.add_row(name, *counts, _percent(r["compliance_percent"]), _percent(r["target_met_percent"]))
        console.print(table)

    run_async(go)
