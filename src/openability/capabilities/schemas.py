"""OpenAPI fragments every capability's request schema shares (the capability routes are plain
Starlette routes: gateway/openapi.py describes them from each capability's `request_schema`)."""

from __future__ import annotations

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
