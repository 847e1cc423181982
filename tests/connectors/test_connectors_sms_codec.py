"""R-CHARGE-05: SMS segments — GSM-7 160 / 153 per part, UCS-2 70 / 67 per part."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openability.connectors.sms_codec import (
    ESC,
    SmsTooLong,
    count_segments,
    decode_gsm7,
    decode_part,
    encode_sms,
    gsm7_bytes,
    is_gsm7,
)

GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà"
GSM_EXT = "^{}\\[~]|€\f"


def _reassemble(text: str) -> str:
    enc = encode_sms(text)
    return "".join(decode_part(p, enc.data_coding, enc.esm_class).text for p in enc.parts)


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "GSM7", 1),
        ("a" * 160, "GSM7", 1),
        ("a" * 161, "GSM7", 2),
        ("a" * 153 * 2, "GSM7", 2),
        ("a" * (153 * 2 + 1), "GSM7", 3),
        ("€" * 80, "GSM7", 1),  # 160 septets: each € is ESC + 0x65
        ("€" * 81, "GSM7", 2),
        ("a" * 159 + "€", "GSM7", 2),  # 161 septets
        ("a" * 158 + "€", "GSM7", 1),
        ("中" * 70, "UCS2", 1),
        ("中" * 71, "UCS2", 2),
        ("中" * 67 * 2, "UCS2", 2),
        ("中" * (67 * 2 + 1), "UCS2", 3),
        ("a" * 69 + "中", "UCS2", 1),  # one Chinese character switches the whole text to UCS-2
        ("Hello 你好 world" * 5, "UCS2", 1),  # mixed, exactly 70 characters
        ("Hello 你好 world" * 6, "UCS2", 2),
        ("😀" * 35, "UCS2", 1),  # each emoji is a surrogate pair: 70 code units
        ("😀" * 36, "UCS2", 2),
        ("`", "UCS2", 1),  # the backtick is not in the GSM alphabet
    ],
)
def test_r_charge_05_segment_boundaries(text: str, encoding: str, segments: int) -> None:
    assert count_segments(text) == (encoding, segments)
    enc = encode_sms(text)
    assert (enc.encoding, enc.segments, len(enc.parts)) == (encoding, segments, segments)
    assert enc.data_coding == (0 if encoding == "GSM7" else 8)
    assert enc.esm_class == (0x40 if segments > 1 else 0)
    assert _reassemble(text) == text


def test_r_charge_05_escape_pair_never_split() -> None:
    # 152 plain septets then €: the ESC pair does not fit part 1 (153), so it moves whole to part 2.
    text = "a" * 152 + "€" + "b" * 10
    enc = encode_sms(text)
    assert enc.segments == 2
    first = enc.parts[0][6:]
    assert len(first) == 152 and first[-1] != ESC
    assert enc.parts[1][6:8] == bytes((ESC, 0x65))
    assert _reassemble(text) == text


def test_r_charge_05_surrogate_pair_never_split() -> None:
    text = "中" * 66 + "😀" + "中" * 5  # 73 code units; the emoji would straddle code unit 67
    enc = encode_sms(text)
    assert enc.segments == 2
    assert enc.parts[0][6:].decode("utf-16-be") == "中" * 66
    assert enc.parts[1][6:].decode("utf-16-be") == "😀" + "中" * 5


def test_concatenation_udh_layout() -> None:
    enc = encode_sms("中" * 71, reference=0x1234)
    assert enc.reference == 0x34
    assert [p[:6] for p in enc.parts] == [bytes((5, 0, 3, 0x34, 2, 1)), bytes((5, 0, 3, 0x34, 2, 2))]
    assert len(enc.parts[0]) == 6 + 67 * 2
    single = encode_sms("hi")
    assert single.parts == [b"hi"] and single.reference is None


def test_gsm7_wire_bytes() -> None:
    assert gsm7_bytes("@£$") == bytes((0x00, 0x01, 0x02))
    assert gsm7_bytes("€[") == bytes((ESC, 0x65, ESC, 0x3C))
    assert decode_gsm7(bytes((ESC, 0x65, 0x41))) == "€A"
    assert is_gsm7("Hello €") and not is_gsm7("你好")
    with pytest.raises(ValueError, match="not in the GSM"):
        gsm7_bytes("中")


def test_too_many_parts_is_refused() -> None:
    with pytest.raises(SmsTooLong):
        encode_sms("中" * (67 * 255 + 1))


def test_decode_part_reads_16_bit_reference_udh() -> None:
    payload = bytes((6, 8, 4, 0x01, 0x02, 3, 2)) + "你".encode("utf-16-be")
    part = decode_part(payload, 8, 0x40)
    assert (part.text, part.reference, part.total, part.seq) == ("你", 0x0102, 3, 2)


_texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(GSM_BASIC),
        st.sampled_from(GSM_EXT),
        st.sampled_from("你好中国电信短信"),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=700,
)
_gsm_texts = st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXT), max_size=700)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_texts, _gsm_texts))
def test_r_charge_05_property_parts_decode_back_and_count_matches(text: str) -> None:
    enc = encode_sms(text)
    assert count_segments(text) == (enc.encoding, enc.segments)
    assert len(enc.parts) == enc.segments
    assert _reassemble(text) == text
    for p in enc.parts:
        body = p[6:] if enc.segments > 1 else p
        if enc.encoding == "GSM7":
            assert len(body) <= (153 if enc.segments > 1 else 160)
            assert not body.endswith(bytes((ESC,))) or body.endswith(bytes((ESC, ESC)))
        else:
            assert len(body) <= (134 if enc.segments > 1 else 140)
            body.decode("utf-16-be")  # strict: no part ends inside a surrogate pair
    if enc.segments > 1:
        assert {p[3] for p in enc.parts} == {enc.reference}
        assert [p[5] for p in enc.parts] == list(range(1, enc.segments + 1))


@settings(max_examples=200, deadline=None)
@given(_gsm_texts)
def test_r_charge_05_property_gsm_segments_formula(text: str) -> None:
    septets = len(gsm7_bytes(text))
    _, segments = count_segments(text)
    if septets <= 160:
        assert segments == 1
    else:
        # Never fewer than the plain formula; at most one extra part per pushed-over ESC pair.
        assert segments >= -(-septets // 153)
        assert segments <= -(-septets // 152)
