"""OpenAPI description of the capability routes (they are plain Starlette routes, so FastAPI cannot
derive it): request/response schemas, errors and the OAuth2 client-credentials security scheme."""

from __future__ import annotations

from typing import Any

from openability.capabilities.voice import VOICE_MAX_REPEAT

PHONE = {
    "type": "string",
    "description": "E.164. Mainland China: mobile only, +861[3-9] and 9 digits; other countries: +[1-9] and 6-14 digits",
    "pattern": r"^\+[1-9]\d{6,14}$",
    "example": "+8613800138000",
}
RECIPIENTS = {"type": "array", "items": PHONE, "minItems": 1, "uniqueItems": True}
CORRELATOR = {
    "type": "string",
    "maxLength": 100,
    "description": "Idempotency key; with an Idempotency-Key header too, both must be equal (else 400)",
}
PRODUCT_ID = {
    "type": "string",
    "maxLength": 40,
    "description": "Id (or code) of the product to rate the call on, one of the partner's active orders for"
    " this capability (else 403 NO_ACTIVE_ORDER); default: the oldest active order",
}
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
    "SmsSendRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["to", "text"],
        "properties": {
            "to": RECIPIENTS,
            "text": {
                "type": "string",
                "minLength": 1,
                "description": "GSM-7: 160/153 chars a segment; UCS-2: 70/67",
            },
            "clientCorrelator": CORRELATOR,
            "productId": PRODUCT_ID,
        },
    },
    "MmsSendRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["to", "parts"],
        "properties": {
            "to": RECIPIENTS,
            "subject": {"type": "string", "maxLength": 40},
            "parts": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["contentType", "content"],
                    "properties": {
                        "contentType": {"type": "string", "example": "image/png"},
                        "content": {"type": "string", "format": "byte"},
                    },
                },
            },
            "clientCorrelator": CORRELATOR,
            "productId": PRODUCT_ID,
        },
    },
    "VoiceNotificationRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["to", "text"],
        "properties": {
            "to": {"oneOf": [PHONE, RECIPIENTS]},
            "text": {"type": "string", "minLength": 1, "maxLength": 500},
            "repeat": {"type": "integer", "minimum": 1, "maximum": VOICE_MAX_REPEAT, "default": 1},
            "clientCorrelator": CORRELATOR,
            "productId": PRODUCT_ID,
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

SECURITY = {
    "capabilityOAuth": {
        "type": "oauth2",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {"sms": "SMS", "mms": "MMS", "voice": "Voice notification"},
            }
        },
    }
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
        503: "SERVICE_UNAVAILABLE (network element; nothing charged)",
    }
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": _ref("CapabilityError")}}}
        for c in codes
    }


def capability_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    from openability.gateway.runtime import CAPABILITIES

    requests = {"sms": "SmsSendRequest", "mms": "MmsSendRequest", "voice": "VoiceNotificationRequest"}
    paths: dict[str, Any] = {}
    for name, spec in CAPABILITIES.items():
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
                    "content": {"application/json": {"schema": _ref(requests[name])}},
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
    return paths, {"schemas": SCHEMAS, "securitySchemes": SECURITY}
