"""A submission the SMSC did not answer may have been sent: it is never sent again (R-CHARGE-04), found by
the SMSC-slow fault test (tests/faults/test_faults_smsc.py: 8 of 8 calls in flight when the SMSC turned
slow reached it twice, the 503 of the first copy and the 201 of its retry).

A submit_sm that timed out, or whose link closed after it was written, raises NetworkInDoubt; through
the platform the call is answered 503 with Retry-After and not charged, and a retry with the same key is
answered 409 REQUEST_IN_DOUBT without reaching the SMSC. A submission that was never written (not bound)
or that the SMSC refused is still plain NetworkUnavailable, and its retry is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

import pytest

from openability.config import Settings
from openability.connectors.base import Connectors, NetworkInDoubt, NetworkUnavailable, SmsSubmission
from openability.connectors.smpp import SmppSmsConnector
from openability.connectors.smpp_pdu import (
    ESME_RINVDSTADR,
    ESME_ROK,
    RESPONSE_BIT,
    SUBMIT_SM,
    Pdu,
    bind_resp_body,
    message_id_body,
)

URL = "/capabilities/sms/v1/messages"
TO = "+8613800138000"


async def test_r_charge_04_call_the_slow_smsc_did_not_answer_in_time_is_not_charged_nor_sent_again(
    smpp_platform: Any, assert_ledger_clean: Any
) -> None:
    # R-CHARGE-04
    p = smpp_platform
    before = await p.world.prepaid_total()
    p.smsc.submit_delay = 1.5  # the connector waits 1 s (smsc_timeout_seconds)
    headers = {**p.world.auth, "Idempotency-Key": "slow-1"}
    r = await p.client.post(URL, json={"to": [TO], "text": "slow"}, headers=headers)
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "SERVICE_UNAVAILABLE" and "may have been delivered" in r.json()["message"]
    assert r.headers["retry-after"] == "1"
    [msg] = await p.smsc.wait_for_messages(1, wait_seconds=5)  # the SMSC took it after all
    assert msg.text == "slow"
    p.smsc.submit_delay = 0.0
    retry = await p.client.post(URL, json={"to": [TO], "text": "slow"}, headers=headers)
    assert (retry.status_code, retry.json()["code"]) == (409, "REQUEST_IN_DOUBT"), retry.text
    assert [m.text for m in p.smsc.messages()] == ["slow"]  # not sent twice
    assert await p.world.cdrs() == [] and await p.world.prepaid_total() == before  # nothing charged
    await assert_ledger_clean()

    # A call the SMSC refused was not sent: its retry is (and is charged once).
    p.smsc.reject_suffixes = ("9999",)
    refused = {**p.world.auth, "Idempotency-Key": "refused-1"}
    body = {"to": ["+8613800139999"], "text": "refused"}
    r = await p.client.post(URL, json=body, headers=refused)
    assert (r.status_code, r.json()["code"]) == (503, "SERVICE_UNAVAILABLE")
    p.smsc.reject_suffixes = ()
    r = await p.client.post(URL, json=body, headers=refused)
    assert r.status_code == 201, r.text
    assert [m.text for m in p.smsc.messages()] == ["slow", "refused"]
    assert len(await p.world.cdrs()) == 1
    await assert_ledger_clean()


async def _fake_smsc(port: int, answer: list[int | None]) -> asyncio.Server:
    """An SMSC that binds anyone, then answers its submit_sm one by one with the statuses in `answer`
    (None: closes the link without answering that one)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                length, command_id, _, seq = struct.unpack(">IIII", await reader.readexactly(16))
                await reader.readexactly(length - 16)
                if command_id != SUBMIT_SM:
                    writer.write(
                        Pdu(command_id | RESPONSE_BIT, ESME_ROK, seq, bind_resp_body("FAKE")).encode()
                    )
                    continue
                status = answer.pop(0)
                if status is None:
                    break
                body = message_id_body(f"m{seq}") if status == ESME_ROK else b""
                writer.write(Pdu(SUBMIT_SM | RESPONSE_BIT, status, seq, body).encode())
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", port)


@pytest.mark.parametrize(
    ("answers", "text", "doubt"),
    [
        ([None], "hi", True),  # written, then the link closed before the answer
        ([ESME_ROK, ESME_RINVDSTADR], "x" * 200, True),  # part 1 of 2 taken, part 2 refused
        ([ESME_RINVDSTADR], "x" * 200, False),  # part 1 refused: nothing sent
    ],
)
async def test_r_charge_04_submission_the_smsc_may_have_taken_is_in_doubt(
    smpp_settings: Settings, smsc_port: int, answers: list[int | None], text: str, doubt: bool
) -> None:
    # R-CHARGE-04
    server = await _fake_smsc(smsc_port, list(answers))
    conn = SmppSmsConnector(smpp_settings, Connectors(), backoff_min=0.05)
    await conn.start()
    try:
        assert await conn.wait_bound(5)
        with pytest.raises(NetworkUnavailable) as caught:
            await conn.submit(SmsSubmission(recipient=TO, text=text))
        assert isinstance(caught.value, NetworkInDoubt) is doubt, caught.value
    finally:
        await conn.stop()
        server.close()


async def test_r_charge_04_submission_while_not_bound_was_not_sent(smpp_settings: Settings) -> None:
    # R-CHARGE-04: nothing listens, nothing was written: a retry may send it
    conn = SmppSmsConnector(smpp_settings, Connectors(), backoff_min=0.05)
    await conn.start()
    try:
        with pytest.raises(NetworkUnavailable) as caught:
            await conn.submit(SmsSubmission(recipient=TO, text="hi"))
        assert not isinstance(caught.value, NetworkInDoubt)
    finally:
        await conn.stop()
