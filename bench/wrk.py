"""Running `wrk` and reading its output, for every benchmark that drives the server with it
(bench/http_bench.py: one route; bench/spread_bench.py: many partners' tokens).

One thread (`-t1`): a Lua script's counters are then unique without coordination, and on the
2-core machine the load generator takes one core (with --pin: CPU 1)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}  # wrk's time units, in ms


@dataclass
class LoadResult:
    route: str
    requests: int
    ok: int  # 2xx answers
    seconds: float
    latency_ms: float  # mean
    tool: str
    cpu_seconds: float | None = None  # the server's CPU time (user + system) during the load
    p50_ms: float | None = None  # latency percentiles (wrk --latency; None with the httpx loop)
    p99_ms: float | None = None
    target_rps: float | None = None  # latency_at_rate: the rate asked for

    @property
    def cpu_ms_per_call(self) -> float | None:
        """Server CPU per answered call: steadier than req/s on a shared, noisy machine."""
        if self.cpu_seconds is None or not self.requests:
            return None
        return 1000 * self.cpu_seconds / self.requests

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def available() -> bool:
    return shutil.which("wrk") is not None


def run(
    url: str, script: str, seconds: int, connections: int, route: str = "", cpu: str | None = None
) -> LoadResult:
    """`wrk -t1 -c<connections> -d<seconds>s --latency` against `url` with the Lua `script` (its
    text), pinned to the CPU list `cpu` (taskset) when given; the result of its output."""
    with tempfile.TemporaryDirectory(prefix="oa-wrk-") as tmp:
        lua = Path(tmp, "load.lua")
        lua.write_text(script)
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url]
        if cpu is not None:
            cmd = ["taskset", "-c", cpu, *cmd]
        # The margin: a script that reads 100,000 tokens takes a while before the first request.
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    return parse(out, route, connections)


def parse(out: str, route: str, connections: int) -> LoadResult:
    """wrk's summary: requests, duration, non-2xx/3xx answers, mean latency and (with --latency) the
    50th and 99th percentiles."""
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if m is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    total = int(m.group(1))
    secs = float(m.group(2)) * UNITS[m.group(3)] / 1000
    bad_m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(bad_m.group(1)) if bad_m else 0
    lat_m = re.search(r"Latency\s+([\d.]+)(us|ms|s|m)", out)
    lat = float(lat_m.group(1)) * UNITS[lat_m.group(2)] if lat_m else 0.0
    res = LoadResult(route, total, total - bad, secs, lat, f"wrk -t1 -c{connections}")
    res.p50_ms, res.p99_ms = percentile(out, "50"), percentile(out, "99")
    return res


def percentile(out: str, pct: str) -> float | None:
    """A percentile of wrk --latency's "Latency Distribution" (in ms)."""
    m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None
