"""Request validation helpers shared by the capabilities (capabilities/): plain functions over the
decoded JSON (no Pydantic on the hot path). Every refusal is a 400 INVALID_ARGUMENT whose message names
the field and the problem. Each capability's own body rules live in its module (capabilities/sms.py…).

Phone numbers (E.164, CAMARA):
  * mainland China (+86): only mobile numbers are accepted, ``^\\+861[3-9]\\d{9}$`` (11-digit MSISDN
    starting 13x-19x), since SMS/MMS/voice notifications are sent to handsets;
  * any other country code: generic E.164, ``^\\+[1-9]\\d{6,14}$`` (international destinations).
Unknown fields are refused (a typo such as "txt" must not silently send an empty message).

Fields every capability call accepts (COMMON_FIELDS): ``clientCorrelator`` (an idempotency key, like the
``Idempotency-Key`` header) and ``productId`` (which of the partner's active orders for the capability
is rated; the gateway checks it against the orders).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

from openability.kernel.errors import InvalidArgument

MAINLAND_MOBILE = re.compile(r"\+861[3-9]\d{9}")
E164 = re.compile(r"\+[1-9]\d{6,14}")
KEY_RE = re.compile(r"[\x21-\x7e]{1,100}")  # idempotency keys / clientCorrelator: printable ASCII
# A product id ("prd_…") or code ("sms-standard"), as POST /api/v1/orders takes it (1-40 characters).
PRODUCT_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
COMMON_FIELDS = frozenset({"clientCorrelator", "productId"})


def bad(message: str) -> InvalidArgument:
    return InvalidArgument(message)


def check_number(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise bad(f'{where}: a phone number is a string in E.164 format, e.g. "+8613800138000"')
    if v.startswith("+86"):
        if not MAINLAND_MOBILE.fullmatch(v):
            raise bad(
                f"{where}: {v!r} is not a mainland China mobile number (+861[3-9] followed by 9 digits)"
            )
    elif not E164.fullmatch(v):
        raise bad(f"{where}: {v!r} is not an E.164 number (+, country code, up to 15 digits)")
    return v


def check_recipients(v: Any, max_recipients: int, *, allow_single: bool = False) -> tuple[str, ...]:
    if allow_single and isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        raise bad('to: a non-empty list of E.164 numbers is required, e.g. ["+8613800138000"]')
    if not v:
        raise bad("to: at least one recipient is required")
    if len(v) > max_recipients:
        raise bad(f"to: at most {max_recipients} recipients per request, got {len(v)}")
    out = [check_number(x, f"to[{i}]") for i, x in enumerate(v)]
    if len(set(out)) != len(out):
        dup = next(x for x in out if out.count(x) > 1)
        raise bad(f"to: {dup} is listed more than once")
    return tuple(out)


def check_object(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """The body as a JSON object with no field outside `allowed`."""
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object")
    for k in body:
        if k not in allowed:
            unknown = sorted(k for k in body if k not in allowed)
            raise bad(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return body


def check_key(v: Any, where: str) -> str:
    if not isinstance(v, str) or not KEY_RE.fullmatch(v):
        raise bad(f"{where}: 1-100 printable ASCII characters without spaces")
    return v


def correlator(body: dict[str, Any]) -> str | None:
    """The optional `clientCorrelator`: absent, or a key (null is not a key: the schema says string)."""
    if "clientCorrelator" not in body:
        return None
    return check_key(body["clientCorrelator"], "clientCorrelator")


def product_ref(body: dict[str, Any]) -> str | None:
    """The optional `productId`: a product id or code (which order is rated is decided by the gateway);
    absent means the default order, null is refused like any other non-string."""
    if "productId" not in body:
        return None
    v = body["productId"]
    if not isinstance(v, str) or not PRODUCT_REF_RE.fullmatch(v):
        raise bad(
            "productId: the id (or code) of a product the partner has an active order for, 1-40 letters,"
            " digits, '_', '-' or '.'"
        )
    return v


def parse_json(raw: bytes) -> Any:
    """The request body parsed (400 when it is not JSON)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidArgument("the request body is not valid JSON") from None


# ---- typed decoding (msgspec) -------------------------------------------------------------------
# A capability's `decode` (capabilities/base.Decoding) reads the raw body straight into a Struct whose
# types are the JSON types `validate` accepts, then runs the same value checks in the same order as
# `validate`. Any body the Struct refuses (not JSON, not an object, an unknown field, a missing field,
# a wrong type, a null clientCorrelator…) goes to `parse_json` + `validate`, so the 400 a client gets
# is always the one `validate` words.

DecodeFailed = msgspec.MsgspecError
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class CommonFields(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """clientCorrelator and productId (COMMON_FIELDS): absent is UNSET, null is refused (a string or
    nothing, as `correlator` and `product_ref` read the dict)."""

    client_correlator: str | Unset = UNSET
    product_id: str | Unset = UNSET

    def correlator(self) -> str | None:
        v = self.client_correlator
        return None if v is UNSET else check_key(v, "clientCorrelator")

    def product_ref(self) -> str | None:
        v = self.product_id
        if v is UNSET:
            return None
        return product_ref({"productId": v})


def check_text(body: dict[str, Any], max_chars: int) -> str:
    return check_text_value(body.get("text"), max_chars)


def check_text_value(text: Any, max_chars: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise bad("text: a non-empty string is required")
    if len(text) > max_chars:
        raise bad(f"text: at most {max_chars} characters, got {len(text)}")
    return text
