"""Three months of billing through the HTTP API (issue 7): an AP, a prepaid SI and a postpaid SI send real
SMS through the gateway from November 2026 to January 2027, and an admin moves the test clock
(`POST /api/v1/test/clock`) through each month's instants and the second before each. Every move ticks
the platform's own scheduler, as a serving process does, so the month's jobs run because the clock
passed their time, not because the test called them. Statements, confirmations, disputes, collections,
suspension and resumption are seen through the API, and the ledger audit runs after every step.

The three months are played once per database backend (`timeline`, recorded by `played`); each test
below asserts one rule's outcome on that record.

    Nov: AP 100 segments (5.00), prepaid SI 200 (9.00, 10 calls), postpaid SI 100 (4.50), deposit 6.00
    Dec: the AP confirms; the prepaid SI disputes with its record list (-10%: carried into December);
         the postpaid SI is deemed confirmed and does not pay: 4.50 taken from its deposit on the 27th
    Jan: the AP disputes by 3.3% (stands); the prepaid SI confirms; the postpaid SI's 4.50 meets a deposit
         of 1.50: suspended on the 27th, its calls refused; it pays the rest and restores the deposit:
         resumed
    Feb: the postpaid SI confirms and pays its January statement in the window: nothing is collected
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import importlib.util
import io
import itertools
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openability.bootstrap import Container
from openability.config import Settings
from openability.integrity import run_audit
from openability.jobs.registry import JobRun
from openability.kernel.clock import SHANGHAI
from openability.ledger.models import JournalEntry, JournalLine
from openability.ledger.types import EntryKind
from openability.partners.types import BillingMode, PartnerKind
from support_direct_partners import Auth


def _load(name: str, path: Path) -> Any:
    """A sibling directory's conftest by path (tests is not a package), once per session."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_HERE = Path(__file__).resolve().parent
statements_world = _load("statements_world", _HERE / "statements" / "conftest.py")
collections_world = _load("collections_world", _HERE / "collections" / "conftest.py")

# The gateway world: the whole app with fake network elements, the partner builders.
client = statements_world.client
fakes = statements_world.fakes
kit = statements_world.kit

D = Decimal
ADMIN = Auth.operator  # an admin operator: moves the test clock
CLERK = Auth.roles("billing_clerk")
WHO = ("ap", "si_pre", "si_post")
MONTHS = ("2026-11", "2026-12", "2027-01")
_numbers = itertools.count(20_000_000)
_tx = itertools.count(1)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def utc(s: str | None) -> datetime | None:
    """An API timestamp as an aware datetime (the API answers UTC with 'Z' or +00:00)."""
    return None if s is None else datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A demo-like installation: the test clock on and the scheduler running; its interval is an hour of
    real time, so the only ticks are the one at start-up and the ones the clock's moves trigger."""
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        smsc_enabled=False,
        run_test_smsc=False,
        run_scheduler=True,
        scheduler_interval_seconds=3600,
        test_clock=True,
        _env_file=None,
    )


@dataclass
class Step:
    """What one step saw: the clock after it, the jobs its move ran, and the platform's state."""

    label: str
    at: datetime
    jobs: dict[str, str]
    statements: dict[str, dict[str, dict[str, Any]]]  # who -> month -> statement (operator view, detail)
    visible: dict[str, list[str]]  # who -> the months of the statements the partner itself sees
    dues: dict[str, dict[str, Any]]  # month -> the postpaid SI's collection row
    deposit: dict[str, Any]  # the postpaid SI's deposit level
    accounts: dict[str, dict[str, Any]]  # who -> GET /api/v1/accounts/{id}
    status: dict[str, str]  # who -> partner status
    deductions: list[tuple[str, datetime, Decimal]]  # deposit deductions: (statement, posted at, amount)
    violations: list[str]  # the ledger audit


@dataclass
class Timeline:
    ids: dict[str, str]
    steps: list[Step] = field(default_factory=list)
    calls: list[tuple[str, str, int, str]] = field(default_factory=list)  # (step, who, status, code)
    cdrs: dict[str, int] = field(default_factory=dict)  # who -> CDRs written
    seen: dict[str, Any] = field(default_factory=dict)  # answers kept by name

    def step(self, label: str) -> Step:
        (s,) = [s for s in self.steps if s.label == label]
        return s

    def labels(self) -> list[str]:
        return [s.label for s in self.steps]


@dataclass
class Play:
    container: Container
    http: httpx.AsyncClient
    kit: Any
    tl: Timeline
    worlds: dict[str, Any]
    label: str = "start"
    jobs: dict[str, str] = field(default_factory=dict)

    # ---- the clock, the record -------------------------------------------------------------------

    async def move(self, label: str, when: datetime) -> dict[str, str]:
        """Move the test clock to `when` as the admin: the scheduler ticks at once. Records the step."""
        r = await self.http.post("/api/v1/test/clock", json={"now": when.isoformat()}, headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        assert utc(body["now"]) == when, body
        self.label, self.jobs = label, dict(body["jobs"])
        await self.record()
        return self.jobs

    async def record(self, label: str | None = None) -> None:
        """Record the platform's state now (after a move, or after an action at the same instant)."""
        if label is not None:
            self.label, self.jobs = label, {}
        async with self.container.uow() as uow:
            violations = await run_audit(uow.session)
        statements: dict[str, dict[str, dict[str, Any]]] = {}
        visible: dict[str, list[str]] = {}
        accounts: dict[str, dict[str, Any]] = {}
        status: dict[str, str] = {}
        for who, w in self.worlds.items():
            pid = w.partner_id
            r = await self.http.get(
                "/api/v1/statements", params={"partner_id": pid, "limit": 100}, headers=CLERK
            )
            assert r.status_code == 200, r.text
            statements[who] = {}
            for item in r.json()["items"]:
                d = await self.http.get(f"/api/v1/statements/{item['id']}", headers=CLERK)
                assert d.status_code == 200, d.text
                statements[who][item["month"]] = d.json()
            r = await self.http.get("/api/v1/statements", headers=self.partner(who))
            assert r.status_code == 200, r.text
            visible[who] = sorted(i["month"] for i in r.json()["items"])
            r = await self.http.get(f"/api/v1/accounts/{pid}", headers=CLERK)
            assert r.status_code == 200, r.text
            accounts[who] = r.json()
            r = await self.http.get(f"/api/v1/partners/{pid}", headers=CLERK)
            assert r.status_code == 200, r.text
            status[who] = r.json()["status"]
        post = self.worlds["si_post"].partner_id
        r = await self.http.get("/api/v1/collections", params={"partner_id": post}, headers=CLERK)
        assert r.status_code == 200, r.text
        dues = {i["month"]: i for i in r.json()["items"]}
        r = await self.http.get(f"/api/v1/partners/{post}/deposit", headers=CLERK)
        assert r.status_code == 200, r.text
        deposit = r.json()
        self.tl.steps.append(
            Step(
                label=self.label,
                at=self.container.clock.now(),
                jobs=self.jobs,
                statements=statements,
                visible=visible,
                dues=dues,
                deposit=deposit,
                accounts=accounts,
                status=status,
                deductions=await self.deductions(),
                violations=violations,
            )
        )

    async def deductions(self) -> list[tuple[str, datetime, Decimal]]:
        async with self.container.uow() as uow:
            rows = await uow.session.execute(
                select(JournalEntry.ref_id, JournalEntry.created_at, func.sum(JournalLine.amount))
                .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
                .where(JournalEntry.kind == EntryKind.DEPOSIT_DEDUCTION, JournalLine.amount > D(0))
                .group_by(JournalEntry.id, JournalEntry.ref_id, JournalEntry.created_at)
                .order_by(JournalEntry.created_at)
            )
            return [(str(ref), at, D(amount)) for ref, at, amount in rows.all()]

    # ---- the actors -------------------------------------------------------------------------------

    def partner(self, who: str, role: str = "admin") -> dict[str, str]:
        return {"X-Test-Actor": f"partner-user:{self.worlds[who].partner_id}:{role}"}

    async def send(self, who: str, calls: int, per_call: int = 20) -> list[httpx.Response]:
        """`calls` SMS calls of `per_call` one-segment messages through the gateway, with a token the
        partner's API client got now (the clock moves by days)."""
        w = self.worlds[who]
        auth = {"Authorization": f"Bearer {await w.new_token(['sms'])}"}
        out = []
        for _ in range(calls):
            to = [f"+86139{next(_numbers):08d}" for _ in range(per_call)]
            r = await self.http.post(
                "/capabilities/sms/v1/messages", json={"to": to, "text": "您好"}, headers=auth
            )
            body = r.json()
            self.tl.calls.append((self.label, who, r.status_code, str(body.get("code", ""))))
            out.append(r)
        return out

    async def statement_id(self, who: str, month: str) -> str:
        return str(self.tl.steps[-1].statements[who][month]["id"])

    async def ok(self, r: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert r.status_code == status, r.text
        return dict(r.json())

    async def notice_and_confirm(self, who: str, month: str, amount: str, ref: str) -> dict[str, Any]:
        """The partner's finance user files a bank transfer's notice; a billing clerk confirms it."""
        sid = await self.statement_id(who, month)
        n = await self.ok(
            await self.http.post(
                f"/api/v1/statements/{sid}/payment-notices",
                json={"transactionId": f"tm-{next(_tx)}", "amount": amount, "bankReference": ref},
                headers=self.partner(who, "finance"),
            ),
            201,
        )
        return await self.ok(await self.http.post(f"/api/v1/payments/{n['id']}/confirm", headers=CLERK))

    async def pay_deposit(self, who: str, amount: str) -> dict[str, Any]:
        """A deposit by bank transfer, recorded and confirmed by a billing clerk."""
        p = await self.ok(
            await self.http.post(
                "/api/v1/payments",
                json={
                    "partnerId": self.worlds[who].partner_id,
                    "transactionId": f"dep-{next(_tx)}",
                    "amount": amount,
                    "method": "bank_transfer",
                    "purpose": "deposit",
                    "bankReference": "ICBC-DEP",
                },
                headers=CLERK,
            ),
            201,
        )
        return await self.ok(await self.http.post(f"/api/v1/payments/{p['id']}/confirm", headers=CLERK))

    # ---- the month's ends ---------------------------------------------------------------------------

    async def month_end(self, y: int, m: int, last_day: int) -> None:
        """The last second of month m and the first of the next: the bill run's instant."""
        await self.move(f"{y}-{m:02d}-{last_day} 23:59:59", sh(y, m, last_day, 23, 59, 59))
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        await self.move(f"{ny}-{nm:02d}-01 00:00:00", sh(ny, nm, 1))

    async def around(self, y: int, m: int, day: int) -> None:
        """The second before 00:00 on `day` and 00:00:00 itself."""
        before = sh(y, m, day) - timedelta(seconds=1)
        await self.move(f"{before.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}", before)
        await self.move(f"{y}-{m:02d}-{day:02d} 00:00:00", sh(y, m, day))


async def startup_tick(container: Container) -> None:
    """Wait (bounded) for the scheduler's first tick, at start-up, to end: its last job is recorded."""
    for _ in range(500):
        async with container.uow() as uow:
            done = await uow.session.scalar(
                select(func.count())
                .select_from(JobRun)
                .where(JobRun.job == "low-balance-alerts", JobRun.finished_at.is_not(None))
            )
        if done:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the scheduler's start-up tick did not end")


@pytest.fixture
async def played(container: Container, client: httpx.AsyncClient, kit: Any) -> Timeline:
    """Play the three months once and record every step (see the module's docstring)."""
    container.authenticator = collections_world.office_authenticator  # partner users with their roles
    await startup_tick(container)
    ap = await kit.make_world(container, balance=D("100.0000"), caps=("sms",))
    si_pre = await kit.make_world(
        container, kind=PartnerKind.SI, balance=D("100.0000"), caps=("sms",), products=ap.products
    )
    si_post = await kit.make_world(
        container,
        kind=PartnerKind.SI,
        billing_mode=BillingMode.POSTPAID,
        balance=D(0),
        caps=("sms",),
        products=ap.products,
    )
    worlds = {"ap": ap, "si_pre": si_pre, "si_post": si_post}
    tl = Timeline(ids={who: w.partner_id for who, w in worlds.items()})
    p = Play(container, client, kit, tl, worlds)
    await p.pay_deposit("si_post", "6.00")
    await p.record("start")

    # ---- November: usage -------------------------------------------------------------------------
    await p.move("2026-11-12 10:00", sh(2026, 11, 12, 10))
    await p.send("ap", 5)  # 100 segments at the list price 0.05: 5.00
    await p.send("si_pre", 10)  # 200 at the certified band 0.045: 9.00, ten CDRs of 0.90
    await p.send("si_post", 5)  # 100: 4.50
    await p.record("2026-11-12 sent")

    # ---- December: November's statements ----------------------------------------------------------
    await p.month_end(2026, 11, 30)
    await p.around(2026, 12, 3)
    await p.move("2026-12-05 10:00", sh(2026, 12, 5, 10))
    tl.seen["ap confirms 2026-11"] = await p.ok(
        await client.post(
            f"/api/v1/statements/{await p.statement_id('ap', '2026-11')}/confirm", headers=p.partner("ap")
        )
    )
    sid = await p.statement_id("si_pre", "2026-11")
    r = await client.get(f"/api/v1/statements/{sid}/usage.csv", headers=p.partner("si_pre"))
    assert r.status_code == 200, r.text
    tl.seen["si_pre usage.csv 2026-11"] = r.content
    rows = list(csv.DictReader(io.StringIO(r.content.decode().rsplit("\r\n#", 1)[0] + "\r\n")))
    # The partner's own log lacks one of the ten calls: its figure is 8.10, 10% under the statement.
    listing = "request_id\r\n" + "".join(f"{row['request_id']}\r\n" for row in rows[1:])
    tl.seen["si_pre disputes 2026-11"] = await p.ok(
        await client.post(
            f"/api/v1/statements/{sid}/disputes",
            files={"records": ("our-log.csv", listing.encode(), "text/csv")},
            data={"reason": "我方记录少一条"},
            headers=p.partner("si_pre"),
        ),
        201,
    )
    await p.record("2026-12-05 answered")
    await p.around(2026, 12, 9)
    await p.around(2026, 12, 16)  # the 15th ends
    await p.move("2026-12-20 10:00", sh(2026, 12, 20, 10))
    await p.send("ap", 3)  # 60: 3.00
    await p.send("si_pre", 5)  # 100: 4.50
    await p.send("si_post", 5)  # 100: 4.50
    await p.record("2026-12-20 sent")
    await p.around(2026, 12, 27)  # the postpaid SI did not pay: its deposit pays November

    # ---- January: December's statements -------------------------------------------------------------
    await p.month_end(2026, 12, 31)
    await p.around(2027, 1, 3)
    await p.move("2027-01-06 10:00", sh(2027, 1, 6, 10))
    tl.seen["ap disputes 2026-12"] = await p.ok(
        await client.post(
            f"/api/v1/statements/{await p.statement_id('ap', '2026-12')}/disputes",
            data={"partnerTotal": "2.90", "reason": "我方统计 58 条"},
            headers=p.partner("ap"),
        ),
        201,
    )
    tl.seen["si_pre confirms 2026-12"] = await p.ok(
        await client.post(
            f"/api/v1/statements/{await p.statement_id('si_pre', '2026-12')}/confirm",
            headers=p.partner("si_pre"),
        )
    )
    await p.record("2027-01-06 answered")
    await p.around(2027, 1, 9)
    await p.around(2027, 1, 16)
    await p.move("2027-01-20 10:00", sh(2027, 1, 20, 10))
    await p.send("ap", 2)  # 40: 2.00
    await p.send("si_pre", 2)  # 40: 1.80
    await p.send("si_post", 4)  # 80
    await p.record("2027-01-20 sent")
    await p.move("2027-01-26 23:59:59", sh(2027, 1, 26, 23, 59, 59))
    await p.send("si_post", 1)  # 20 more: 100 before the 27th
    await p.record("2027-01-26 23:59:59 sent")
    await p.move("2027-01-27 00:00:00", sh(2027, 1, 27))  # 1.50 left in the deposit for 4.50
    tl.cdrs["si_post before refused"] = len(await si_post.cdrs())
    await p.send("si_post", 1)  # refused: suspended
    tl.cdrs["si_post after refused"] = len(await si_post.cdrs())
    await p.record("2027-01-27 refused")
    await p.move("2027-01-28 10:00", sh(2027, 1, 28, 10))
    tl.seen["si_post pays arrears"] = await p.notice_and_confirm("si_post", "2026-12", "3.00", "ICBC-ARR")
    await p.record("2027-01-28 arrears paid")
    await p.send("si_post", 1)  # still refused: the deposit is not restored
    tl.seen["si_post restores deposit"] = await p.pay_deposit("si_post", "6.00")
    await p.record("2027-01-28 deposit restored")
    await p.send("si_post", 1)  # accepted: 20 more, 120 in January: 5.40
    await p.record("2027-01-28 sent")

    # ---- February: January's statements --------------------------------------------------------------
    await p.month_end(2027, 1, 31)
    await p.around(2027, 2, 3)
    await p.move("2027-02-05 10:00", sh(2027, 2, 5, 10))
    tl.seen["si_post confirms 2027-01"] = await p.ok(
        await client.post(
            f"/api/v1/statements/{await p.statement_id('si_post', '2027-01')}/confirm",
            headers=p.partner("si_post"),
        )
    )
    tl.seen["si_post pays 2027-01"] = await p.notice_and_confirm("si_post", "2027-01", "5.40", "ICBC-JAN")
    await p.record("2027-02-05 paid")
    await p.around(2027, 2, 9)
    await p.around(2027, 2, 16)
    await p.around(2027, 2, 27)
    await p.around(2027, 3, 1)
    for who, w in worlds.items():
        tl.cdrs[who] = len(await w.cdrs())
    return tl


_PLAYED: dict[str, Timeline] = {}


@pytest.fixture
def timeline(backend: str, request: pytest.FixtureRequest) -> Timeline:
    """The three months played once per backend and shared by the tests below."""
    if backend not in _PLAYED:
        _PLAYED[backend] = request.getfixturevalue("played")
    return _PLAYED[backend]


# ---- the rules, each asserted on the record ------------------------------------------------------------

NEXT = {"2026-11": (2026, 12), "2026-12": (2027, 1), "2027-01": (2027, 2)}
LAST_DAY = {"2026-11": 30, "2026-12": 31, "2027-01": 31}
TOTALS = {
    "ap": {"2026-11": "5.00", "2026-12": "3.00", "2027-01": "2.00"},
    "si_pre": {"2026-11": "9.00", "2026-12": "3.60", "2027-01": "1.80"},
    "si_post": {"2026-11": "4.50", "2026-12": "4.50", "2027-01": "5.40"},
}


def test_r_bill_10_the_ledger_audit_is_clean_after_every_step(timeline: Timeline) -> None:
    assert len(timeline.steps) == 51  # every move of the clock and every action
    assert {s.label: s.violations for s in timeline.steps if s.violations} == {}
    # the clock only moved forward, step by step
    ats = [s.at for s in timeline.steps]
    assert ats == sorted(ats) and ats[-1] == sh(2027, 3, 1)


def test_r_bill_02_each_month_is_billed_from_00_00_on_the_first_from_real_usage(timeline: Timeline) -> None:
    for month, (y, m) in NEXT.items():
        before = timeline.step(f"{month}-{LAST_DAY[month]} 23:59:59")
        assert "bill-run" not in before.jobs
        assert all(month not in before.statements[who] for who in WHO)
        first = timeline.step(f"{y}-{m:02d}-01 00:00:00")
        assert first.jobs["bill-run"].startswith(f"{month}: 3 statement(s) made, 3 in all"), first.jobs
        for who in WHO:
            st = first.statements[who][month]
            assert (st["state"], utc(st["createdAt"]), st["total"]) == (
                "draft",
                sh(y, m, 1),
                TOTALS[who][month],
            )
    # one statement per partner and month, over the usage the gateway recorded
    last = timeline.steps[-1]
    assert {who: sorted(last.statements[who]) for who in WHO} == {who: list(MONTHS) for who in WHO}
    calls = {who: sum(last.statements[who][m]["calls"] for m in MONTHS) for who in WHO}
    assert calls == {"ap": 10, "si_pre": 17, "si_post": 16} == {w: timeline.cdrs[w] for w in WHO}
    assert [last.statements["si_post"][m]["quantity"] for m in MONTHS] == [100, 100, 120]
    # March 1st: February had no usage, nothing to bill
    assert timeline.step("2027-03-01 00:00:00").jobs["bill-run"].startswith("2027-02: 0 statement(s) made")


def test_r_bill_03_statements_are_issued_on_the_third_before_the_tenth(timeline: Timeline) -> None:
    for month, (y, m) in NEXT.items():
        before = timeline.step(f"{y}-{m:02d}-02 23:59:59")
        assert "statement-issue" not in before.jobs
        assert all(month not in before.visible[who] for who in WHO)  # drafts: the billing office's
        third = timeline.step(f"{y}-{m:02d}-03 00:00:00")
        assert third.jobs["statement-issue"] == f"3 statement(s) of {month} or earlier issued"
        for who in WHO:
            st = third.statements[who][month]
            assert st["state"] == "issued" and month in third.visible[who]
            issued = utc(st["issuedAt"])
            assert issued == sh(y, m, 3) and issued is not None and issued < sh(y, m, 10)
            assert utc(st["confirmBy"]) == sh(y, m, 16)  # the end of the 15th
        # the late alert of the 9th finds nothing to alert about
        ninth = timeline.step(f"{y}-{m:02d}-09 00:00:00")
        assert ninth.jobs["statement-late-alert"] == f"{month}: every statement issued"
        assert "statement-late-alert" not in timeline.step(f"{y}-{m:02d}-08 23:59:59").jobs


def test_r_bill_04_a_statement_is_confirmed_by_its_partner_or_deemed_when_the_fifteenth_ends(
    timeline: Timeline,
) -> None:
    ap = timeline.seen["ap confirms 2026-11"]
    assert (ap["state"], ap["confirmation"], utc(ap["confirmedAt"])) == (
        "confirmed",
        "partner",
        sh(2026, 12, 5, 10),
    )
    for month, (y, m) in NEXT.items():
        last = timeline.step(f"{y}-{m:02d}-15 23:59:59")
        assert "deemed-confirmation" not in last.jobs
        ended = timeline.step(f"{y}-{m:02d}-16 00:00:00")
        assert "deemed-confirmation" in ended.jobs
        deemed = {
            who: utc(ended.statements[who][month]["confirmedAt"])
            for who in WHO
            if ended.statements[who][month]["confirmation"] == "deemed"
        }
        for who in deemed:
            assert last.statements[who][month]["state"] == "issued"  # not one second before
        expected = {"2026-11": ["si_post"], "2026-12": ["si_post"], "2027-01": ["ap", "si_pre"]}[month]
        assert deemed == dict.fromkeys(expected, sh(y, m, 16)), month
        assert ended.jobs["deemed-confirmation"].startswith(f"{len(expected)} statement(s) deemed confirmed")
    pre = timeline.seen["si_pre confirms 2026-12"]
    post = timeline.seen["si_post confirms 2027-01"]
    assert (pre["confirmation"], post["confirmation"]) == ("partner", "partner")
    # prepaid statements settle when their window closes; postpaid ones when paid
    end = timeline.steps[-1]
    assert {(who, m): end.statements[who][m]["state"] for who in ("ap", "si_pre") for m in MONTHS} == {
        ("ap", "2026-11"): "settled",
        ("ap", "2026-12"): "settled",
        ("ap", "2027-01"): "settled",
        ("si_pre", "2026-11"): "settled",
        ("si_pre", "2026-12"): "settled",
        ("si_pre", "2027-01"): "settled",
    }


def test_r_bill_05_the_disputed_statements_raw_usage_log_lists_every_cdr_with_its_checksum(
    timeline: Timeline,
) -> None:
    body = timeline.seen["si_pre usage.csv 2026-11"]
    head, _, last = body.rstrip(b"\r\n").rpartition(b"\r\n")
    data = head + b"\r\n"
    assert last.decode() == f"#sha256={hashlib.sha256(data).hexdigest()};rows=10"
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert sum(D(r["amount_cny"]) for r in rows) == D("9.0000")
    assert {int(r["units"]) for r in rows} == {20}
    d = timeline.seen["si_pre disputes 2026-11"]
    assert (d["basis"], d["recordsSubmitted"], d["recordsMatched"], d["platformOnly"]) == ("records", 9, 9, 1)
    assert d["report"]["platformOnly"] == [rows[0]["cdr_id"]]
    assert (d["statementAmount"], d["partnerAmount"]) == ("9.0000", "8.1000")


def test_r_bill_06_a_discrepancy_above_five_percent_is_carried_into_the_next_statement(
    timeline: Timeline,
) -> None:
    d = timeline.seen["si_pre disputes 2026-11"]
    assert (d["state"], d["outcome"], d["discrepancy"], d["adjustment"]) == (
        "closed",
        "adjusted",
        "-0.9000",
        "-0.9000",
    )
    answered = timeline.step("2026-12-05 answered")
    assert answered.statements["si_pre"]["2026-11"]["total"] == "9.00"  # November stays as issued
    billed = timeline.step("2027-01-01 00:00:00")
    dec = billed.statements["si_pre"]["2026-12"]
    assert [(ln["kind"], ln["amount"]) for ln in dec["lines"] if ln["kind"] == "adjustment"] == [
        ("adjustment", "-0.9000")
    ]
    assert (dec["exact"], dec["adjustments"], dec["total"]) == ("4.5000", "-0.9000", "3.60")
    # in the prepaid partner's favour: credited to its balance by the bill run
    before = D(timeline.step("2026-12-31 23:59:59").accounts["si_pre"]["balance"])
    assert D(billed.accounts["si_pre"]["balance"]) - before == D("0.9000")
    # carried once: January's statement has no adjustment
    jan = timeline.steps[-1].statements["si_pre"]["2027-01"]
    assert (jan["adjustments"], jan["total"]) == ("0.0000", "1.80")


def test_r_bill_06_a_discrepancy_within_five_percent_leaves_the_statement_as_issued(
    timeline: Timeline,
) -> None:
    d = timeline.seen["ap disputes 2026-12"]
    assert (d["state"], d["outcome"], d["statementAmount"], d["partnerAmount"]) == (
        "closed",
        "stands",
        "3.0000",
        "2.9000",
    )
    assert d["adjustment"] == "0.0000"
    end = timeline.steps[-1]
    dec = end.statements["ap"]["2026-12"]
    assert (dec["state"], dec["total"], dec["dispute"]["outcome"]) == ("settled", "3.00", "stands")
    jan = end.statements["ap"]["2027-01"]
    assert [ln for ln in jan["lines"] if ln["kind"] == "adjustment"] == []
    assert (jan["adjustments"], jan["total"]) == ("0.0000", "2.00")


def test_r_bill_08_an_unpaid_statement_is_taken_from_the_deposit_at_00_00_on_the_27th(
    timeline: Timeline,
) -> None:
    nov = timeline.step("2026-12-16 00:00:00").dues["2026-11"]
    assert (nov["state"], nov["amount"], utc(nov["noticeBy"]), utc(nov["collectAt"])) == (
        "due",
        "4.50",
        sh(2026, 12, 27),
        sh(2026, 12, 27),
    )
    last = timeline.step("2026-12-26 23:59:59")
    assert "collections" not in last.jobs
    assert (last.deductions, last.deposit["deposit"], last.dues["2026-11"]["state"]) == ([], "6.0000", "due")
    at = timeline.step("2026-12-27 00:00:00")
    assert at.jobs["collections"].startswith(
        "2026-11 or earlier: 1 statement(s) collected, ¥4.50 taken from deposits, 0 short"
    )
    sid = at.statements["si_post"]["2026-11"]["id"]
    assert at.deductions == [(sid, sh(2026, 12, 27), D("4.5000"))]
    due = at.dues["2026-11"]
    assert (due["state"], due["deducted"], due["unpaid"], utc(due["collectedAt"])) == (
        "paid",
        "4.50",
        "0.00",
        sh(2026, 12, 27),
    )
    assert at.deposit["deposit"] == "1.5000" and at.status["si_post"] == "active"
    assert at.statements["si_post"]["2026-11"]["state"] == "settled"


def test_r_bill_09_a_short_deposit_suspends_the_partner_until_it_pays_and_restores_it(
    timeline: Timeline,
) -> None:
    last = timeline.step("2027-01-26 23:59:59 sent")
    assert last.status["si_post"] == "active" and last.deposit["deposit"] == "1.5000"
    at = timeline.step("2027-01-27 00:00:00")
    assert at.jobs["collections"].startswith(
        "2026-12 or earlier: 1 statement(s) collected, ¥1.50 taken from deposits, 1 short "
        "(1 partner(s) suspended)"
    )
    due = at.dues["2026-12"]
    assert (due["state"], due["deducted"], due["unpaid"]) == ("overdue", "1.50", "3.00")
    assert at.status["si_post"] == "suspended" and at.deposit["suspendedForArrears"] is True
    assert at.deductions[-1] == (due["statementId"], sh(2027, 1, 27), D("1.5000"))
    calls = [(step, st, code) for step, who, st, code in timeline.calls if who == "si_post"]
    assert calls[-3:] == [
        ("2027-01-27 00:00:00", 403, "PARTNER_SUSPENDED"),  # refused from 00:00:00 on, not charged
        ("2027-01-28 arrears paid", 403, "PARTNER_SUSPENDED"),  # the deposit is not restored yet
        ("2027-01-28 deposit restored", 201, ""),
    ]
    assert timeline.cdrs["si_post before refused"] == timeline.cdrs["si_post after refused"]
    paid = timeline.step("2027-01-28 arrears paid")
    assert (paid.dues["2026-12"]["state"], paid.status["si_post"]) == ("paid", "suspended")
    resumed = timeline.step("2027-01-28 deposit restored")
    assert (resumed.status["si_post"], resumed.deposit["deposit"], resumed.deposit["arrears"]) == (
        "active",
        "6.0000",
        "0.0000",
    )


def test_r_bill_07_a_statement_paid_within_the_window_is_not_collected(timeline: Timeline) -> None:
    paid = timeline.step("2027-02-05 paid")
    jan = paid.dues["2027-01"]
    assert (jan["state"], jan["paid"], jan["deducted"], utc(jan["paidAt"])) == (
        "paid",
        "5.40",
        "0.00",
        sh(2027, 2, 5, 10),
    )
    assert paid.statements["si_post"]["2027-01"]["state"] == "settled"
    at = timeline.step("2027-02-27 00:00:00")
    assert at.jobs["collections"].startswith("2027-01 or earlier: 0 statement(s) collected, ¥0.00")
    assert len(at.deductions) == 2 and at.deposit["deposit"] == "6.0000"
    assert at.status["si_post"] == "active"
    assert (
        timeline.step("2027-03-01 00:00:00")
        .jobs["collections-deferred"]
        .startswith("2027-01 or earlier: 0 statement(s) collected")
    )
