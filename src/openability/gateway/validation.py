"""Request validation for the capability API: plain functions over the decoded JSON (no Pydantic on the
hot path). Every refusal is a 400 INVALID_ARGUMENT whose message names the field and the problem.

Phone numbers (E.164, CAMARA):
  * mainland China (+86): only mobile numbers are accepted, ``^\\+861[3-9]\\d{9}$`` (11-digit MSISDN
    starting 13x-19x), since SMS/MMS/voice notifications are sent to handsets;
  * any other country code: generic E.164, ``^\\+[1-9]\\d{6,14}$`` (international destinations).
Unknown fields are refused (a typo such as "txt" must not silently send an empty message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from openability.connectors.mms_sim import validate_mms
from openability.kernel.errors import InvalidArgument

MAINLAND_MOBILE = re.compile(r"\+861[3-9]\d{9}")
E164 = re.compile(r"\+[1-9]\d{6,14}")
KEY_RE = re.compile(r"[\x21-\x7e]{1,100}")  # idempotency keys / clientCorrelator: printable ASCII
VOICE_MAX_CHARS = 500
VOICE_MAX_REPEAT = 3


@dataclass(frozen=True, slots=True)
class SmsRequest:
    to: tuple[str, ...]
    text: str
    client_correlator: str | None


@dataclass(frozen=True, slots=True)
class MmsRequest:
    to: tuple[str, ...]
    subject: str
    parts: tuple[dict[str, str], ...]
    client_correlator: str | None


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    to: tuple[str, ...]
    text: str
    repeat: int
    client_correlator: str | None


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


def _object(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object")
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise bad(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return body


def check_key(v: Any, where: str) -> str:
    if not isinstance(v, str) or not KEY_RE.fullmatch(v):
        raise bad(f"{where}: 1-100 printable ASCII characters without spaces")
    return v


def _correlator(body: dict[str, Any]) -> str | None:
    v = body.get("clientCorrelator")
    return None if v is None else check_key(v, "clientCorrelator")


def _text(body: dict[str, Any], max_chars: int) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad("text: a non-empty string is required")
    if len(text) > max_chars:
        raise bad(f"text: at most {max_chars} characters, got {len(text)}")
    return text


SMS_FIELDS = frozenset({"to", "text", "clientCorrelator"})
MMS_FIELDS = frozenset({"to", "subject", "parts", "clientCorrelator"})
VOICE_FIELDS = frozenset({"to", "text", "repeat", "clientCorrelator"})


def parse_sms(body: Any, *, max_recipients: int, max_chars: int) -> SmsRequest:
    b = _object(body, SMS_FIELDS)
    to = check_recipients(b.get("to"), max_recipients)
    return SmsRequest(to, _text(b, max_chars), _correlator(b))


def parse_mms(body: Any, *, max_recipients: int) -> MmsRequest:
    b = _object(body, MMS_FIELDS)
    to = check_recipients(b.get("to"), max_recipients)
    subject = b.get("subject", "")
    if not isinstance(subject, str):
        raise bad("subject: must be a string")
    parts = b.get("parts")
    if not isinstance(parts, list) or not parts:
        raise bad('parts: a non-empty list of {"contentType": ..., "content": <base64>} is required')
    clean: list[dict[str, str]] = []
    for i, p in enumerate(parts):
        if not isinstance(p, dict) or set(p) - {"contentType", "content"}:
            raise bad(f'parts[{i}]: an object with "contentType" and "content" (base64) only')
        ctype, content = p.get("contentType"), p.get("content")
        if not isinstance(ctype, str) or not isinstance(content, str):
            raise bad(f'parts[{i}]: "contentType" and "content" must be strings')
        clean.append({"contentType": ctype, "content": content})
    # The MMSC's own limits (size, part count, content types, base64): refuse before charging.
    validate_mms(subject, clean)
    return MmsRequest(to, subject, tuple(clean), _correlator(b))


def parse_voice(body: Any, *, max_recipients: int) -> VoiceRequest:
    b = _object(body, VOICE_FIELDS)
    to = check_recipients(b.get("to"), max_recipients, allow_single=True)
    text = _text(b, VOICE_MAX_CHARS)
    repeat = b.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= VOICE_MAX_REPEAT:
        raise bad(f"repeat: a whole number from 1 to {VOICE_MAX_REPEAT}")
    return VoiceRequest(to, text, repeat, _correlator(b))
