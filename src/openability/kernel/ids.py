"""Identifiers: a short prefix and a time-ordered random part (sortable, unguessable)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(n: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    ms = time.time_ns() // 1_000_000
    return f"{prefix}_{_b32(ms, 9)}{_b32(secrets.randbits(60), 12)}"


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
