"""Password and client-secret hashing: argon2id (argon2-cffi defaults, RFC 9106 low-memory profile).

Verification costs tens of milliseconds by design: it is used at login and token issuance only,
never per capability call (the gateway checks access tokens by SHA-256, see tokens.py).
The async variants run the hash in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
T = TypeVar("T")


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(secret: str, hashed: str) -> bool:
    """Constant-time check (argon2 compares digests in constant time); False on any mismatch."""
    try:
        return _hasher.verify(hashed, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    try:
        return _hasher.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("openability-dummy-secret")


# argon2 takes tens of milliseconds of CPU by design. Run in the default executor (up to cpu+4 threads),
# a burst of logins took both cores of a 2-core machine from the event loop and the charging path (SMS
# throughput fell from 164/s to 11/s under 16 concurrent wrong-password logins). Hashes run in a
# dedicated pool of settings.password_hash_threads threads instead (default 1): the burst queues.
_pool: ThreadPoolExecutor | None = None
_pool_threads = 1


def configure_hash_threads(threads: int) -> None:
    """How many hashes may run at once (settings.password_hash_threads; set at start-up)."""
    global _pool, _pool_threads
    if threads != _pool_threads or _pool is None:
        old, _pool, _pool_threads = _pool, ThreadPoolExecutor(threads, thread_name_prefix="argon2"), threads
        if old is not None:
            old.shutdown(wait=False)


def _executor() -> ThreadPoolExecutor:
    if _pool is None:
        configure_hash_threads(_pool_threads)
    assert _pool is not None
    return _pool


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_executor(), fn, *args)


async def hash_secret_async(secret: str) -> str:
    return await _off_loop(hash_secret, secret)


async def verify_secret_async(secret: str, hashed: str | None) -> bool:
    """Verify, or burn the same time against a dummy hash when there is no such user/client,
    so response times do not reveal which usernames or client ids exist."""
    if hashed is None:
        await _off_loop(verify_secret, secret, _dummy_hash())
        return False
    return await _off_loop(verify_secret, secret, hashed)


def use_fast_hashing(enabled: bool = True) -> None:
    """Test suites only: cheap argon2 parameters so fixtures creating many users stay fast.
    Hashes made either way verify either way (the parameters are encoded in each hash)."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1) if enabled else PasswordHasher()
    _dummy_hash.cache_clear()
