"""OpenAPI description of the capability routes (they are plain Starlette routes, so FastAPI cannot
derive it): request/response schemas, errors and the OAuth2 client-credentials security scheme."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openability.capabilities.base import Capability
from openability.capabilities.schemas import PHONE

MONEY = {"type": "string", "pattern": r"^\d+\.\d{4}$", "example": "0.0500"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "CapabilityError": {
        "type": "object",
        "required": ["status", "code", "message"],
        "properties": {
            "status": {"type": "integer"},
            "code": {"type": "string", "example": "INSUFFICIENT_BALANCE"},
            "message": {"type": "string"},
        },
    },
    "SendResult": {
        "type": "object",
        "properties": {
            "requestId": {"type": "string"},
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "messageId": {"type": "string"},
                        "notificationId": {"type": "string"},
                        "to": PHONE,
                        "status": {"type": "string", "enum": ["submitted", "failed"]},
                        "durationSeconds": {"type": "integer"},
                    },
                },
            },
            "notifications": {"type": "array", "items": {"type": "object"}},
            "segments": {"type": "integer", "description": "SMS: segments per message"},
            "encoding": {"type": "string", "enum": ["GSM7", "UCS2"]},
            "quantity": {
                "type": "integer",
                "description": "charged units (segments x recipients, messages, minutes)",
            },
            "unit": {"type": "string", "example": "segment"},
            "amountCharged": MONEY,
            "currency": {"type": "string", "example": "CNY"},
        },
    },
    "DeliveryStatus": {
        "type": "object",
        "properties": {
            "messageId": {"type": "string"},
            "notificationId": {"type": "string"},
            "to": PHONE,
            "status": {
                "type": "string",
                "enum": [
                    "submitted",
                    "delivered",
                    "undeliverable",
                    "expired",
                    "rejected",
                    "deleted",
                    "unknown",
                ],
            },
            "parts": {"type": "array", "items": {"type": "object"}},
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
        },
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        402: "INSUFFICIENT_BALANCE (prepaid, nothing sent)",
        403: "PERMISSION_DENIED / PARTNER_SUSPENDED / NO_ACTIVE_ORDER / INSUFFICIENT_SCOPE",
        404: "NOT_FOUND",
        409: "IDEMPOTENCY_KEY_REUSED",
        413: "PAYLOAD_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        429: "TOO_MANY_REQUESTS (Retry-After)",
        503: (
            "SERVICE_UNAVAILABLE (the network element or the database is unavailable) / NETWORK_THROTTLED "
            "(the network element, e.g. the SMSC with ESME_RTHROTTLED, asks for fewer requests); nothing "
            "charged either way, retry after Retry-After seconds"
        ),
    }
    retry_after = {
        "Retry-After": {
            "description": "seconds to wait before retrying (an integer, at least 1)",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    out: dict[str, Any] = {}
    for c in codes:
        resp: dict[str, Any] = {
            "description": text[c],
            "content": {"application/json": {"schema": _ref("CapabilityError")}},
        }
        if c in (429, 503):
            resp["headers"] = retry_after
        out[str(c)] = resp
    return out


def capability_paths(
    capabilities: Sequence[Capability[Any, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    paths: dict[str, Any] = {}
    schemas = dict(SCHEMAS)
    scopes: dict[str, str] = {}
    for spec in capabilities:
        name = spec.name
        request_name, request_schema = spec.request_schema
        schemas[request_name] = request_schema
        scopes[name] = f"{spec.operation} ({name})"
        base = f"/capabilities/{name}/v1/{spec.collection}"
        security = [{"capabilityOAuth": [name]}]
        paths[base] = {
            "post": {
                "tags": [f"capability: {name}"],
                "summary": f"{spec.operation} ({name}); charged in real time",
                "operationId": f"{name}_{spec.operation}",
                "security": security,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 100},
                    },
                    {"name": "x-correlator", "in": "header", "required": False, "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(request_name)}},
                },
                "responses": {
                    "201": {
                        "description": "sent and charged",
                        "content": {"application/json": {"schema": _ref("SendResult")}},
                    },
                    **_errors(400, 401, 402, 403, 409, 413, 415, 429, 503),
                },
            }
        }
        paths[base + "/{id}"] = {
            "get": {
                "tags": [f"capability: {name}"],
                "summary": "delivery status",
                "operationId": f"{name}_status",
                "security": security,
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "status",
                        "content": {"application/json": {"schema": _ref("DeliveryStatus")}},
                    },
                    **_errors(401, 403, 404),
                },
            }
        }
    security_schemes = {
        "capabilityOAuth": {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": scopes}},
        }
    }
    return paths, {"schemas": schemas, "securitySchemes": security_schemes}
