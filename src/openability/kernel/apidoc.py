"""The management API's error answers, written into its OpenAPI document in one place.

Every error of the management API (`/api/v1`, `/oauth`) has one body, `{"status", "code", "message",
"details"?}` (kernel/errors.py), and the statuses an operation can answer follow from what it is: any
operation can meet bad input (400), a missing or bad credential (401), a role or partner it may not act
for (403) and an outage (503 with `Retry-After`, kernel/outage.py); an operation with a path id can
meet an unknown one (404); a write can break a business rule (422) or meet a state that changed
(409); one with a body can get one too large (413) or of a type it does not take (415); the doors
(login, client credentials, registration) throttle (429). FastAPI documents only the success and its
own validation answer (with a schema we never send): `document_errors` replaces that with the above, so
the document and the API agree (schemathesis checks `status_code_conformance` and
`response_schema_conformance` against it, tests/fuzz)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "code", "message"],
    "properties": {
        "status": {"type": "integer", "description": "the HTTP status, repeated"},
        "code": {"type": "string", "description": "a stable code, e.g. INVALID_ARGUMENT, NOT_FOUND"},
        "message": {"type": "string", "description": "what went wrong, for a person"},
        "details": {
            "anyOf": [
                {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                {"type": "object", "additionalProperties": True},
            ],
            "description": "per field: [{field, problem}] when the input was refused; a limit's figures"
            " (e.g. {maxBytes}) otherwise",
        },
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "INVALID_ARGUMENT: a parameter or the body is malformed or out of range",
    401: "UNAUTHENTICATED: no credential, or an expired, revoked or wrong one",
    403: "PERMISSION_DENIED / CSRF_TOKEN_REQUIRED: the caller may not do this, or not for this partner",
    404: "NOT_FOUND: no such resource the caller can see",
    409: "CONFLICT: the resource's state changed or the request repeats one already made",
    413: "PAYLOAD_TOO_LARGE: the body is over the limit",
    415: "UNSUPPORTED_MEDIA_TYPE: the body's content type is not one this operation takes",
    422: "a business rule refuses the request (the code names it)",
    429: "TOO_MANY_REQUESTS: throttled, see Retry-After",
    503: "SERVICE_UNAVAILABLE: a dependency (the database) is down, see Retry-After",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
MANAGEMENT = re.compile(r"^/(api/v1|oauth)/")
WRITES = {"post", "put", "patch", "delete"}
# The doors: they count failures and lock (partners/throttle.py), or take self-registrations.
THROTTLED = {("post", "/api/v1/auth/login"), ("post", "/oauth/token"), ("post", "/api/v1/partners/register")}


def statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer (the module's docstring says why)."""
    out = {400, 401, 403, 503}
    if "{" in path or any(p.get("in") == "query" and p["name"].endswith("id") for p in _params(operation)):
        out.add(404)
    if method in WRITES:
        out |= {404, 409, 422}
    if "requestBody" in operation or method in WRITES:
        out |= {413, 415}
    if _params(operation) or "requestBody" in operation:
        out.add(422)
    if (method, path) in THROTTLED:
        out.add(429)
    return out


def _params(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return list(operation.get("parameters", []))


def _answer(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in (429, 503):
        answer["headers"] = RETRY_AFTER
    return answer


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Write the error answers into an OpenAPI document (in place; returned for convenience)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, item in schema.get("paths", {}).items():
        if not MANAGEMENT.match(path):
            continue
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            wanted = statuses(method, path, operation) | ({422} if "422" in responses else set())
            for status in wanted:
                responses[str(status)] = _answer(status)
    return schema


def document_errors(app: FastAPI) -> None:
    """Wrap `app.openapi` so the document it builds (once, then cached) carries the error answers."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        app.openapi_schema = document(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
