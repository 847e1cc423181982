"""Simulated MMS centre and voice platform (R-CHARGE-05: MMS per message, voice per started minute)."""

from __future__ import annotations

import base64

import pytest

from openability.connectors.base import Connectors, NetworkUnavailable
from openability.connectors.mms_sim import MMS_MAX_BYTES, MmsSimulator, validate_mms
from openability.connectors.voice_sim import VoiceSimulator, billable_minutes, call_duration_seconds
from openability.kernel.errors import InvalidArgument


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[str, str, str]] = []

    async def __call__(self, network_id: str, status: str, error: str) -> None:
        self.got.append((network_id, status, error))


async def test_r_charge_05_mms_is_one_message_and_receipt_reaches_sink() -> None:
    sink = Sink()
    mms = MmsSimulator(Connectors(receipt_sink=sink), receipt_delay=0)
    parts = [
        {"content_type": "text/plain", "content": b64("你好".encode())},
        {"contentType": "image/png", "content": b64(b"\x89PNG" + b"\0" * 100)},
    ]
    result = await mms.submit("+8613800138000", "通知", parts)
    assert result.parts == 1 and len(result.network_ids) == 1
    assert result.extra["size"] == str(6 + 104)
    await mms.wait_for_receipts(1)
    assert sink.got == [(result.network_ids[0], "DELIVRD", "000")]
    await mms.stop()


async def test_mms_unreachable_number_gets_undeliv() -> None:
    sink = Sink()
    mms = MmsSimulator(Connectors(receipt_sink=sink), receipt_delay=0)
    r = await mms.submit("+8613800000000", "", [{"content_type": "text/plain", "content": b64(b"x")}])
    await mms.wait_for_receipts(1)
    assert sink.got == [(r.network_ids[0], "UNDELIV", "001")]


@pytest.mark.parametrize(
    ("subject", "parts", "code"),
    [
        ("s", [], "MMS_INVALID"),
        ("s", [{"content_type": "video/mp4", "content": b64(b"x")}], "MMS_INVALID"),
        ("s", [{"content_type": "image/gif", "content": "not base64!!"}], "MMS_INVALID"),
        ("x" * 41, [{"content_type": "text/plain", "content": b64(b"x")}], "MMS_INVALID"),
        ("s", [{"content_type": "image/jpeg", "content": b64(b"\0" * (MMS_MAX_BYTES + 1))}], "MMS_TOO_LARGE"),
    ],
)
def test_mms_validation(subject: str, parts: list[dict[str, str]], code: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_mms(subject, parts)
    assert exc.value.code == code


def test_mms_size_limit_is_inclusive() -> None:
    half = MMS_MAX_BYTES // 2
    parts = [{"content_type": "image/jpeg; q=1", "content": b64(b"\0" * half)}] * 2
    assert validate_mms("ok", parts) == MMS_MAX_BYTES


async def test_mms_fail_switch() -> None:
    mms = MmsSimulator()
    mms.fail = True
    assert not mms.available
    with pytest.raises(NetworkUnavailable):
        await mms.submit("+8613800138000", "s", [{"content_type": "text/plain", "content": b64(b"x")}])
    assert mms.submitted == []


def test_r_charge_05_voice_duration_model_and_started_minutes() -> None:
    assert call_duration_seconds("一二三四", 1) == 4  # 3 s ring + 1 s speech
    assert call_duration_seconds("一二三四五", 1) == 5  # a started second counts
    assert call_duration_seconds("x" * 100, 2) == 53
    assert call_duration_seconds("x" * 228, 1) == 60
    assert [billable_minutes(s) for s in (0, 1, 60, 61, 120, 121)] == [0, 1, 1, 2, 2, 3]


async def test_voice_call_answered_and_no_answer() -> None:
    sink = Sink()
    voice = VoiceSimulator(Connectors(receipt_sink=sink), receipt_delay=0)
    answered = await voice.call("+8613800138000", "您的快递已到，请及时领取。", 2)
    assert answered.duration_seconds == call_duration_seconds("您的快递已到，请及时领取。", 2)
    assert answered.extra["outcome"] == "ANSWERED"
    missed = await voice.call("+8613800000000", "您好", 1)
    assert missed.duration_seconds == 0 and billable_minutes(missed.duration_seconds) == 0
    await voice.wait_for_receipts(2)
    assert sorted(sink.got) == sorted(
        [(answered.network_ids[0], "ANSWERED", "000"), (missed.network_ids[0], "NO_ANSWER", "001")]
    )


@pytest.mark.parametrize(("text", "repeat"), [("", 1), ("  ", 1), ("hi", 0), ("hi", 6), ("x" * 501, 1)])
async def test_voice_validation(text: str, repeat: int) -> None:
    voice = VoiceSimulator()
    with pytest.raises(InvalidArgument):
        await voice.call("+8613800138000", text, repeat)


async def test_voice_fail_switch_and_receipts_without_sink() -> None:
    voice = VoiceSimulator(receipt_delay=0)
    await voice.call("+8613800138000", "hi", 1)
    assert len(await voice.wait_for_receipts(1)) == 1  # no sink registered: still recorded, no error
    voice.fail = True
    with pytest.raises(NetworkUnavailable):
        await voice.call("+8613800138000", "hi", 1)
