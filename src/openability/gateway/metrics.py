"""Prometheus metrics of the data plane, served as text at GET /metrics (process-wide registry)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

CALLS = Counter(
    "openability_gateway_calls",
    "Capability API calls by capability and outcome (HTTP status code name)",
    ["capability", "outcome"],
)
CALL_SECONDS = Histogram(
    "openability_gateway_call_seconds",
    "Capability API call latency (network element and CDR commit included)",
    ["capability"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AMOUNT_CHARGED = Counter(
    "openability_gateway_charged_units",
    "Money charged by the gateway, in 0.0001 CNY units (exact integers)",
    ["capability", "billing_mode"],
)

# labels() looks the child up under a lock on every call; the label sets of the data plane are few and
# fixed (capability x outcome code), so each child is looked up once and kept.
_calls: dict[tuple[str, str], Counter] = {}
_seconds: dict[str, Histogram] = {}
_charged: dict[tuple[str, str], Counter] = {}


def count_call(capability: str, outcome: str, seconds: float) -> None:
    c = _calls.get((capability, outcome))
    if c is None:
        c = _calls[(capability, outcome)] = CALLS.labels(capability, outcome)
    c.inc()
    h = _seconds.get(capability)
    if h is None:
        h = _seconds[capability] = CALL_SECONDS.labels(capability)
    h.observe(seconds)


def count_charged(capability: str, billing_mode: str, units: int) -> None:
    c = _charged.get((capability, billing_mode))
    if c is None:
        c = _charged[(capability, billing_mode)] = AMOUNT_CHARGED.labels(capability, billing_mode)
    c.inc(units)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
