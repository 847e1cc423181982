"""Per-partner, per-product rate limits: token buckets in memory (one per worker; DESIGN.md notes they may
move to Redis for limits across nodes). Time comes from the injected clock, so tests move it."""

from __future__ import annotations

import math


class RateLimiter:
    """Token bucket: `rate` tokens a second, bursts of up to `rate` (one second's worth)."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], list[float]] = {}  # key -> [tokens, last timestamp]

    def acquire(self, key: tuple[str, str], rate: int, now: float) -> int:
        """Take one token. Returns 0 when allowed, else the seconds to wait (Retry-After, >= 1)."""
        if rate <= 0:
            return 1
        b = self._buckets.get(key)
        if b is None:
            self._buckets[key] = [rate - 1.0, now]
            return 0
        tokens = min(float(rate), b[0] + (now - b[1]) * rate) if now > b[1] else b[0]
        b[1] = max(now, b[1])
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            return 0
        b[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / rate))

    def forget(self, partner_id: str) -> None:
        for k in [k for k in self._buckets if k[0] == partner_id]:
            del self._buckets[k]
