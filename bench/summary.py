"""The targets of the performance issue (issue 9) and the figures the benchmarks measured against them,
printed at the end of `python -m bench` (`make bench`): one `TARGET` line per target and backend, with
its figure and PASS/FAIL, or "not run" when no benchmark of this run measured it (e.g. `--only`).

A benchmark records a figure with one line, next to the line that prints it:

    summary.record("cdr_writer_vs_copy", ratio, backend, f"batch {batch}")

Recording the same target twice for the same backend (several batch sizes, several workers) keeps the
worst figure and says how many were recorded. Keys and who records them:

    charged_vs_fastapi   http      charged SMS req/s ÷ FastAPI no-op req/s, one worker
    spread_1k_uniform    spread    1,000 partners, uniform traffic, req/s ÷ one hot partner's
    spread_100k_zipf     spread    100,000 partners, Zipf traffic, req/s ÷ one hot partner's
    workers_cpu          workers   CPU per call with 2 workers ÷ with 1 (server + PostgreSQL backends)
    workers_lock_waits   workers   pg_stat_activity samples waiting on a Lock during the 2-worker run
    cdr_writer_vs_copy   cdr       CDR writer records/s ÷ raw COPY records/s
    billrun_vs_scan      billrun   bill run time ÷ one bare GROUP BY partner, product scan
    billrun_memory_mib   billrun   the bill run's peak memory, MiB
    worker_rss_mib       http, workers, spread   a worker's RSS (VmHWM) under full load, MiB (also
                         after the spread loads: a worker that has met many partners)

Figures without a target (latency at 80% of peak) are recorded with `summary.info(...)` and printed
after the targets. This module has no state beyond the run of one `python -m bench` process.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    label: str
    op: str  # ">=", "<=", "<"
    limit: float
    bench: str  # the benchmark that measures it (`--only …`)
    unit: str = ""

    def passes(self, value: float) -> bool:
        return _OPS[self.op](value, self.limit)

    def worse(self, a: float, b: float) -> float:
        """The worse of two figures for this target (the lower where higher is better)."""
        return min(a, b) if self.op == ">=" else max(a, b)


_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "<": operator.lt}

TARGETS: dict[str, Target] = {
    "charged_vs_fastapi": Target("charged SMS ÷ FastAPI no-op, req/s, one worker", ">=", 1.0, "http"),
    "spread_1k_uniform": Target("1,000 partners (uniform) ÷ one hot partner, req/s", ">=", 0.8, "spread"),
    "spread_100k_zipf": Target("100,000 partners (Zipf) ÷ one hot partner, req/s", ">=", 0.5, "spread"),
    "workers_cpu": Target("CPU per call, 2 workers ÷ 1 worker", "<=", 1.15, "workers"),
    "workers_lock_waits": Target("Lock waits in pg_stat_activity samples, 2 workers", "<=", 0, "workers"),
    "cdr_writer_vs_copy": Target("CDR writer ÷ raw COPY, records/s", ">=", 0.8, "cdr"),
    "billrun_vs_scan": Target("bill run ÷ bare GROUP BY scan, time", "<=", 0.25, "billrun"),
    "billrun_memory_mib": Target("bill run memory", "<", 1024, "billrun", " MiB"),
    "worker_rss_mib": Target("worker RSS under full load", "<", 150, "http, workers, spread", " MiB"),
}


@dataclass
class Figure:
    value: float
    detail: str
    count: int = 1


_figures: dict[tuple[str, str], Figure] = {}
_info: list[str] = []


def record(key: str, value: float, backend: str = "postgresql", detail: str = "") -> None:
    """Record a measured figure for the target `key` (one of TARGETS) on `backend`."""
    target = TARGETS[key]  # KeyError: a typo must not silently drop a figure
    old = _figures.get((key, backend))
    if old is None:
        _figures[(key, backend)] = Figure(value, detail)
        return
    worst = target.worse(old.value, value)
    kept = old if worst == old.value else Figure(value, detail)
    _figures[(key, backend)] = Figure(kept.value, kept.detail, old.count + 1)


def info(line: str) -> None:
    """A figure without a target, printed after the targets."""
    _info.append(line)


def reset() -> None:
    _figures.clear()
    _info.clear()


def _fmt(value: float) -> str:
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"


def lines() -> list[str]:
    """`TARGET <key> <backend>: <label> = <figure> (target <op> <limit>) PASS|FAIL`, or `… not run`."""
    out = []
    for key, t in TARGETS.items():
        rows = sorted((b, f) for (k, b), f in _figures.items() if k == key)
        want = f"target {t.op} {_fmt(t.limit)}{t.unit}"
        if not rows:
            out.append(f"TARGET {key} -: {t.label} = not run ({want}; `--only {t.bench.split(',')[0]}`)")
            continue
        for backend, f in rows:
            verdict = "PASS" if t.passes(f.value) else "FAIL"
            extra = [x for x in (f.detail, f"worst of {f.count}" if f.count > 1 else "") if x]
            more = f"; {', '.join(extra)}" if extra else ""
            out.append(
                f"TARGET {key} {backend}: {t.label} = {_fmt(f.value)}{t.unit} ({want}{more}) {verdict}"
            )
    return out


def print_summary() -> None:
    print(
        "\nSUMMARY: the targets of issue 9, measured in this run (http, spread, workers: the median of"
        " --rounds interleaved rounds)"
    )
    for line in lines():
        print(line)
    for line in _info:
        print(f"INFO {line}")
