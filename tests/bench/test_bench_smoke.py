"""CI runs the benchmarks only in their smoke size: they must run end to end and print their ratios
(DESIGN.md "Benchmarks"). The figures themselves are not asserted: this is not a timed test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def has_wrk() -> bool:
    return shutil.which("wrk") is not None


@pytest.mark.slow
def test_bench_smoke_prints_ratios() -> None:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ratios = re.findall(r"^RATIO (\S+) (\S+) = (\d+\.\d+)", out.stdout, re.M)
    backends = ["sqlite"] + (["postgresql"] if env.get("OPENABILITY_TEST_DATABASE_URL") else [])
    expected = {
        (f"{kind}/{b}", ratio)
        for b in backends
        for kind, ratio in (
            ("http", "charged_sms/starlette_noop"),
            ("http", "charged_sms/fastapi_noop"),
            ("http", "charged_sms_key/charged_sms"),
            ("cdr", "writer/raw_copy" if b == "postgresql" else "writer/raw_executemany"),
            *([("spread", "uniform_20/hot"), ("spread", "zipf1.1_50/hot")] if has_wrk() else []),
        )
    }
    assert {(bench, ratio) for bench, ratio, _ in ratios} == expected, out.stdout
    assert all(float(v) > 0 for _, _, v in ratios), out.stdout
    # Every benchmark checked its own result: no failed calls, a clean ledger after the CDR writer.
    assert "WARNING" not in out.stdout, out.stdout
    runs = 4 if has_wrk() else 2  # http, cdr (+ spread: uniform and Zipf)
    assert out.stdout.count("ledger audit: clean") + out.stdout.count(
        "after the writer: clean"
    ) == runs * len(backends), out.stdout
