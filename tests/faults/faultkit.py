"""The fault tests' harness (tests/faults, docs/reliability.md "Fault tests").

A *site*: a PostgreSQL database with a funded prepaid AP, the local test SMSC running in the test's own
event loop (so a test can stop, restart and slow it down), and platform processes (`uvicorn
openability.app:create_app`, one worker each, own port) bound to it through the real SMPP connector.
Workers started on one data directory are workers of one node (a dead one's send spool is replayed by
the others).

A *load*: a few concurrent clients, each sending one SMS after the other for a few seconds, every call
with its own Idempotency-Key and the key as its text (so the SMSC's messages say which call they are).
The clients behave as a well-behaved client of the API does: a 503 or 429 is retried with the same key
after its Retry-After, a 409 REQUEST_IN_PROGRESS after its Retry-After, a connection error at once on
the other worker (a load balancer's next instance); 201 and 409 REQUEST_IN_DOUBT are final.

`verify` then checks what the brief of issue 8 asks after any fault: every answered (201) call has its
CDR and every CDR was answered; every message at the SMSC was charged, except calls in doubt (sent,
never answered, never sent again); no call reached the SMSC twice; no 500 and no traceback in the
servers' logs; nothing reserved once the grants' TTL has passed; the ledger audit clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from openability.connectors.smsc import TestSmsc
from openability.kernel.db import make_engine, make_sessionmaker
from support_workers import (
    PG_URL,
    STARTUP_TIMEOUT,
    UVICORN,
    admin_sql,
    async_url,
    cdr_keys,
    check_db,
    free_port,
)

URL = "/capabilities/sms/v1/messages"
TO = "+8613800138000"
TOP_UP = Decimal("100000.00")
# Short lives so a test sees a dead worker's grant reaped and its claims resolved within seconds: a
# grant lives 4 s, is reaped 3 s after (so a claim is stale after 7 s, above the 5 s in which a node's
# other workers replay a dead worker's spool); the scheduler ticks every second.
WORKER_ENV = {
    "OPENABILITY_RUN_TEST_SMSC": "false",
    "OPENABILITY_SMSC_ENABLED": "true",
    "OPENABILITY_GRANT_TTL_SECONDS": "4",
    "OPENABILITY_GRANT_REAP_GRACE_SECONDS": "3",
    "OPENABILITY_SCHEDULER_INTERVAL_SECONDS": "1",
    "OPENABILITY_IDEMPOTENCY_WAIT_SECONDS": "1",
    "OPENABILITY_SMSC_TIMEOUT_SECONDS": "1",
}
CLIENTS = 8
LOAD_SECONDS = 6.0
FINISH_SECONDS = 40.0  # calls started during the load must all have a final answer within this
SETTLE_SECONDS = 30.0  # nothing reserved within this after the load (grant TTL + reap grace + ticks)


# ---- platform processes ---------------------------------------------------------------------------


class Node:
    """One platform process (one uvicorn worker) on its own port; restarts keep the port."""

    def __init__(self, name: str, workdir: Path, data_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.workdir = workdir
        self.data_dir = data_dir
        self.env = env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.workdir / f"server-{self.name}-{len(self.logs) + 1}.log"
        self.logs.append(log)
        env = {
            **os.environ,
            **self.env,
            "OPENABILITY_DATA_DIR": str(self.data_dir),
            "OPENABILITY_PORT": str(self.port),
        }
        env.pop("OPENABILITY_TEST_DATABASE_URL", None)
        with log.open("wb") as fh:
            self.proc = subprocess.Popen(
                [*UVICORN, "--port", str(self.port), "--no-access-log"],
                cwd=self.workdir,  # no stray .env
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group
            )

    async def ready(self) -> None:
        """Start-up finished (lifespan done) and the database answers its readiness probe."""
        assert self.proc is not None
        log = self.logs[-1]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx.AsyncClient(base_url=self.base, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"{self.name} exited early ({self.proc.returncode}):\n{log.read_text()[-4000:]}"
                    )
                if "Application startup complete" in log.read_text(errors="replace"):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get("/healthz")).status_code == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} did not start in {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL to the process (group), and reap it."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    async def exited(self, within: float = 20.0) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + within
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{self.name} did not stop within {within:g} s of SIGTERM")
            await asyncio.sleep(0.05)
        return int(self.proc.returncode)

    async def stop(self) -> None:
        """SIGTERM and a clean exit (one uvicorn process re-raises SIGTERM once shut down)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.terminate()
        rc = await self.exited()
        text = self.logs[-1].read_text(errors="replace")
        assert rc in (0, -signal.SIGTERM) and "Application shutdown complete" in text, text[-4000:]

    def reap(self) -> None:
        """Whatever happened, no process left behind."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


@dataclass
class Site:
    workdir: Path
    url: str  # the platform's database (asyncpg URL)
    partner_id: str
    token: str
    smsc_port: int = field(default_factory=free_port)
    smscs: list[TestSmsc] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def smsc(self) -> TestSmsc:
        return self.smscs[-1]

    async def start_smsc(self) -> TestSmsc:
        smsc = TestSmsc("127.0.0.1", self.smsc_port, journal=self.workdir / "smsc-received.jsonl")
        await smsc.start()
        self.smscs.append(smsc)
        return smsc

    def node(self, name: str, data: str, **env: str) -> Node:
        n = Node(
            name,
            self.workdir,
            self.workdir / data,
            {
                **WORKER_ENV,
                "OPENABILITY_DATABASE_URL": self.url,
                "OPENABILITY_SMSC_PORT": str(self.smsc_port),
                **env,
            },
        )
        self.nodes[name] = n
        return n

    async def start_nodes(self, *nodes: Node) -> None:
        for n in nodes:
            n.start()
        await asyncio.gather(*(n.ready() for n in nodes))

    def smsc_texts(self) -> Counter[str]:
        """Messages received by every test SMSC the site ran, by text (= the call's key)."""
        return Counter(m.text for s in self.smscs for m in s.messages())

    async def close(self) -> None:
        for n in self.nodes.values():
            n.reap()
        for s in self.smscs:
            await s.stop()


# ---- the load -------------------------------------------------------------------------------------


@dataclass
class Load:
    """Concurrent well-behaved clients (see the module's docstring)."""

    bases: list[str]
    token: str
    clients: int = CLIENTS
    prefix: str = "k"
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> its 201 body
    in_doubt: set[str] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)
    keys: list[str] = field(default_factory=list)
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # "201", "503 SERVICE_UNAVAILABLE", …
    errors: Counter[str] = field(default_factory=Counter)  # transport errors by class
    odd: list[str] = field(default_factory=list)  # answers a client cannot act on (500s included)
    # every request: (sent at, answered or failed at, base, key, status or transport error), monotonic
    events: list[tuple[float, float, str, str, str]] = field(default_factory=list)
    seconds: float = 0.0  # from the first call to the last final answer

    async def run(self, seconds: float = LOAD_SECONDS, finish: float = FINISH_SECONDS) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.gather(
            *(self._client(c, t0 + seconds, t0 + seconds + finish) for c in range(self.clients))
        )
        self.seconds = loop.time() - t0

    async def _client(self, c: int, stop_new: float, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        # A new connection per call, as through a load balancer: no keep-alive socket outlives a worker.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=15.0, limits=limits) as http:
            i = 0
            while loop.time() < stop_new:
                key = f"{self.prefix}{c}-{i}"
                i += 1
                self.keys.append(key)
                await self.call(http, key, c % len(self.bases), deadline)

    async def call(self, http: httpx.AsyncClient, key: str, at: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
        body = {"to": [TO], "text": key}
        while True:
            if loop.time() > deadline:
                self.unresolved.add(key)
                return
            base = self.bases[at]
            self.requests += 1
            sent = time.monotonic()
            try:
                r = await http.post(base + URL, json=body, headers=headers)
            except httpx.TransportError as exc:
                what = type(exc).__name__
                self.errors[what] += 1
                self.events.append((sent, time.monotonic(), base, key, what))
                at = (at + 1) % len(self.bases)  # the next instance, as a load balancer would
                await asyncio.sleep(0.05)
                continue
            code = ""
            if r.status_code != 201:
                with contextlib.suppress(ValueError, AttributeError):
                    code = str(r.json().get("code", ""))
            self.statuses[f"{r.status_code} {code}".strip()] += 1
            self.events.append((sent, time.monotonic(), base, key, str(r.status_code)))
            if r.status_code == 201:
                self.answered[key] = r.json()
                return
            if r.status_code == 409 and code == "REQUEST_IN_DOUBT":
                self.in_doubt.add(key)
                return
            if r.status_code in (429, 503) or (r.status_code == 409 and code == "REQUEST_IN_PROGRESS"):
                retry_after = r.headers.get("Retry-After")
                if retry_after is None:
                    self.odd.append(f"{key}: {r.status_code} without Retry-After: {r.text}")
                    return
                at = (at + 1) % len(self.bases)
                await asyncio.sleep(float(retry_after))
                continue
            self.odd.append(f"{key}: {r.status_code} {r.text}")
            return

    def in_flight(self, base: str, at: float) -> list[tuple[str, str]]:
        """(key, outcome) of the requests to `base` sent before `at` and not answered by then."""
        return [(key, what) for sent, done, b, key, what in self.events if b == base and sent < at < done]

    def count(self, status: str) -> int:
        return sum(n for k, n in self.statuses.items() if k.split(" ")[0] == status)

    async def ask_again(self, keys: set[str]) -> None:
        """Ask once more for calls left in doubt: a record recovered since answers them (201)."""
        async with httpx.AsyncClient(timeout=15.0) as http:
            for key in sorted(keys):
                headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
                r = await http.post(self.bases[0] + URL, json={"to": [TO], "text": key}, headers=headers)
                self.requests += 1
                if r.status_code == 201:
                    self.answered[key] = r.json()
                    self.in_doubt.discard(key)


# ---- what must hold after any fault ---------------------------------------------------------------


async def money(url: str, partner_id: str) -> tuple[Decimal, int]:
    """The partner's prepaid:reserved balance and the open grants."""
    from openability.charging.models import Grant
    from openability.charging.types import GrantState
    from openability.ledger import service as ledger
    from openability.ledger.types import AccountType

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            bal = await ledger.balances(s, partner_id)
            open_grants = await s.scalar(
                select(func.count()).select_from(Grant).where(Grant.state == GrantState.ACTIVE)
            )
        return bal.get(AccountType.PREPAID_RESERVED, Decimal(0)), int(open_grants or 0)
    finally:
        await engine.dispose()


async def grant_holders(url: str) -> set[str]:
    """The workers holding an open grant."""
    from openability.charging.models import Grant
    from openability.charging.types import GrantState

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = await s.scalars(select(Grant.worker_id).where(Grant.state == GrantState.ACTIVE).distinct())
            return set(rows.all())
    finally:
        await engine.dispose()


async def settle(site: Site) -> float:
    """Seconds until nothing is reserved and no grant is open, the workers still running (idle grants
    released by their workers once expired, a dead worker's reaped by the grant reaper)."""
    t0 = time.monotonic()
    while True:
        reserved, grants = await money(site.url, site.partner_id)
        if reserved == 0 and grants == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > SETTLE_SECONDS:
            raise AssertionError(
                f"still {reserved} reserved in {grants} open grant(s) after {SETTLE_SECONDS}s"
            )
        await asyncio.sleep(0.25)


async def claim_states(url: str) -> dict[str, int]:
    from openability.charging.models import RequestClaim

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = (
                await s.execute(select(RequestClaim.state, func.count()).group_by(RequestClaim.state))
            ).all()
        return {str(getattr(st, "value", st)): int(n) for st, n in rows}
    finally:
        await engine.dispose()


async def claim_owners(url: str, keys: set[str]) -> dict[str, str]:
    """The worker that owns (served, or serves) each key's claim."""
    from openability.charging.models import RequestClaim

    if not keys:
        return {}
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = await s.execute(
                select(RequestClaim.request_key, RequestClaim.owner).where(RequestClaim.request_key.in_(keys))
            )
            return {str(k): str(o) for k, o in rows.all()}
    finally:
        await engine.dispose()


def logged(site: Site, pattern: str) -> int:
    """The sum of the first number of every log line matching `pattern` (a regex with one group)."""
    return sum(int(m.group(1)) for n in site.nodes.values() for m in re.finditer(pattern, n.log_text()))


def tracebacks(site: Site) -> list[str]:
    out = []
    for n in site.nodes.values():
        text = n.log_text()
        i = text.find("Traceback")
        if i >= 0:
            out.append(f"{n.name}: {text[max(0, i - 600) : i + 3000]}")
    return out


async def verify(site: Site, load: Load, faults: str) -> dict[str, Any]:
    """Settle, stop the nodes, and check everything the fault tests promise. Returns the figures."""
    assert not load.unresolved, f"calls without a final answer: {sorted(load.unresolved)[:10]}"
    settle_s = await settle(site)
    await load.ask_again(set(load.in_doubt))
    for n in site.nodes.values():
        await n.stop()
    db = await check_db(site.url, site.partner_id)
    keys = Counter(await cdr_keys(site.url, site.partner_id))
    at_smsc = site.smsc_texts()
    answered, in_doubt = set(load.answered), set(load.in_doubt)
    charged = set(keys)
    sent = set(at_smsc)
    figures: dict[str, Any] = {
        "faults": faults,
        "calls": len(load.keys),
        "requests": load.requests,
        "answered": len(answered),
        "503": load.count("503"),
        "409": load.count("409"),
        "429": load.count("429"),
        "connection errors": sum(load.errors.values()),
        "500": load.count("500"),
        "in doubt": len(in_doubt),
        "CDRs": db["cdrs"],
        "SMSC messages": sum(at_smsc.values()),
        "duplicates": sum(n - 1 for n in at_smsc.values() if n > 1)
        + sum(n - 1 for n in keys.values() if n > 1),
        "records lost": len(answered - charged) + len(charged - answered),
        "sent, not charged": len(sent - charged),
        "charged, not sent": len(charged - sent),
        "load s": round(load.seconds, 1),
        "settled in s": round(settle_s, 1),
        "replayed from spools": logged(site, r"replayed spool \S+ of a dead worker: (\d+) CDR"),
        "booked later": logged(site, r"booked (\d+) CDR\(s\) of calls sent while"),
        "claims": await claim_states(site.url),
        "statuses": dict(load.statuses),
        "errors": dict(load.errors),
        "audit": len(db["audit"]),
    }
    print(f"\nfault test figures: {figures}")
    assert load.odd == [], load.odd[:10]
    assert figures["500"] == 0, figures
    assert tracebacks(site) == [], tracebacks(site)[0]
    assert figures["duplicates"] == 0, (figures, [k for k, n in at_smsc.items() if n > 1][:10])
    # every answered call has its CDR, every CDR was answered (to the call or to its retry)
    assert answered == charged, (figures, sorted(answered ^ charged)[:10])
    # every message at the SMSC was charged, except calls in doubt (sent, never answered nor resent)
    assert sent - charged <= in_doubt, (figures, sorted(sent - charged - in_doubt)[:10])
    assert charged <= sent, (figures, sorted(charged - sent)[:10])
    assert db["quantity"] == db["cdrs"], db
    assert db["reserved"] == 0 and db["open_grants"] == 0, db
    assert db["paid"] - db["available"] == db["charged"], db
    assert db["audit"] == [], db["audit"]
    return figures


# ---- the database --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """The seeded template database on the test server (tests/faults/conftest.py)."""

    name: str
    partner_id: str
    token: str


@contextlib.contextmanager
def cloned(template: Template, workdir: Path) -> Iterator[Site]:
    """A site on a new database copied from the template (CREATE DATABASE … TEMPLATE), dropped after."""
    name = "faults_" + secrets.token_hex(5)
    asyncio.run(admin_sql(f"CREATE DATABASE {name} TEMPLATE {template.name}"))
    try:
        yield Site(workdir, async_url(PG_URL, name), template.partner_id, template.token)
    finally:
        asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# ---- a throwaway PostgreSQL cluster ---------------------------------------------------------------

PG_BINDIRS = ("/usr/lib/postgresql/15/bin",)


def pg_bindir() -> Path:
    """Where initdb and pg_ctl are: OPENABILITY_PG_BINDIR, the PATH, or Debian's /usr/lib/postgresql/N/bin.
    Missing is a failure with the reason, never a skip."""
    env = os.environ.get("OPENABILITY_PG_BINDIR")
    candidates = [Path(env)] if env else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    candidates += [Path(p) for p in PG_BINDIRS]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    raise AssertionError(
        "the PostgreSQL restart test needs the PostgreSQL server binaries (initdb, pg_ctl) to start a "
        f"throwaway cluster; none found in {[str(c) for c in candidates]}. Install the server package "
        "(Debian: apt-get install postgresql-15) or set OPENABILITY_PG_BINDIR"
    )


class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own: initdb into a temporary directory, its own port and socket
    directory, started and stopped with pg_ctl. Run as the `postgres` user when the test runs as root
    (initdb refuses root). Never the shared server."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="openability-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _run(self, tool: str, *args: str, timeout: float = 60.0) -> str:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if res.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res.stdout

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return async_url(self.admin_url, database)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
