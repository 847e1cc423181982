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
from bench.__main__ import CDR_BATCHES

ROOT = Path(__file__).resolve().parents[2]


def has_wrk() -> bool:
    return shutil.which("wrk") is not None


@pytest.mark.slow
@pytest.mark.timeout(1600)  # ~2.5 min on a quiet 2-core machine with PostgreSQL; 5+ when it is shared
def test_bench_smoke_prints_ratios() -> None:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,  # http, cdr, spread, workers and the bill run's world; a loaded CI machine
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
            *(
                ("cdr", f"writer/raw_{'copy' if b == 'postgresql' else 'executemany'}@{size}")
                for size in CDR_BATCHES
            ),
            *([("spread", "uniform_20/hot"), ("spread", "zipf1.1_50/hot")] if has_wrk() else []),
            *([("billrun", "billrun/groupby_scan")] if b == "postgresql" else []),
        )
    }
    if "postgresql" in backends:  # 1 vs 2 uvicorn workers: PostgreSQL only
        expected |= {
            ("workers/postgresql", "rps_2w/1w"),
            ("workers/postgresql", "cpu_per_call_2w/1w"),
            ("workers/postgresql", "cpu_per_call_with_pg_2w/1w"),
        }
    assert {(bench, ratio) for bench, ratio, _ in ratios} == expected, out.stdout
    assert all(float(v) > 0 for _, _, v in ratios), out.stdout
    # Every benchmark checked its own result: no failed calls, a clean ledger after the CDR writer.
    assert "WARNING" not in out.stdout, out.stdout
    runs = (
        1 + len(CDR_BATCHES) + (2 if has_wrk() else 0)
    )  # http, cdr per batch size (+ spread: uniform, Zipf)
    assert out.stdout.count("ledger audit: clean") + out.stdout.count(
        "after the writer: clean"
    ) == runs * len(backends) + 2 * ("postgresql" in backends), out.stdout  # + workers, bill run
    _check_summary(out.stdout, backends)


def _check_summary(stdout: str, backends: list[str]) -> None:
    """The summary at the end: one TARGET line per target of bench/summary.py (per backend measured),
    each with PASS, FAIL or "not run" — whatever the figures are."""
    from bench.summary import TARGETS

    assert "\nSUMMARY: " in stdout, stdout
    tail = stdout[stdout.index("\nSUMMARY: ") :]
    rows = re.findall(r"^TARGET (\S+) (\S+): .* (PASS|FAIL|not run \(.*\))$", tail, re.M)
    assert {key for key, _, _ in rows} == set(TARGETS), tail
    assert len(rows) == len(tail.strip().splitlines()) - 1 - tail.count("\nINFO "), tail
    measured = {(key, backend) for key, backend, verdict in rows if verdict in ("PASS", "FAIL")}
    # Measured in the smoke size: the HTTP and CDR ratios and the worker RSS on every backend; the
    # 2-worker figures on PostgreSQL. Spread (1,000/100,000 partners) and bill run are not in it.
    for b in backends:
        assert {("charged_vs_fastapi", b), ("cdr_writer_vs_copy", b), ("worker_rss_mib", b)} <= measured, tail
    if "postgresql" in backends:
        assert {("workers_cpu", "postgresql"), ("workers_lock_waits", "postgresql")} <= measured, tail


def test_summary_keeps_the_worst_figure_and_says_not_run() -> None:
    from bench import summary

    summary.reset()
    try:
        summary.record("cdr_writer_vs_copy", 0.9, "postgresql", "batch 300")
        summary.record("cdr_writer_vs_copy", 0.5, "postgresql", "batch 30")
        summary.record("worker_rss_mib", 120.0, "postgresql")
        summary.record("worker_rss_mib", 160.0, "postgresql")
        summary.record("workers_lock_waits", 0, "postgresql")
        lines = {line.split(":")[0]: line for line in summary.lines()}
    finally:
        summary.reset()
    assert lines["TARGET cdr_writer_vs_copy postgresql"].endswith(
        "(target >= 0.800; batch 30, worst of 2) FAIL"
    )
    assert lines["TARGET worker_rss_mib postgresql"].startswith(
        "TARGET worker_rss_mib postgresql: worker RSS"
    )
    assert " = 160 MiB " in lines["TARGET worker_rss_mib postgresql"]
    assert lines["TARGET worker_rss_mib postgresql"].endswith("FAIL")
    assert lines["TARGET workers_lock_waits postgresql"].endswith(" = 0 (target <= 0) PASS")
    assert "not run" in lines["TARGET billrun_vs_scan -"]
    with pytest.raises(KeyError):
        summary.record("no_such_target", 1.0)
