"""Bearer tokens: random, shown once, stored only as SHA-256 hex (fast to check on every request;
the token itself has 256 bits of entropy, so a slow hash adds nothing)."""

from __future__ import annotations

import hashlib

from openability.kernel.ids import new_secret

KIND_CLIENT = "client"
KIND_OPERATOR = "operator"
KIND_PARTNER_USER = "partner_user"
MANAGEMENT_KINDS = (KIND_OPERATOR, KIND_PARTNER_USER)


def new_token() -> str:
    return new_secret(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
