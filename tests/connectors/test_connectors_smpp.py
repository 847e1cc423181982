"""SMS over SMPP against the local test SMSC: binding, concatenated UCS-2, receipts, outages."""

from __future__ import annotations

import asyncio
import errno
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openability.config import Settings
from openability.connectors.base import Connectors, NetworkUnavailable, SmsSubmission
from openability.connectors.smpp import SmppSmsConnector, parse_receipt, smpp_destination
from openability.connectors.smsc import TestSmsc
from openability.kernel.errors import InvalidArgument


async def start_when_port_free(smsc: TestSmsc, within: float = 10.0) -> None:
    """A restarted SMSC on the same port may find it still held for a moment by the old listener's
    closing connections: retry the bind, bounded."""
    deadline = time.monotonic() + within
    while True:
        try:
            await smsc.start()
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


CHINESE = (
    "【天翼】您的验证码是 428193，五分钟内有效。请勿向任何人泄露，如非本人操作请忽略本短信。"
    "感谢您使用我们的服务，祝您生活愉快！中国电信 😀"
)


class ReceiptRecorder:
    def __init__(self) -> None:
        self.got: list[tuple[str, str, str]] = []
        self._event = asyncio.Event()

    async def __call__(self, network_id: str, status: str, error: str) -> None:
        self.got.append((network_id, status, error))
        self._event.set()

    async def wait(self, count: int, within: float = 5.0) -> list[tuple[str, str, str]]:
        async with asyncio.timeout(within):
            while len(self.got) < count:
                self._event.clear()
                await self._event.wait()
        return self.got


@pytest.fixture
def receipts() -> ReceiptRecorder:
    return ReceiptRecorder()


@pytest.fixture
async def connector(smpp_settings: Settings, receipts: ReceiptRecorder) -> AsyncIterator[SmppSmsConnector]:
    conn = SmppSmsConnector(
        smpp_settings, Connectors(receipt_sink=receipts), backoff_min=0.05, backoff_max=0.2
    )
    await conn.start()
    try:
        yield conn
    finally:
        await conn.stop()


async def test_r_charge_05_chinese_concatenated_sms_reaches_smsc_and_receipts_come_back(
    smsc: TestSmsc, connector: SmppSmsConnector, receipts: ReceiptRecorder, tmp_path: Path
) -> None:
    assert len(CHINESE) > 70
    assert await connector.wait_bound(5)
    assert connector.available
    result = await connector.submit(SmsSubmission(recipient="+8613800138000", text=CHINESE))
    assert result.parts == 2 and len(result.network_ids) == 2
    assert len(set(result.network_ids)) == 2

    [msg] = await smsc.wait_for_messages(1)
    assert msg.text == CHINESE
    assert msg.destination == "8613800138000"
    assert msg.source == "10690000"
    assert msg.data_coding == 8
    assert msg.message_ids == result.network_ids
    parts = smsc.received
    assert [p.esm_class for p in parts] == [0x40, 0x40]
    assert [p.registered_delivery for p in parts] == [1, 1]

    got = await receipts.wait(2)
    assert sorted(got) == sorted((nid, "DELIVRD", "000") for nid in result.network_ids)
    acked = await smsc.wait_for_receipts(2)  # deliver_sm_resp ESME_ROK once the sink returned
    assert sorted(nid for nid, _ in acked) == sorted(result.network_ids)
    assert connector.receipts == 2

    lines = [json.loads(line) for line in (tmp_path / "smsc.jsonl").read_text().splitlines()]
    assert [r["type"] for r in lines] == ["submit_sm", "submit_sm", "message"]
    assert lines[2]["text"] == CHINESE and lines[2]["parts"] == 2


async def test_gsm7_single_part_with_extension_characters(
    smsc: TestSmsc, connector: SmppSmsConnector
) -> None:
    assert await connector.wait_bound(5)
    text = "Your code: 1234 [valid 5 min] costs 0€ {ok}"
    result = await connector.submit(
        SmsSubmission(recipient="tel:+8613800138001", text=text, sender="1069001")
    )
    assert result.parts == 1 and result.extra["encoding"] == "GSM7"
    [msg] = await smsc.wait_for_messages(1)
    assert (msg.text, msg.data_coding, msg.source) == (text, 0, "1069001")


async def test_undeliverable_number_gets_undeliv_receipt(
    smsc: TestSmsc, connector: SmppSmsConnector, receipts: ReceiptRecorder
) -> None:
    assert await connector.wait_bound(5)
    result = await connector.submit(SmsSubmission(recipient="+8613800000000", text="hi"))
    [(nid, stat, err)] = await receipts.wait(1)
    assert (nid, stat, err) == (result.network_ids[0], "UNDELIV", "001")


async def test_rejected_submission_raises_network_unavailable(
    smsc: TestSmsc, connector: SmppSmsConnector
) -> None:
    smsc.reject_suffixes = ("9999",)
    assert await connector.wait_bound(5)
    with pytest.raises(NetworkUnavailable, match="rejected part 1/1"):
        await connector.submit(SmsSubmission(recipient="+8613800139999", text="hi"))
    assert smsc.messages() == []


async def test_unanswered_submission_times_out_as_network_unavailable(
    smsc: TestSmsc, connector: SmppSmsConnector
) -> None:
    assert await connector.wait_bound(5)
    smsc.paused = True
    with pytest.raises(NetworkUnavailable, match="did not answer"):
        await connector.submit(SmsSubmission(recipient="+8613800138000", text="hi"))
    await smsc.resume()
    # The bind survives a slow SMSC.
    result = await connector.submit(SmsSubmission(recipient="+8613800138000", text="again"))
    assert len(result.network_ids) == 1


async def test_smsc_down_then_up_then_down_again(
    smpp_settings: Settings, smsc_port: int, receipts: ReceiptRecorder
) -> None:
    conn = SmppSmsConnector(
        smpp_settings, Connectors(receipt_sink=receipts), backoff_min=0.05, backoff_max=0.2
    )
    await conn.start()
    try:
        # Nothing listens: unavailable, and a call fails at once (no waiting for the SMSC timeout).
        assert not await conn.wait_bound(0.3)
        assert not conn.available
        assert "refused" in conn.last_error.lower()
        t0 = time.monotonic()
        with pytest.raises(NetworkUnavailable, match="not bound"):
            await conn.submit(SmsSubmission(recipient="+8613800138000", text="hi"))
        assert time.monotonic() - t0 < 0.1

        smsc = TestSmsc("127.0.0.1", smsc_port, receipt_delay=0)
        await smsc.start()
        try:
            assert await conn.wait_bound(5)
            await conn.submit(SmsSubmission(recipient="+8613800138000", text="one"))
            assert conn.binds == 1
        finally:
            await smsc.stop()
        assert await conn.wait_unbound(5)
        with pytest.raises(NetworkUnavailable):
            await conn.submit(SmsSubmission(recipient="+8613800138000", text="two"))

        # The SMSC comes back on the same port: the connector re-binds by itself.
        smsc2 = TestSmsc("127.0.0.1", smsc_port, receipt_delay=0)
        await start_when_port_free(smsc2)
        try:
            assert await conn.wait_bound(5)
            assert conn.binds == 2
            await conn.submit(SmsSubmission(recipient="+8613800138000", text="three"))
            [msg] = await smsc2.wait_for_messages(1)
            assert msg.text == "three"
        finally:
            await conn.stop()
            await smsc2.stop()
    finally:
        await conn.stop()


async def test_stop_unbinds_cleanly(smsc: TestSmsc, smpp_settings: Settings) -> None:
    conn = SmppSmsConnector(smpp_settings)
    await conn.start()
    assert await conn.wait_bound(5)
    await smsc.wait_for_sessions(1)
    await conn.stop()
    assert not conn.available
    await smsc.wait_for_sessions(0)
    with pytest.raises(NetworkUnavailable):
        await conn.submit(SmsSubmission(recipient="+8613800138000", text="hi"))


async def test_concurrent_submissions_share_one_bind(smsc: TestSmsc, connector: SmppSmsConnector) -> None:
    assert await connector.wait_bound(5)
    results = await asyncio.gather(
        *(connector.submit(SmsSubmission(recipient=f"+86138001{i:05d}", text=f"m{i}")) for i in range(50))
    )
    ids = [r.network_ids[0] for r in results]
    assert len(set(ids)) == 50
    msgs = await smsc.wait_for_messages(50)
    assert {m.text for m in msgs} == {f"m{i}" for i in range(50)}
    assert smsc.sessions == 1


async def test_failing_receipt_sink_does_not_break_the_bind(smsc: TestSmsc, smpp_settings: Settings) -> None:
    recorder = ReceiptRecorder()

    async def broken_sink(network_id: str, status: str, error: str) -> None:
        await recorder(network_id, status, error)
        raise RuntimeError("database down")

    conn = SmppSmsConnector(smpp_settings, Connectors(receipt_sink=broken_sink))
    await conn.start()
    try:
        assert await conn.wait_bound(5)
        first = await conn.submit(SmsSubmission(recipient="+8613800138000", text="a"))
        await recorder.wait(1)
        second = await conn.submit(SmsSubmission(recipient="+8613800138000", text="b"))
        got = await recorder.wait(2)
        assert [g[0] for g in got] == first.network_ids + second.network_ids
        assert conn.available
    finally:
        await conn.stop()


def test_parse_receipt_text_and_tlvs() -> None:
    text = (
        "id:abc123 sub:001 dlvrd:001 submit date:2611291200 done date:2611291201 stat:DELIVRD err:000 text:hi"
    )
    r = parse_receipt(text)
    assert r is not None and (r.network_id, r.status, r.error) == ("abc123", "DELIVRD", "000")
    # TLVs win: receipted_message_id (C-string) and message_state 5 = UNDELIVERABLE.
    r2 = parse_receipt(text, {0x001E: b"XYZ\x00", 0x0427: bytes([5])})
    assert r2 is not None and (r2.network_id, r2.status) == ("XYZ", "UNDELIV")
    assert parse_receipt("hello there") is None


def test_destination_addressing() -> None:
    assert smpp_destination("+8613800138000") == "8613800138000"
    assert smpp_destination("tel:+8613800138000") == "8613800138000"
    with pytest.raises(InvalidArgument):
        smpp_destination("+86 138-0013")
