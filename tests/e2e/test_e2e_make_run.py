"""Issue 2 "Done when": `make run` (= `openability run --demo` in a fresh directory) starts the platform
with demo data, and the curl it prints sends an SMS that the test SMSC receives, the balance dropping by
the exact price. And with no SMSC reachable the same call answers 503 and nothing is charged. The
banner's credentials go to the terminal (stdout) only: the logs (stderr) carry none of them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

PRICE = Decimal("0.0500")  # demo list price of one SMS segment (catalog/seed.py)
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    cwd: Path
    out: Path  # stdout: the banner
    log: Path  # stderr: the logs
    proc: subprocess.Popen[bytes]

    def banner(self) -> str:
        return self.out.read_text(errors="replace")

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def line_with(self, needle: str) -> str:
        return next(line for line in self.banner().splitlines() if needle in line)


def sh(cmd: str, cwd: Path) -> str:
    return subprocess.run(
        ["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
    ).stdout


@contextlib.contextmanager
def openability_run(tmp_path: Path, *, test_smsc: bool) -> Iterator[Running]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENABILITY_")}
    env |= {
        "OPENABILITY_PORT": str(free_port()),
        "OPENABILITY_SMSC_PORT": str(free_port()),  # nothing listens there unless the test SMSC starts
        "OPENABILITY_RUN_TEST_SMSC": "true" if test_smsc else "false",
    }
    out, log = tmp_path / "run.out", tmp_path / "run.log"
    exe = Path(sys.executable).with_name("openability")
    with out.open("wb") as stdout, log.open("wb") as stderr:
        proc = subprocess.Popen(
            [str(exe), "run", "--demo"],  # what `make run` runs
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    running = Running(tmp_path, out, log, proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        # uvicorn logs "Application startup complete" after the lifespan and before it binds the socket;
        # "Uvicorn running on" comes once it listens
        while "Uvicorn running on" not in running.logs():
            assert proc.poll() is None, running.banner() + running.logs()
            assert time.monotonic() < deadline, running.banner() + running.logs()
            time.sleep(0.2)
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def balance(run: Running) -> Decimal:
    out = json.loads(sh(run.line_with("/api/v1/accounts/"), run.cwd))
    return Decimal(out["available"]) + Decimal(out["reserved"])


def balance_after_charge(run: Running, before: Decimal, timeout: float = 10.0) -> Decimal:
    """The balance once the call's CDR has committed. The call is answered at its first durable point
    (the spool's sync, docs/charging.md "When a call is answered") and its CDR, which carries the ledger
    entry, commits behind the answer: a read in between still shows `before`. A charge that never
    commits leaves `before`, which the caller's exact assertion then fails on."""
    deadline = time.monotonic() + timeout
    now = balance(run)
    while now == before and time.monotonic() < deadline:
        time.sleep(0.05)
        now = balance(run)
    return now


def received_texts(run: Running) -> list[str]:
    journal = run.cwd / "var" / "smsc-received.jsonl"
    if not journal.exists():
        return []
    rows = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return [r["text"] for r in rows if r.get("type") == "message"]


@pytest.mark.slow
def test_make_run_prints_a_curl_that_sends_an_sms_and_charges_the_exact_price(tmp_path: Path) -> None:
    with openability_run(tmp_path, test_smsc=True) as run:
        banner = run.banner()
        assert "/console/" in banner and "admin/admin1234" in banner
        assert (tmp_path / "var" / "openability.db").exists()  # the embedded default: SQLite in ./var
        before = balance(run)
        assert before == Decimal("100.0000")  # the demo AP's 100.00 top-up
        curl = run.line_with("/capabilities/sms/v1/messages")
        text = json.loads(re.search(r"-d '(\{.*\})'", curl).group(1))["text"]  # type: ignore[union-attr]
        answer = json.loads(sh(curl, run.cwd))
        assert answer["segments"] == 1 and answer["amountCharged"] == "0.0500", answer
        assert answer["messages"][0]["status"] == "submitted"
        # the test SMSC received it over SMPP, text intact (UCS-2)
        deadline = time.monotonic() + 10
        while text not in received_texts(run) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert text in received_texts(run)
        assert balance_after_charge(run, before) == before - PRICE
        assert balance(run) == before - PRICE  # charged once: no second entry follows
        # the credentials and tokens of the banner never reach the logs
        bearer = re.findall(r"Bearer ([^' ]+)", banner)
        secret = re.search(r"client_secret=(\S+)", banner)
        assert len(bearer) == 2 and secret is not None
        logs = run.logs()
        assert "Application startup complete" in logs
        for word in (*bearer, secret.group(1), "admin1234", "demo12345"):
            assert word not in logs


@pytest.mark.slow
def test_without_an_smsc_the_call_answers_503_and_charges_nothing(tmp_path: Path) -> None:
    with openability_run(tmp_path, test_smsc=False) as run:
        before = balance(run)
        curl = run.line_with("/capabilities/sms/v1/messages").replace(
            "curl -s ", "curl -s -w '\\n%{http_code}' ", 1
        )
        body, status = sh(curl, run.cwd).rsplit("\n", 1)
        assert status == "503", body
        assert json.loads(body)["code"] == "SERVICE_UNAVAILABLE"
        assert balance(run) == before
        assert received_texts(run) == []
