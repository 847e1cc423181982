"""start_connectors / stop_connectors: what `make run` gets, and what tests may inject."""

from __future__ import annotations

import json
import time
from pathlib import Path

from openability.bootstrap import Container, build_container
from openability.config import Settings
from openability.connectors.base import NetworkUnavailable, SmsSubmission, Submitted
from openability.connectors.factory import DisabledSmsConnector, start_connectors, stop_connectors
from openability.connectors.mms_sim import MmsSimulator
from openability.connectors.smpp import SmppSmsConnector
from openability.connectors.smsc import TestSmsc
from openability.connectors.voice_sim import VoiceSimulator


def make_container(tmp_path: Path, port: int, **overrides: object) -> Container:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "smsc_port": port,
        "smsc_timeout_seconds": 1.0,
        "run_test_smsc": True,
        "smsc_enabled": True,
    }
    values.update(overrides)
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]
    # The engine is created but never connected: connectors need settings only.
    return build_container(settings)


async def test_run_default_starts_test_smsc_and_binds(tmp_path: Path, smsc_port: int) -> None:
    c = make_container(tmp_path, smsc_port)
    await start_connectors(c, c.connectors)
    try:
        smsc = c.connectors.test_smsc
        sms = c.connectors.sms
        assert isinstance(smsc, TestSmsc) and isinstance(sms, SmppSmsConnector)
        assert isinstance(c.connectors.mms, MmsSimulator)
        assert isinstance(c.connectors.voice, VoiceSimulator)
        assert sms.available
        await sms.submit(SmsSubmission(recipient="+8613800138000", text="您好，欢迎使用"))
        await smsc.wait_for_messages(1)
        journal = tmp_path / "data" / "smsc-received.jsonl"
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        assert records[-1]["type"] == "message" and records[-1]["text"] == "您好，欢迎使用"
    finally:
        await stop_connectors(c.connectors)
        await c.dispose()
    k = c.connectors
    assert (k.test_smsc, k.sms, k.mms, k.voice, k.owned) == (None, None, None, None, [])
    assert not sms.available
    # The port is free again: a second start works.
    again = TestSmsc("127.0.0.1", smsc_port)
    await again.start()
    await again.stop()


async def test_sms_disabled_answers_network_unavailable(tmp_path: Path, smsc_port: int) -> None:
    c = make_container(tmp_path, smsc_port, run_test_smsc=False, smsc_enabled=False)
    await start_connectors(c, c.connectors)
    try:
        sms = c.connectors.sms
        assert isinstance(sms, DisabledSmsConnector) and not sms.available
        try:
            await sms.submit(SmsSubmission(recipient="+8613800138000", text="x"))
        except NetworkUnavailable as exc:
            assert "disabled" in str(exc)
        else:
            raise AssertionError("expected NetworkUnavailable")
        assert c.connectors.test_smsc is None
    finally:
        await stop_connectors(c.connectors)
        await c.dispose()


async def test_unreachable_smsc_does_not_block_startup(tmp_path: Path, smsc_port: int) -> None:
    c = make_container(tmp_path, smsc_port, run_test_smsc=False)
    t0 = time.monotonic()
    await start_connectors(c, c.connectors)
    try:
        assert time.monotonic() - t0 < 3.0
        sms = c.connectors.sms
        assert not sms.available
        # The SMSC appears later: the running connector binds to it by itself.
        smsc = TestSmsc("127.0.0.1", smsc_port)
        await smsc.start()
        try:
            assert await sms.wait_bound(10)
        finally:
            await stop_connectors(c.connectors)
            await smsc.stop()
    finally:
        await c.dispose()


class FakeSms:
    def __init__(self) -> None:
        self.stopped = False

    @property
    def available(self) -> bool:
        return True

    async def submit(self, msg: SmsSubmission) -> Submitted:
        return Submitted(network_ids=["fake"])

    async def stop(self) -> None:
        self.stopped = True


async def test_injected_parts_are_kept_and_not_stopped(tmp_path: Path, smsc_port: int) -> None:
    c = make_container(tmp_path, smsc_port, run_test_smsc=False)
    fake = FakeSms()
    c.connectors.sms = fake
    await start_connectors(c, c.connectors)
    try:
        assert c.connectors.sms is fake
        assert c.connectors.mms is not None
    finally:
        await stop_connectors(c.connectors)
        await c.dispose()
    assert c.connectors.sms is fake and not fake.stopped
    assert c.connectors.mms is None


async def test_port_taken_by_another_smsc_is_used(tmp_path: Path, smsc_port: int) -> None:
    external = TestSmsc("127.0.0.1", smsc_port)
    await external.start()
    c = make_container(tmp_path, smsc_port)
    try:
        await start_connectors(c, c.connectors)
        assert c.connectors.test_smsc is None
        assert c.connectors.sms.available
        await c.connectors.sms.submit(SmsSubmission(recipient="+8613800138000", text="hi"))
        await external.wait_for_messages(1)
    finally:
        await stop_connectors(c.connectors)
        await external.stop()
        await c.dispose()
