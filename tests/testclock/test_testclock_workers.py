"""The test clock across processes: `openability run --demo --workers 2` on PostgreSQL, the clock moved by
the CLI (a third process). Every worker answers the moved time within about a second, and the daily job
runs for the new day at once, not at the next scheduler interval (an hour here)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from openability.kernel.clock import SHANGHAI, SystemClock, business_date

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

START_TIMEOUT = 60.0
EXE = Path(sys.executable).with_name("openability")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(migrated_url: str, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPENABILITY_")}
    return base | {
        "OPENABILITY_DATABASE_URL": migrated_url,
        "OPENABILITY_DATA_DIR": str(tmp_path / "var"),
        "OPENABILITY_PORT": str(free_port()),
        "OPENABILITY_RUN_TEST_SMSC": "false",
        "OPENABILITY_SMSC_ENABLED": "false",
        "OPENABILITY_SCHEDULER_INTERVAL_SECONDS": "3600",
        "OPENABILITY_LOG_FORMAT": "text",
    }


@contextlib.contextmanager
def demo_server(env: dict[str, str], cwd: Path) -> Iterator[str]:
    log = cwd / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(EXE), "run", "--demo", "--workers", "2"],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while log.read_text(errors="replace").count("Application startup complete") < 2:
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{env['OPENABILITY_PORT']}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    r = subprocess.run(
        [str(EXE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def wait_for(what: str, check: object, timeout: float = 5.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def holiday_period(base: str, headers: dict[str, str]) -> str | None:
    jobs = httpx.get(f"{base}/api/v1/jobs", headers=headers).json()["items"]
    period: str | None = next(j["lastPeriod"] for j in jobs if j["name"] == "holiday-greetings")
    return period


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_cli_set_reaches_every_worker_and_runs_the_new_days_job(
    env: dict[str, str], tmp_path: Path
) -> None:
    today = business_date(SystemClock().now())
    tomorrow = today + timedelta(days=1)
    target = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0, tzinfo=SHANGHAI)
    with demo_server(env, tmp_path) as base:
        token = (
            cli(env, tmp_path, "partners", "operator-token", "admin", "--name", "e2e")
            .strip()
            .splitlines()[-1]
        )
        headers = {"Authorization": f"Bearer {token}"}
        wait_for("the start-up tick", lambda: holiday_period(base, headers) == today.isoformat())
        # another process moves the clock: the CLI, with the setting on as `--demo` sets it
        out = cli(env | {"OPENABILITY_TEST_CLOCK": "true"}, tmp_path, "clock", "set", target.isoformat())
        assert f"business date: {tomorrow.isoformat()}" in out

        def every_worker_moved() -> bool:
            # new connections, spread over the two workers by the kernel
            dates = {
                httpx.get(f"{base}/api/v1/test/clock", headers=headers).json()["businessDate"]
                for _ in range(12)
            }
            return dates == {tomorrow.isoformat()}

        wait_for("every worker reads the moved clock", every_worker_moved, timeout=3.0)
        wait_for("the new day's job", lambda: holiday_period(base, headers) == tomorrow.isoformat())
        r = httpx.post(
            f"{base}/api/v1/test/clock", headers=headers, json={"now": today.isoformat() + "T12:00+08:00"}
        )
        assert r.status_code == 409 and r.json()["code"] == "CLOCK_BACKWARDS"
