"""Charged SMS calls/s vs. the same server's no-op routes (a bare Starlette route and a FastAPI route,
both answering 12 bytes of JSON), against one uvicorn worker in a subprocess.

Load generator: `wrk` when installed (a Lua script makes the POSTs), else an httpx async loop (much
slower than wrk: its figures measure the client as much as the server, and the output says so)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench import summary, wrk
from bench.wrk import LoadResult

ROOT = Path(__file__).resolve().parents[1]
SMS_PATH = "/capabilities/sms/v1/messages"
SMS_BODY = orjson.dumps({"to": ["+8613800138000"], "text": "bench"})
ROUTES = {
    "starlette_noop": "/bench/noop",
    "fastapi_noop": "/bench/noop-fastapi",
    "charged_sms": SMS_PATH,
    # The same call with a new Idempotency-Key each time: the key is claimed across workers in the
    # database before the network (charging/claims.py), the cost of exactly-once sends.
    "charged_sms_key": SMS_PATH,
}
KEYED = {"charged_sms_key"}
SERVERS = ("uvicorn", "granian", "granian-rsgi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BenchServer:
    """`uvicorn bench.app_factory:create_bench_app` (or granian: `server`) on its own port and
    database, one worker."""

    start_timeout = 120.0  # seconds until /healthz answers (an overloaded shared machine needs > 30)

    def __init__(
        self,
        url: str,
        data_dir: Path,
        workers: int = 1,
        stack: str = "auto",
        cpu: str | None = None,
        *,
        pin: bool = False,
        env: dict[str, str] | None = None,
        server: str = "uvicorn",
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"unknown server {server!r} ({', '.join(SERVERS)})")
        self.server = server  # uvicorn | granian (its ASGI interface)
        self.cpu = cpu if cpu is not None else ("0" if pin else None)  # taskset CPU list (None: not pinned)
        self.url = url
        self.pin = pin  # the server on CPU 0 (taskset), the load generator on CPU 1
        self.extra_env = env or {}
        self.stack = stack  # "auto": uvicorn's choice (httptools/uvloop when installed); "h11": pure Python
        self.data_dir = data_dir
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def __enter__(self) -> BenchServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "OPENABILITY_DATABASE_URL": self.url,
            "OPENABILITY_DATA_DIR": str(self.data_dir),
            "OPENABILITY_RUN_TEST_SMSC": "false",
            "OPENABILITY_SMSC_ENABLED": "false",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            **self.extra_env,
        }
        if self.server == "uvicorn":
            cmd = [
                sys.executable, "-m", "uvicorn", "bench.app_factory:create_bench_app", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
                "--no-access-log", "--log-level", "warning",
            ]  # fmt: skip
            if self.stack == "h11":
                cmd += ["--http", "h11", "--loop", "asyncio"]
        else:
            # granian: a Rust HTTP server; one worker process (its parent only supervises), uvloop.
            # granian-rsgi: its RSGI interface (gateway/rsgi.py's bridge in front of the same app).
            rsgi = self.server == "granian-rsgi"
            cmd = [
                sys.executable, "-m", "granian", "--interface", "rsgi" if rsgi else "asgi", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
                "--loop", "uvloop", "--no-ws", "--http", "1", "--log-level", "warning",
                f"bench.app_factory:create_bench{'_rsgi' if rsgi else ''}_app",
            ]  # fmt: skip
        if self.cpu is not None:
            cmd = ["taskset", "-c", self.cpu, *cmd]
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(
                cmd, cwd=self.data_dir, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.start_timeout
        with httpx.Client(base_url=self.base, timeout=1.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"bench server exited:\n{self.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/healthz").status_code == 200:
                        return self
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"bench server did not start:\n{self.log.read_text()[-3000:]}")

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system, all threads) of the server process and its worker processes so
        far; None where /proc is not available."""
        if self.proc is None:
            return None
        try:
            return sum(_proc_cpu(pid) for pid in _process_tree(self.proc.pid))
        except OSError:
            return None

    def stop(self) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)  # graceful: CDR writer flushed, grants released
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class ProcMemory:
    pid: int
    rss_mib: float  # VmRSS now
    hwm_mib: float  # VmHWM: the peak RSS since the process started


def memory(pids: list[int]) -> list[ProcMemory]:
    """VmRSS and VmHWM of these processes (from /proc/<pid>/status; processes gone are left out)."""
    out = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kib = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        if len(kib) == 2:
            out.append(ProcMemory(pid, int(kib["VmRSS"]) / 1024, int(kib["VmHWM"]) / 1024))
    return out


def worker_pids(server: BenchServer) -> list[int]:
    """The processes that serve requests: the uvicorn process itself with one worker; with several,
    its worker processes (multiprocessing spawn children), not the supervisor; granian's workers."""
    if server.proc is None:
        return []
    try:
        tree = _process_tree(server.proc.pid)
    except OSError:
        return []
    if server.server != "uvicorn":
        # granian's first process only supervises, even with one worker: its workers are its (forked)
        # children.
        return tree[1:] or tree[:1]
    if server.workers <= 1:
        return tree[:1]
    workers = []
    for pid in tree[1:]:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return workers


def _process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").iterdir():
            children = (task / "children").read_text().split()
            todo.extend(int(c) for c in children)
    return pids


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def has_wrk() -> bool:
    return wrk.available()


_LUA = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""
# A new Idempotency-Key for every request (one wrk thread: a plain counter is unique).
_LUA_KEYED = """local n = 0
request = function()
  n = n + 1
  wrk.headers["Idempotency-Key"] = "{prefix}-" .. n
  return wrk.format(nil, nil, wrk.headers, nil)
end
"""


def _script(route: str, token: str, think_ms: float | None = None) -> str:
    """The Lua script of a charged call's POST (a new Idempotency-Key each time on a keyed route; a
    think time before each request with `think_ms`: see _LUA_DELAY)."""
    script = _LUA.format(body=SMS_BODY.decode(), token=token)
    if route in KEYED:
        script += _LUA_KEYED.replace("{prefix}", secrets.token_hex(6))
    if think_ms is not None:
        script += _LUA_DELAY.replace("{mean_ms}", f"{think_ms:.3f}")
    return script


def run_wrk(
    base: str, route: str, token: str, seconds: int, connections: int, cpu: str | None = None
) -> LoadResult:
    return wrk.run(base + ROUTES[route], _script(route, token), seconds, connections, route, cpu)


# Latency at a given rate (`latency_at_rate`). wrk has no rate option (wrk2 has, but is not packaged):
# each connection waits a think time before each request, drawn from an exponential distribution so
# the 64 connections' requests arrive roughly as a Poisson stream; the mean think time is calibrated
# so that connections / (think time + latency) is the asked rate. Closed loop: a stalled server
# delays the next request of that connection instead of queueing it (coordinated omission), so under
# stalls the percentiles are optimistic; at 80% of peak the server keeps up and the loop holds its rate.
_LUA_DELAY = """local mean_ms = {mean_ms}
delay = function()
  return math.floor(-mean_ms * math.log(1 - math.random()) + 0.5)
end
"""


def run_wrk_rate(
    base: str,
    route: str,
    token: str,
    seconds: int,
    connections: int,
    think_ms: float,
    cpu: str | None = None,
) -> LoadResult:
    script = _script(route, token, think_ms)
    return wrk.run(base + ROUTES[route], script, seconds, connections, route, cpu)


def latency_at_rate(
    server: BenchServer,
    route: str,
    token: str,
    rate: float,
    seconds: int,
    connections: int,
    cpu: str | None = None,
) -> LoadResult | None:
    """p50/p99 latency with the route driven at `rate` req/s (wrk with a think time per connection:
    see _LUA_DELAY); None without wrk. A short calibration run first measures the latency at about
    that rate, which the think time then leaves out. The result's rps is the rate reached."""
    if not has_wrk() or rate <= 0:
        return None
    interval_ms = 1000 * connections / rate  # per connection, between request starts
    calib = run_wrk_rate(
        server.base, route, token, max(1, min(2, seconds // 2)), connections, interval_ms, cpu
    )
    think = max(0.0, interval_ms - calib.latency_ms)
    cpu0 = server.cpu_seconds()
    res = run_wrk_rate(server.base, route, token, seconds, connections, think, cpu)
    cpu1 = server.cpu_seconds()
    if cpu0 is not None and cpu1 is not None:
        res.cpu_seconds = cpu1 - cpu0
    res.target_rps = rate
    res.tool = f"wrk -t1 -c{connections}, mean think time {think:.1f} ms per connection"
    return res


def _ms(x: float | None) -> str:
    return f"{x:.2f}" if x is not None else "n/a"


def print_latency(name: str, where: str, lat: LoadResult | None) -> None:
    """A latency_at_rate result, printed (`name`: "one worker", "2 worker(s)") and given to the
    summary as an INFO line (`where`: the benchmark and backend, "http/postgresql")."""
    if lat is None:
        print(f"  latency at 80% of peak, {name}: not run (needs wrk and a measured peak)")
        return
    figures = f"p50 {_ms(lat.p50_ms)} ms, p99 {_ms(lat.p99_ms)} ms at {lat.rps:.0f} req/s"
    print(
        f"  latency at 80% of peak, {name}: {figures}"
        f" (asked {lat.target_rps or 0:.0f}; {lat.tool}; 2xx {lat.ok} of {lat.requests})"
    )
    summary.info(f"latency at 80% of peak, {where} {name}: {figures}")


async def _httpx_load(base: str, route: str, token: str, seconds: float, connections: int) -> LoadResult:
    statuses: Counter[int] = Counter()
    lat_total = 0.0
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    stop_at = time.perf_counter() + seconds
    prefix, n = secrets.token_hex(6), itertools.count(1)

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal lat_total
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            h = {**headers, "Idempotency-Key": f"{prefix}-{next(n)}"} if route in KEYED else headers
            r = await http.post(ROUTES[route], content=SMS_BODY, headers=h)
            lat_total += time.perf_counter() - t
            statuses[r.status_code] += 1

    t0 = time.perf_counter()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as http:
        await asyncio.gather(*(worker(http) for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    total = sum(statuses.values())
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return LoadResult(
        route, total, ok, elapsed, 1000 * lat_total / max(total, 1), f"httpx loop c{connections}"
    )


def load(
    base: str,
    route: str,
    token: str,
    seconds: int,
    connections: int,
    server: BenchServer | None = None,
    client_cpu: str | None = None,
) -> LoadResult:
    cpu0 = server.cpu_seconds() if server is not None else None
    if has_wrk():
        res = run_wrk(base, route, token, seconds, connections, client_cpu)
    else:
        res = asyncio.run(_httpx_load(base, route, token, seconds, connections))
    cpu1 = server.cpu_seconds() if server is not None else None
    if cpu0 is not None and cpu1 is not None:
        res.cpu_seconds = cpu1 - cpu0
    return res


def sample_call(base: str, token: str) -> str:
    """One charged call's status and body (to show why calls failed)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    r = httpx.post(base + SMS_PATH, content=SMS_BODY, headers=headers, timeout=10.0)
    return f"{r.status_code} {r.text[:300]}"
