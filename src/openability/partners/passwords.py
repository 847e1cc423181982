"""Password and client-secret hashing: argon2id (argon2-cffi defaults, RFC 9106 low-memory profile).

Verification costs tens of milliseconds by design: it is used at login and token issuance only,
never per capability call (the gateway checks access tokens by SHA-256, see tokens.py).
The async variants run the hash in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


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


async def hash_secret_async(secret: str) -> str:
    return await asyncio.to_thread(hash_secret, secret)


async def verify_secret_async(secret: str, hashed: str | None) -> bool:
    """Verify, or burn the same time against a dummy hash when there is no such user/client,
    so response times do not reveal which usernames or client ids exist."""
    if hashed is None:
        await asyncio.to_thread(verify_secret, secret, _dummy_hash())
        return False
    return await asyncio.to_thread(verify_secret, secret, hashed)


def use_fast_hashing(enabled: bool = True) -> None:
    """Test suites only: cheap argon2 parameters so fixtures creating many users stay fast.
    Hashes made either way verify either way (the parameters are encoded in each hash)."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1) if enabled else PasswordHasher()
    _dummy_hash.cache_clear()
