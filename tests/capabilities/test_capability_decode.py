"""The capabilities' typed decoding (msgspec, `decode`) answers exactly as `validate` over the parsed
body: the same request for a good body, the same 400 (INVALID_ARGUMENT, same message) for a bad one."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from openability.capabilities import default_capabilities
from openability.capabilities import validation as v
from openability.capabilities.base import Decoding
from openability.config import Settings
from openability.kernel.errors import InvalidArgument

SETTINGS = Settings()
CAPS = {c.name: c for c in default_capabilities()}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 32).decode()
TO = ["+8613800138000"]

COMMON: list[Any] = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"text"',
    b"\xef\xbb\xbf{}",
    b'{"to": ["+8613800138000"], "text": "\\ud800"}',
    b'{"to": ["+8613800138000"], "text": "a\xff"}',
    {},
    {"to": TO},
    {"to": TO, "text": "hi", "clientCorrelator": None},
    {"to": TO, "text": "hi", "clientCorrelator": ""},
    {"to": TO, "text": "hi", "clientCorrelator": "has space"},
    {"to": TO, "text": "hi", "clientCorrelator": 7},
    {"to": TO, "text": "hi", "productId": None},
    {"to": TO, "text": "hi", "productId": "bad id!"},
    {"to": TO, "text": "hi", "productId": 1},
    {"to": TO, "text": "hi", "txt": "typo"},
    {"to": [], "text": "hi"},
    {"to": ["+8612345"], "text": "hi"},
    {"to": ["+8613800138000", "+8613800138000"], "text": "hi"},
    {"to": [1], "text": "hi"},
    {"to": "+8613800138000", "text": "hi"},
    {"to": TO, "text": ""},
    {"to": TO, "text": "   "},
    {"to": TO, "text": 5},
    {"to": TO, "text": None},
    {"to": TO, "text": "x" * 5000},
    {"to": TO, "text": "hi", "clientCorrelator": "k-1", "productId": "sms-standard"},
    {"to": TO, "text": "hi", "text2": 1, "zzz": 2},
]
VOICE: list[Any] = [
    {"to": "+8613800138000", "text": "hi"},
    {"to": TO, "text": "hi", "repeat": 2},
    {"to": TO, "text": "hi", "repeat": 0},
    {"to": TO, "text": "hi", "repeat": 4},
    {"to": TO, "text": "hi", "repeat": True},
    {"to": TO, "text": "hi", "repeat": 1.0},
    {"to": TO, "text": "hi", "repeat": None},
    b'{"to": ["+8613800138000"], "text": "hi", "repeat": 1180591620717411303424}',
    {"to": TO, "text": "x" * 501},
]
MMS: list[Any] = [
    {"to": TO, "parts": [{"contentType": "image/png", "content": PNG}]},
    {
        "to": TO,
        "subject": "s",
        "parts": [{"contentType": "image/png", "content": PNG}],
        "clientCorrelator": "k",
    },
    {"to": TO, "parts": []},
    {"to": TO, "parts": None},
    {"to": TO, "subject": None, "parts": [{"contentType": "image/png", "content": PNG}]},
    {"to": TO, "subject": 3, "parts": [{"contentType": "image/png", "content": PNG}]},
    {"to": TO, "parts": [{"contentType": "image/png"}]},
    {"to": TO, "parts": [{"contentType": "image/png", "content": PNG, "x": 1}]},
    {"to": TO, "parts": ["x"]},
    {"to": TO, "parts": [{"contentType": "image/png", "content": "not base64!"}]},
    {"to": TO, "parts": [{"contentType": "application/x-evil", "content": PNG}]},
    {"to": [], "parts": []},
]


def _raw(body: Any) -> bytes:
    return body if isinstance(body, bytes) else orjson.dumps(body)


def _outcome(fn: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", fn(raw)
    except InvalidArgument as exc:
        return "400", exc.body()


def _cases(name: str) -> list[Any]:
    extra = {"voice": VOICE, "mms": MMS}.get(name, [])
    return COMMON + extra


@pytest.mark.parametrize(
    ("name", "body"), [(n, b) for n in ("sms", "voice", "mms") for b in _cases(n)], ids=lambda x: str(x)[:40]
)
def test_decode_answers_as_validate(name: str, body: Any) -> None:
    cap: Any = CAPS[name]
    assert isinstance(cap, Decoding)
    raw = _raw(body)
    fast = _outcome(lambda r: cap.decode(r, SETTINGS), raw)
    slow = _outcome(lambda r: cap.validate(v.parse_json(r), SETTINGS), raw)
    assert fast == slow


def test_a_good_body_decodes_to_the_request() -> None:
    cap: Any = CAPS["sms"]
    req = cap.decode(orjson.dumps({"to": TO, "text": "hi", "clientCorrelator": "k-1"}), SETTINGS)
    assert (req.to, req.text, req.client_correlator, req.product_id) == (tuple(TO), "hi", "k-1", None)
