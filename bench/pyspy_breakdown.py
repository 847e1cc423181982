"""Where a call's CPU goes: a py-spy raw profile (`py-spy record -f raw --nolineno`) of the bench server,
summed by component. Each sample goes to the innermost frame that matches a component (leaf -> root).

    python -m bench.pyspy_breakdown PROFILE.raw [CPU_US_PER_CALL]

With the server's CPU per call (printed by `python -m bench`), each share is also given in µs per call.
docs/benchmarks.md "Lean data plane" shows how the profile is taken."""

from __future__ import annotations

import re
import sys
from collections import Counter

COMPONENTS: list[tuple[str, str]] = [
    ("asyncpg", r"asyncpg/"),
    ("SQLAlchemy + greenlet", r"sqlalchemy/|greenlet"),
    ("HTTP server (uvicorn, httptools, granian)", r"uvicorn/|httptools|granian"),
    ("Starlette / FastAPI", r"starlette/|fastapi/"),
    ("JSON (orjson, msgspec)", r"orjson|msgspec"),
    ("metrics", r"prometheus_client|gateway/metrics"),
    ("CDR writer", r"charging/cdr_writer|kernel/batching|ledger/"),
    ("send spool", r"charging/spool"),
    ("request claims", r"charging/claims"),
    ("grants", r"charging/grants"),
    (
        "rating (rules, volume blocks, Decimal)",
        r"catalog/rules|charging/rules|charging/volume|decimal|kernel/money",
    ),
    ("SMS segments", r"sms_codec"),
    ("ids and clock", r"kernel/ids|kernel/clock|datetime|zoneinfo|secrets"),
    ("body decoding and validation", r"capabilities/"),
    ("caches and auth", r"gateway/cache|hashlib"),
    ("gateway glue (dataplane, runtime, web)", r"gateway/|kernel/web"),
    ("charging engine glue", r"charging/service|charging/types"),
    ("bench connector", r"bench/"),
    ("imports, jobs' start-up", r"frozen importlib"),
    ("event loop (uvloop, asyncio)", r"asyncio/|uvloop|Runner\.run"),
]


def breakdown(lines: list[str]) -> tuple[int, Counter[str]]:
    total, counts = 0, Counter[str]()
    rules = [(name, re.compile(rx)) for name, rx in COMPONENTS]
    for line in lines:
        line = line.rstrip()
        if not line:
            continue
        stack, n_text = line.rsplit(" ", 1)
        n = int(n_text)
        total += n
        counts[_component(stack.split(";"), rules)] += n
    return total, counts


def _component(frames: list[str], rules: list[tuple[str, re.Pattern[str]]]) -> str:
    for frame in reversed(frames):
        for name, rx in rules:
            if rx.search(frame):
                return name
    return "other"


def main(argv: list[str]) -> int:
    with open(argv[0]) as fh:
        total, counts = breakdown(fh.readlines())
    per_call = float(argv[1]) if len(argv) > 1 else None
    print(f"{total} samples")
    for name, n in counts.most_common():
        us = f"  {per_call * n / total:6.0f} µs/call" if per_call else ""
        print(f"  {100 * n / total:5.1f}%{us}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
