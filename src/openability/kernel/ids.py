"""Identifiers: a short prefix and a time-ordered random part (sortable, unguessable).

`prefix_` + 9 base-32 characters of the Unix time in milliseconds (45 bits) + 12 base-32 characters of
60 random bits from the OS CSPRNG. The gateway makes several ids per call, so the digits come from a
table of digit pairs, the time part is encoded once per millisecond, and the random bits come from one
os.urandom read per 512 ids instead of one per id. Safe across threads (the shared state is replaced
atomically, and the random words come from a C iterator) and across fork (the child drops the pool).
"""

from __future__ import annotations

import os
import secrets
import struct
import time
from collections.abc import Iterator

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Every 10-bit value as two base-32 digits: an id is 1 + 10 table lookups.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_MS_MASK = (1 << 45) - 1
_POOL_BYTES = 8 * 512  # 512 ids' worth of 64-bit random words (the top 60 bits are used)

_last: tuple[int, str] = (-1, "")  # (ms, its 9 digits), replaced as one object
_words: Iterator[tuple[int]] = iter(())


def _forget_pool() -> None:
    # A forked child must not hand out the parent's remaining random bits (duplicate ids).
    global _words
    _words = iter(())


os.register_at_fork(after_in_child=_forget_pool)


def _b32(n: int, length: int) -> str:
    """`length` base-32 digits of the low 5*length bits of n (the reference encoding)."""
    out = []
    for _ in range(length):
        out.append(_ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(out))


def _random60() -> int:
    global _words
    try:
        return next(_words)[0] >> 4
    except StopIteration:
        _words = struct.iter_unpack(">Q", os.urandom(_POOL_BYTES))
        return next(_words)[0] >> 4


def _time_digits(ms: int) -> str:
    p = _PAIRS
    m = ms & _MS_MASK
    return f"{_ALPHABET[m >> 40]}{p[(m >> 30) & 1023]}{p[(m >> 20) & 1023]}{p[(m >> 10) & 1023]}{p[m & 1023]}"


def new_id(prefix: str) -> str:
    global _last
    ms = time.time_ns() // 1_000_000
    last = _last
    if last[0] != ms:  # many ids share a millisecond under load: encode it once
        last = _last = (ms, _time_digits(ms))
    r = _random60()
    p = _PAIRS
    rand = f"{p[r >> 50]}{p[(r >> 40) & 1023]}{p[(r >> 30) & 1023]}{p[(r >> 20) & 1023]}{p[(r >> 10) & 1023]}{p[r & 1023]}"
    return f"{prefix}_{last[1]}{rand}"


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
