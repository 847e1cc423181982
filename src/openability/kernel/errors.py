"""One error tree; each error has a stable code and maps to an HTTP status (CAMARA-style body).

The one renderer of error bodies and headers lives here too: `error_body` (the body of every error
answer, management API and data plane alike), `AppError.body()` (the same for an AppError) and
`error_headers` (the headers an error status calls for). The HTTP layers only serialize what these
return, so an error looks the same whichever route, handler or fast path produced it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

# `details` of an error body: a mapping (an AppError's details) or a list (one entry per invalid field).
ErrorDetails = Mapping[str, Any] | Sequence[Any]

# The realm named in WWW-Authenticate challenges (RFC 6750 section 3).
REALM = "openability"


def error_body(status: int, code: str, message: str, details: ErrorDetails | None = None) -> dict[str, Any]:
    """The CAMARA error body `{"status", "code", "message"}`, plus `details` when there are any."""
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if details:
        body["details"] = details
    return body


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "INVALID_ARGUMENT"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message, self.details)


def error_headers(exc: AppError) -> dict[str, str]:
    """The response headers an error calls for: a Bearer challenge on 401 (RFC 6750: `error=
    "invalid_token"` only when a token was sent and refused, see `Unauthenticated`), and
    Retry-After on 429 and 503 (whole seconds, at least 1: `details["retryAfter"]`, else 1), and on
    any other error whose details carry `retryAfter` (409 REQUEST_IN_PROGRESS)."""
    if exc.status == 401:
        challenge = f'Bearer realm="{REALM}"'
        if isinstance(exc, Unauthenticated) and exc.bearer_error:
            challenge += f', error="{exc.bearer_error}"'
        return {"WWW-Authenticate": challenge}
    if exc.status in (429, 503) or "retryAfter" in exc.details:
        return {"Retry-After": str(_retry_after_seconds(exc.details.get("retryAfter")))}
    return {}


def replayed_error_headers(status: int, body: dict[str, Any]) -> dict[str, str]:
    """The Retry-After of a stored error answer given again to a copy of its call (a copy that waited
    for the call another worker was serving gets that call's 503): the same header as the first answer,
    from its body's `details.retryAfter`."""
    details = body.get("details")
    after = details.get("retryAfter") if isinstance(details, dict) else None
    if status in (429, 503) or after is not None:
        return {"Retry-After": str(_retry_after_seconds(after))}
    return {}


def _retry_after_seconds(value: Any) -> int:
    # Retry-After takes delta-seconds, a non-negative integer (RFC 9110 section 10.2.3): round up, so
    # a client never comes back early, and never 0, which would invite an immediate retry loop.
    try:
        seconds = math.ceil(float(value))
    except (TypeError, ValueError, OverflowError):
        return 1
    return max(1, seconds)


class InvalidArgument(AppError):
    status = 400
    code = "INVALID_ARGUMENT"


class Unauthenticated(AppError):
    status = 401
    code = "UNAUTHENTICATED"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        bearer_error: str | None = None,
    ):
        super().__init__(message, code=code, details=details)
        # RFC 6750 error code for the challenge ("invalid_token" when a bearer token was sent and is
        # unknown, revoked or expired); None when no credentials came with the request.
        self.bearer_error = bearer_error


class InsufficientBalance(AppError):
    status = 402
    code = "INSUFFICIENT_BALANCE"


class PermissionDenied(AppError):
    status = 403
    code = "PERMISSION_DENIED"


class Suspended(PermissionDenied):
    code = "PARTNER_SUSPENDED"


class NotFound(AppError):
    status = 404
    code = "NOT_FOUND"


class Conflict(AppError):
    status = 409
    code = "CONFLICT"


class RuleViolation(AppError):
    """A business rule refuses the request (RULES.md ids go in the message)."""

    status = 422
    code = "RULE_VIOLATION"


class PayloadTooLarge(AppError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(AppError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class TooManyRequests(AppError):
    status = 429
    code = "TOO_MANY_REQUESTS"


class Busy(AppError):
    status = 503
    code = "SERVICE_UNAVAILABLE"


class NetworkBusy(Busy):
    """The network element throttles the platform (SMPP ESME_RTHROTTLED): 503 with Retry-After
    (`details["retryAfter"]`, seconds), nothing charged; the caller should come back after that."""

    code = "NETWORK_THROTTLED"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, details={"retryAfter": _retry_after_seconds(retry_after)})


class ClientClosed(AppError):
    """The client went away while its request body was being read (nginx's 499 "client closed
    request"): nobody receives the answer, and it is not the platform's error: no 500, no error log;
    the data plane's metrics count it as CLIENT_CLOSED."""

    status = 499
    code = "CLIENT_CLOSED"

    def __init__(self, message: str = "the client closed the connection before its request was read") -> None:
        super().__init__(message)


class Internal(AppError):
    """An unexpected failure: the body says no more than this (the traceback goes to the log)."""

    status = 500
    code = "INTERNAL"

    def __init__(self, message: str = "internal error") -> None:
        super().__init__(message)
