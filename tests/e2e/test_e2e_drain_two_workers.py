"""Acceptance: drain a prepaid account with many concurrent callers across 2 uvicorn worker processes on
PostgreSQL (R-CHARGE-01/02, DESIGN.md "Charging: how a call is charged").

The platform runs as it does in production: `uvicorn --workers 2` in a subprocess on its own, fresh
PostgreSQL database, the real SMPP connector against the local test SMSC (one of the workers starts it,
the other finds the port taken and binds to it), each worker with its own grants and CDR writer. The
account is seeded with the real services (catalog seed, AP registration, order, sandbox top-up, API
client + OAuth token). After SIGTERM (workers flush their CDR writers and release their grants) the
database must show: CDR amounts == successful calls x price == payments - available balance, one CDR
per successful call, nothing reserved, available >= 0, and a clean ledger audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from support_workers import (
    PG_URL,
    admin_sql,
    async_url,
    check_db,
    create_tables,
    free_port,
    seed,
    stop,
    wait_started,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

PRICE = Decimal("0.0500")  # sms-standard, list band (AP), national scope, first tier
TOP_UP = Decimal("10.00")
CALLS = 400
CONCURRENCY = 32


async def _drain(base: str, token: str) -> tuple[Counter[int], int, list[str]]:
    """CALLS SMS calls from CONCURRENCY clients. A 429 is retried with the same Idempotency-Key (the rate
    limit is per worker)."""
    statuses: Counter[int] = Counter()
    retried_429 = 0
    odd: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(CALLS):
        queue.put_nowait(i)
    body = {"to": ["+8613800138000"], "text": "drain test"}

    async def caller() -> None:
        nonlocal retried_429
        # No keep-alive: every call is a new connection, accepted by whichever worker is free, so both
        # workers serve (and charge) from the start instead of one worker owning all long-lived sockets.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, timeout=20.0, limits=limits) as http:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"drain-{i}"}
                for _ in range(20):
                    r = await http.post("/capabilities/sms/v1/messages", json=body, headers=headers)
                    if r.status_code != 429:
                        break
                    retried_429 += 1
                    await asyncio.sleep(0.2)
                statuses[r.status_code] += 1
                if r.status_code == 201:
                    if r.json()["amountCharged"] != str(PRICE):
                        odd.append(r.text)
                elif r.status_code == 402:
                    if r.json()["code"] != "INSUFFICIENT_BALANCE":
                        odd.append(r.text)
                else:
                    odd.append(f"{r.status_code} {r.text}")

    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    return statuses, retried_429, odd


def test_e2e_drain_prepaid_account_two_workers_postgres(tmp_path: Path) -> None:
    # R-CHARGE-01 R-CHARGE-02
    dbname = "drain_" + secrets.token_hex(5)
    asyncio.run(admin_sql(f"CREATE DATABASE {dbname}"))
    url = async_url(PG_URL, dbname)
    proc: subprocess.Popen[bytes] | None = None
    log = tmp_path / "server.log"
    try:
        create_tables(url)
        partner_id, token = asyncio.run(seed(url, tmp_path / "seed"))

        port, smsc_port = free_port(), free_port()
        env = {
            **os.environ,
            "OPENABILITY_DATABASE_URL": url,
            "OPENABILITY_DATA_DIR": str(tmp_path / "data"),
            "OPENABILITY_RUN_TEST_SMSC": "true",
            "OPENABILITY_SMSC_ENABLED": "true",
            "OPENABILITY_SMSC_PORT": str(smsc_port),
            "OPENABILITY_PORT": str(port),
        }
        env.pop("OPENABILITY_TEST_DATABASE_URL", None)
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "openability.app:create_app",
                    "--factory",
                    "--workers",
                    "2",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                ],
                cwd=tmp_path,  # no stray .env
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killable as a whole
            )
        base = f"http://127.0.0.1:{port}"
        wait_started(proc, log, base, workers=2)

        t0 = time.monotonic()
        statuses, retried_429, odd = asyncio.run(_drain(base, token))
        elapsed = time.monotonic() - t0
        rc = stop(proc)
        server_log = log.read_text(errors="replace")
        ok, refused = statuses[201], statuses[402]
        db = asyncio.run(check_db(url, partner_id))
        report = (
            f"drain: {ok} x 201, {refused} x 402, others {dict(statuses - Counter({201: ok, 402: refused}))} "
            f"in {elapsed:.2f}s ({CALLS / elapsed:.0f} calls/s), {retried_429} 429-retries; db: {db}"
        )
        print(report)
        assert odd == [], f"{report}\nunexpected answers: {odd[:5]}\n{server_log[-3000:]}"
        assert rc == 0, server_log[-4000:]
        assert "Traceback" not in server_log, server_log[-6000:]
        assert ok + refused == CALLS, report
        assert db["audit"] == [], db["audit"]
        assert db["cdrs"] == ok, report
        assert db["quantity"] == ok, report
        assert db["charged"] == ok * PRICE, report
        assert db["paid"] == TOP_UP, report
        assert db["reserved"] == 0 and db["open_grants"] == 0, report  # all grants released on shutdown
        assert db["available"] >= 0, report
        assert db["paid"] - db["available"] == db["charged"], report
        # The real SMPP path: the test SMSC journaled one submit_sm per successful call, none for a 402.
        journal = (tmp_path / "data" / "smsc-received.jsonl").read_bytes().splitlines()
        submits = sum(1 for line in journal if orjson.loads(line).get("type") == "submit_sm")
        assert submits == ok, f"SMSC received {submits} submit_sm for {ok} successful calls"
        assert db["grant_workers"] == 2, report  # both workers really charged (held grants)
        # 10.00 CNY buys exactly 200 SMS at 0.0500: every cent is spent and nothing more.
        assert ok == int(TOP_UP / PRICE), report
        assert db["available"] == 0, report
    finally:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
