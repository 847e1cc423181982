"""One error tree; each error has a stable code and maps to an HTTP status (CAMARA-style body)."""

from __future__ import annotations

from typing import Any, ClassVar


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
        b: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.details:
            b["details"] = self.details
        return b


class InvalidArgument(AppError):
    status = 400
    code = "INVALID_ARGUMENT"


class Unauthenticated(AppError):
    status = 401
    code = "UNAUTHENTICATED"


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
