"""SMPP answers the platform must control (issue 8, defect 6), against the local test SMSC: a receipt is
acknowledged (deliver_sm_resp ESME_ROK) only once the receipt sink has made it durable, else it is
answered ESME_RX_T_APPN and the SMSC sends it again; an unbind from the SMSC is answered with
unbind_resp before the socket closes, then the connector binds again; ESME_RTHROTTLED becomes
NetworkThrottled with a retry time, and the connector holds submissions back meanwhile.

Interoperability: the platform's SMPP session against an independent implementation (the smpp34
library's server and client) both ways."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

import pytest
import smpp34

from openability.config import Settings
from openability.connectors.base import Connectors, NetworkThrottled, NetworkUnavailable, SmsSubmission
from openability.connectors.smpp import SmppSmsConnector
from openability.connectors.smpp_pdu import (
    BIND_TRANSCEIVER,
    ESME_ROK,
    ESME_RX_T_APPN,
    RESPONSE_BIT,
    UNBIND,
    Bind,
    Pdu,
    bind_resp_body,
)
from openability.connectors.smsc import TestSmsc

TO = "+8613800138000"


class FlakySink:
    """A receipt store that fails its first `failures` calls (the database restarting), then stores."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.stored: list[tuple[str, str, str]] = []

    async def __call__(self, network_id: str, status: str, error: str) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError("database restarting")
        self.stored.append((network_id, status, error))


async def connector_for(settings: Settings, connectors: Connectors) -> SmppSmsConnector:
    conn = SmppSmsConnector(settings, connectors, backoff_min=0.05, backoff_max=0.2)
    await conn.start()
    assert await conn.wait_bound(5)
    return conn


@pytest.fixture
async def quick_smsc(smsc_port: int) -> AsyncIterator[TestSmsc]:
    server = TestSmsc("127.0.0.1", smsc_port, receipt_delay=0, receipt_retry_delay=0.05)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ---- receipts: acknowledged only once durable -------------------------------------------------------


async def test_receipt_whose_store_fails_is_answered_temporary_error_and_resent_until_stored(
    quick_smsc: TestSmsc, smpp_settings: Settings
) -> None:
    sink = FlakySink(failures=3)
    conn = await connector_for(smpp_settings, Connectors(receipt_sink=sink))
    try:
        sent = await conn.submit(SmsSubmission(recipient=TO, text="code 1234"))
        [nid] = sent.network_ids
        acked = await quick_smsc.wait_for_receipts(1)
        # Three deliver_sm answered ESME_RX_T_APPN while the store failed, the fourth ESME_ROK after it
        # stored the receipt: no acknowledgement before the receipt was durable.
        assert quick_smsc.receipt_answers == [(nid, ESME_RX_T_APPN)] * 3 + [(nid, ESME_ROK)]
        assert acked == [(nid, "DELIVRD")]
        assert sink.stored == [(nid, "DELIVRD", "000")]
        assert (conn.receipts_refused, conn.receipts) == (3, 1)
        assert conn.available and conn.binds == 1  # the refusals did not cost the bind
    finally:
        await conn.stop()


async def test_receipt_before_the_store_is_wired_is_not_acknowledged(
    quick_smsc: TestSmsc, smpp_settings: Settings
) -> None:
    connectors = Connectors()  # the gateway has not set its receipt sink yet
    conn = await connector_for(smpp_settings, connectors)
    try:
        [nid] = (await conn.submit(SmsSubmission(recipient=TO, text="early"))).network_ids
        await quick_smsc.wait_for_receipt_answers(1)
        assert quick_smsc.receipt_answers[0] == (nid, ESME_RX_T_APPN)
        sink = FlakySink(failures=0)
        connectors.receipt_sink = sink
        assert await quick_smsc.wait_for_receipts(1) == [(nid, "DELIVRD")]
        assert sink.stored == [(nid, "DELIVRD", "000")]
    finally:
        await conn.stop()


async def test_receipt_is_acknowledged_only_after_the_store_returns(
    quick_smsc: TestSmsc, smpp_settings: Settings
) -> None:
    release = asyncio.Event()
    stored: list[str] = []

    async def slow_sink(network_id: str, status: str, error: str) -> None:
        await release.wait()  # a batch still committing
        stored.append(network_id)

    conn = await connector_for(smpp_settings, Connectors(receipt_sink=slow_sink))
    try:
        [nid] = (await conn.submit(SmsSubmission(recipient=TO, text="slow"))).network_ids
        await asyncio.sleep(0.3)
        assert quick_smsc.receipt_answers == [] and stored == []  # no deliver_sm_resp yet
        release.set()
        assert await quick_smsc.wait_for_receipts(1) == [(nid, "DELIVRD")]
        assert stored == [nid] and quick_smsc.receipt_answers == [(nid, ESME_ROK)]
    finally:
        await conn.stop()


async def test_receipts_waiting_while_the_esme_is_away_arrive_after_it_binds_again(
    quick_smsc: TestSmsc, smpp_settings: Settings
) -> None:
    sink = FlakySink(failures=0)
    conn = await connector_for(smpp_settings, Connectors(receipt_sink=sink))
    quick_smsc.receipt_delay = 0.3
    [nid] = (await conn.submit(SmsSubmission(recipient=TO, text="away"))).network_ids
    await conn.stop()  # the platform restarts before the receipt comes
    await asyncio.sleep(0.5)
    assert sink.stored == []
    conn2 = await connector_for(smpp_settings, Connectors(receipt_sink=sink))
    try:
        assert await quick_smsc.wait_for_receipts(1) == [(nid, "DELIVRD")]
        assert sink.stored == [(nid, "DELIVRD", "000")]
    finally:
        await conn2.stop()


# ---- unbind from the SMSC -----------------------------------------------------------------------------


async def test_unbind_from_the_smsc_is_answered_before_the_socket_closes_then_the_connector_rebinds(
    quick_smsc: TestSmsc, smpp_settings: Settings
) -> None:
    conn = await connector_for(smpp_settings, Connectors())
    try:
        await quick_smsc.wait_for_sessions(1)
        for round_ in range(1, 6):
            [result] = await quick_smsc.unbind()
            assert result.answered and result.system_id == smpp_settings.smsc_system_id
            assert await conn.wait_unbound(5) or conn.binds > round_
            assert await conn.wait_bound(5)
            await quick_smsc.wait_for_sessions(1)
        assert [u.answered for u in quick_smsc.unbinds] == [True] * 5
        assert (conn.unbinds_by_smsc, conn.unbinds_answered, conn.binds) == (5, 5, 6)
        sent = await conn.submit(SmsSubmission(recipient=TO, text="after the unbinds"))
        [msg] = await quick_smsc.wait_for_messages(1)
        assert msg.message_ids == sent.network_ids
    finally:
        await conn.stop()


async def test_test_smsc_records_an_unbind_the_esme_does_not_answer(
    quick_smsc: TestSmsc, smsc_port: int
) -> None:
    """The check above can fail: an ESME that closes its socket on unbind without unbind_resp (what the
    smpp34 client did) is recorded as not answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc_port)
    writer.write(Pdu(BIND_TRANSCEIVER, 0, 1, Bind("raw", "pw").encode()).encode())
    await writer.drain()
    head = await reader.readexactly(16)
    length, command_id, status, _ = struct.unpack(">IIII", head)
    body = await reader.readexactly(length - 16)
    assert (command_id, status) == (BIND_TRANSCEIVER | RESPONSE_BIT, ESME_ROK)
    assert body.startswith(bind_resp_body("TESTSMSC")[:9])
    await quick_smsc.wait_for_sessions(1)

    async def close_on_unbind() -> None:
        head = await reader.readexactly(16)
        assert struct.unpack(">IIII", head)[1] == UNBIND
        writer.close()  # no unbind_resp

    closing = asyncio.create_task(close_on_unbind())
    [result] = await quick_smsc.unbind(wait_seconds=1.0)
    await closing
    assert not result.answered and result.system_id == "raw"


# ---- ESME_RTHROTTLED --------------------------------------------------------------------------------


async def test_throttled_submission_raises_network_throttled_and_the_connector_backs_off(
    quick_smsc: TestSmsc, smpp_settings: Settings
) -> None:
    settings = smpp_settings.model_copy(
        update={"smsc_throttle_retry_after_seconds": 0.3, "smsc_throttle_max_seconds": 0.6}
    )
    conn = await connector_for(settings, Connectors())
    try:
        quick_smsc.throttling = True
        with pytest.raises(NetworkThrottled) as first:
            await conn.submit(SmsSubmission(recipient=TO, text="one"))
        assert first.value.retry_after == pytest.approx(0.3, abs=0.05)
        assert isinstance(first.value, NetworkUnavailable)  # still a refusal: nothing charged
        # Backing off: the next call within the window does not reach the SMSC.
        with pytest.raises(NetworkThrottled) as held:
            await conn.submit(SmsSubmission(recipient=TO, text="two"))
        assert 0 < held.value.retry_after <= 0.3
        assert quick_smsc.throttled == 1
        await asyncio.sleep(0.35)
        # The SMSC still throttles: the hold doubles, up to smsc_throttle_max_seconds.
        with pytest.raises(NetworkThrottled) as again:
            await conn.submit(SmsSubmission(recipient=TO, text="three"))
        assert again.value.retry_after == pytest.approx(0.6, abs=0.05)
        assert quick_smsc.throttled == 2 and conn.throttled == 2
        quick_smsc.throttling = False
        await asyncio.sleep(0.65)
        sent = await conn.submit(SmsSubmission(recipient=TO, text="four"))
        [msg] = await quick_smsc.wait_for_messages(1)
        assert msg.text == "four" and msg.message_ids == sent.network_ids
        assert conn.available and conn.binds == 1
    finally:
        await conn.stop()


async def test_other_smsc_refusals_keep_their_mapping(quick_smsc: TestSmsc, smpp_settings: Settings) -> None:
    conn = await connector_for(smpp_settings, Connectors())
    try:
        quick_smsc.reject_suffixes = ("9999",)
        with pytest.raises(NetworkUnavailable, match="rejected part 1/1") as refused:
            await conn.submit(SmsSubmission(recipient="+8613800139999", text="hi"))
        assert not isinstance(refused.value, NetworkThrottled)
        await conn.submit(SmsSubmission(recipient=TO, text="no hold after a plain refusal"))
    finally:
        await conn.stop()


# ---- interoperability with an independent SMPP implementation ----------------------------------------


async def test_connector_against_an_independent_smsc(smpp_settings: Settings, smsc_port: int) -> None:
    server = smpp34.Server("127.0.0.1", smsc_port, system_id="OTHER")
    await server.start()
    sink = FlakySink(failures=1)
    conn = SmppSmsConnector(smpp_settings, Connectors(receipt_sink=sink), backoff_min=0.05)
    await conn.start()
    try:
        esme = await asyncio.wait_for(server.next(), 5)
        assert isinstance(esme, smpp34.Esme) and await conn.wait_bound(5)
        sending = asyncio.create_task(conn.submit(SmsSubmission(recipient=TO, text="您好")))
        ev = await asyncio.wait_for(server.next(), 5)
        assert isinstance(ev, smpp34.SubmitSmEvent) and ev.destination_addr == "8613800138000"
        ev.accept("M1")
        assert (await sending).network_ids == ["M1"]
        sending = asyncio.create_task(conn.submit(SmsSubmission(recipient=TO, text="again")))
        ev = await asyncio.wait_for(server.next(), 5)
        assert isinstance(ev, smpp34.SubmitSmEvent)
        ev.reject(smpp34.ESME_RTHROTTLED)
        with pytest.raises(NetworkThrottled):
            await sending
        receipt = b"id:M1 sub:001 dlvrd:001 submit date:2611021000 done date:2611021001 stat:DELIVRD err:000"
        first = await esme.deliver_sm("10690000", receipt, source_addr="8613800138000", esm_class=4)
        second = await esme.deliver_sm("10690000", receipt, source_addr="8613800138000", esm_class=4)
        assert (first.command_status, second.command_status) == (ESME_RX_T_APPN, ESME_ROK)
        assert sink.stored == [("M1", "DELIVRD", "000")]
    finally:
        await conn.stop()
        await server.stop()


async def test_independent_esme_against_the_test_smsc(quick_smsc: TestSmsc, smsc_port: int) -> None:
    client = smpp34.Client("127.0.0.1", smsc_port, "other", "pw")
    session = await client.connect()
    try:
        resp = await session.submit_sm("8613800138000", b"hello", source_addr="1069", registered_delivery=1)
        assert resp.is_success and resp.message_id
        ev = await asyncio.wait_for(session.next(), 5)
        assert isinstance(ev, smpp34.DeliverSmEvent) and ev.esm_class == 4
        assert f"id:{resp.message_id}".encode() in ev.short_message
        [msg] = await quick_smsc.wait_for_messages(1)
        assert msg.text == "hello"
    finally:
        await client.stop()


async def test_silent_smsc_is_detected_by_enquire_link_and_the_connector_rebinds(
    smpp_settings: Settings, smsc_port: int
) -> None:
    """An SMSC that stops answering (a half-dead link: the socket stays open) is noticed by the
    connector's enquire_link, the link is closed and a new bind made."""
    binds = 0

    async def silent_after_bind(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal binds
        head = await reader.readexactly(16)
        length, command_id, _, seq = struct.unpack(">IIII", head)
        await reader.readexactly(length - 16)
        writer.write(Pdu(command_id | RESPONSE_BIT, ESME_ROK, seq, bind_resp_body("MUTE")).encode())
        binds += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await reader.read(1024):  # reads everything, answers nothing
                pass
        writer.close()

    server = await asyncio.start_server(silent_after_bind, "127.0.0.1", smsc_port)
    settings = smpp_settings.model_copy(
        update={"smsc_enquire_link_seconds": 0.2, "smsc_timeout_seconds": 0.3}
    )
    conn = SmppSmsConnector(settings, Connectors(), backoff_min=0.05)
    await conn.start()
    try:
        assert await conn.wait_bound(5)
        assert await conn.wait_unbound(5)  # the unanswered enquire_link closed the link
        assert await conn.wait_bound(5)
        assert conn.binds >= 2 and binds >= 2
    finally:
        await conn.stop()
        server.close()
