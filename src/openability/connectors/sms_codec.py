"""SMS text encoding and segmentation (GSM 03.38 / 3GPP TS 23.038 and 23.040), pure and I/O free.

R-CHARGE-05: SMS is charged per segment. Text made only of GSM 7-bit default alphabet characters
(plus the extension table, whose characters cost two septets: an ESC and the character) fits 160
septets in a single message and 153 per part once split (the 6-byte concatenation UDH takes 7
septets). Any other character (Chinese, emoji, …) switches the whole message to UCS-2: 70 UTF-16
code units in one message, 67 per part. A part never ends in the middle of an ESC pair or a UTF-16
surrogate pair, so a part may carry fewer than 153 septets / 67 code units and the segment count is
the number of parts actually built (``count_segments`` and ``encode_sms`` always agree).

Wire form (SMPP short_message): GSM-7 goes out *unpacked*, one septet per byte, with data_coding 0
(the usual SMPP convention: the SMSC packs it for the air interface); UCS-2 as UTF-16BE with
data_coding 8. Concatenated parts start with an 8-bit-reference UDH ``05 00 03 ref total seq`` and
set the UDHI bit (esm_class 0x40).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM7", "UCS2"]

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67
MAX_PARTS = 255  # the 8-bit UDH carries the total in one byte

DATA_CODING_GSM7 = 0
DATA_CODING_UCS2 = 8
ESM_CLASS_UDHI = 0x40
ESC = 0x1B

# GSM 03.38 default alphabet, indexed by septet value. 0x1B is the escape to the extension table.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_BASIC) == 128

# Extension table: character -> septet that follows ESC.
_EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_ENCODE_BASIC: dict[str, int] = {ch: i for i, ch in enumerate(_BASIC) if i != ESC}
_DECODE_EXTENSION: dict[int, str] = {v: k for k, v in _EXTENSION.items()}
_BASIC_SET = frozenset(_ENCODE_BASIC)
_EXTENSION_SET = frozenset(_EXTENSION)
_GSM_SET = _BASIC_SET | _EXTENSION_SET

# Concatenation references cycle through 0..255 (an SMSC/handset keys parts by sender, recipient, ref).
_refs = itertools.count(secrets.randbelow(256))


@dataclass(frozen=True)
class SmsEncoding:
    encoding: Encoding
    segments: int
    parts: list[bytes]  # short_message payload of each submit_sm, including the UDH when concatenated
    data_coding: int
    esm_class: int
    reference: int | None = None  # the concatenation reference (None for a single-part message)


@dataclass(frozen=True)
class DecodedPart:
    text: str
    reference: int | None = None
    total: int = 1
    seq: int = 1


class SmsTooLong(ValueError):
    """The text needs more than 255 parts, which the 8-bit concatenation UDH cannot express."""


def is_gsm7(text: str) -> bool:
    return set(text) <= _GSM_SET


def _gsm_cost(ch: str) -> int:
    return 2 if ch in _EXTENSION_SET else 1


def _ucs2_cost(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _split(text: str, limit: int, ucs2: bool) -> list[str]:
    """Greedy split into chunks of at most `limit` septets (GSM-7) or UTF-16 code units (UCS-2)
    without breaking a two-unit character (ESC pair, surrogate pair) across chunks."""
    cost = _ucs2_cost if ucs2 else _gsm_cost
    chunks: list[str] = []
    start = 0
    used = 0
    for i, ch in enumerate(text):
        c = cost(ch)
        if used + c > limit:
            chunks.append(text[start:i])
            start, used = i, 0
        used += c
    chunks.append(text[start:])
    return chunks


def count_segments(text: str) -> tuple[Encoding, int]:
    """The encoding and number of SMS segments the text needs (the gateway's rating fast path)."""
    chars = set(text)
    if chars <= _BASIC_SET:
        n = len(text)
        return "GSM7", 1 if n <= GSM7_SINGLE else -(-n // GSM7_PART)
    if chars <= _GSM_SET:
        septets = len(text) + sum(text.count(ch) for ch in chars & _EXTENSION_SET)
        if septets <= GSM7_SINGLE:
            return "GSM7", 1
        return "GSM7", len(_split(text, GSM7_PART, ucs2=False))
    if max(chars) <= "\uffff":  # no surrogate pairs: one code unit per character
        n = len(text)
        return "UCS2", 1 if n <= UCS2_SINGLE else -(-n // UCS2_PART)
    units = len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
    if units <= UCS2_SINGLE:
        return "UCS2", 1
    return "UCS2", len(_split(text, UCS2_PART, ucs2=True))


def gsm7_bytes(text: str) -> bytes:
    """Unpacked GSM 7-bit bytes (one septet per byte; extension characters as ESC + code)."""
    out = bytearray()
    for ch in text:
        code = _ENCODE_BASIC.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = _EXTENSION.get(ch)
        if ext is None:
            raise ValueError(f"character {ch!r} is not in the GSM 7-bit alphabet")
        out += bytes((ESC, ext))
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    """Inverse of gsm7_bytes. An ESC followed by an unknown code decodes as the basic character
    (3GPP TS 23.038: a receiving entity shows the default-alphabet character)."""
    out: list[str] = []
    it = iter(data)
    for b in it:
        if b == ESC:
            nxt = next(it, None)
            if nxt is None:
                break
            out.append(_DECODE_EXTENSION.get(nxt, _BASIC[nxt & 0x7F] if (nxt & 0x7F) != ESC else " "))
        else:
            out.append(_BASIC[b & 0x7F])
    return "".join(out)


def next_reference() -> int:
    return next(_refs) % 256


def encode_sms(text: str, reference: int | None = None) -> SmsEncoding:
    """Encode a text into the SMPP payloads of its parts (see the module docstring)."""
    encoding, segments = count_segments(text)
    if encoding == "GSM7":
        data_coding = DATA_CODING_GSM7
        if segments == 1:
            return SmsEncoding(encoding, 1, [gsm7_bytes(text)], data_coding, 0)
        chunks = _split(text, GSM7_PART, ucs2=False)
        payloads = [gsm7_bytes(c) for c in chunks]
    else:
        data_coding = DATA_CODING_UCS2
        if segments == 1:
            return SmsEncoding(encoding, 1, [text.encode("utf-16-be")], data_coding, 0)
        chunks = _split(text, UCS2_PART, ucs2=True)
        payloads = [c.encode("utf-16-be") for c in chunks]
    total = len(payloads)
    if total > MAX_PARTS:
        raise SmsTooLong(f"text needs {total} SMS parts; at most {MAX_PARTS} can be concatenated")
    ref = next_reference() if reference is None else reference & 0xFF
    parts = [bytes((0x05, 0x00, 0x03, ref, total, seq)) + p for seq, p in enumerate(payloads, start=1)]
    return SmsEncoding(encoding, total, parts, data_coding, ESM_CLASS_UDHI, ref)


def decode_part(payload: bytes, data_coding: int, esm_class: int) -> DecodedPart:
    """Decode one short_message: strip and read a concatenation UDH (8- or 16-bit reference) when
    the UDHI bit is set, then decode the text by data_coding (8 = UCS-2, 0/1/3 … = GSM-7 unpacked)."""
    ref: int | None = None
    total, seq = 1, 1
    body = payload
    if esm_class & ESM_CLASS_UDHI and payload:
        udhl = payload[0]
        udh, body = payload[1 : 1 + udhl], payload[1 + udhl :]
        i = 0
        while i + 2 <= len(udh):
            iei, iel = udh[i], udh[i + 1]
            data = udh[i + 2 : i + 2 + iel]
            if iei == 0x00 and iel == 3 and len(data) == 3:
                ref, total, seq = data[0], data[1], data[2]
            elif iei == 0x08 and iel == 4 and len(data) == 4:
                ref, total, seq = (data[0] << 8) | data[1], data[2], data[3]
            i += 2 + iel
    if data_coding == DATA_CODING_UCS2:
        text = body.decode("utf-16-be", errors="replace")
    elif data_coding in (0x03, 0x04):  # Latin-1 / 8-bit binary: show bytes as Latin-1
        text = body.decode("latin-1")
    else:
        text = decode_gsm7(body)
    return DecodedPart(text, ref, total, seq)
