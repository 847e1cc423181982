"""Fixtures for the connector tests: a free TCP port, a running test SMSC, connector settings."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openability.config import Settings
from openability.connectors.smsc import TestSmsc


def free_port() -> int:
    # smpp34.Server accepts port 0 but cannot report the port it got, so ask the OS first.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smsc_port() -> int:
    return free_port()


@pytest.fixture
def smpp_settings(tmp_path: Path, smsc_port: int) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        smsc_port=smsc_port,
        smsc_timeout_seconds=0.5,
        smsc_enabled=True,
        run_test_smsc=False,
        _env_file=None,
    )


@pytest.fixture
async def smsc(smsc_port: int, tmp_path: Path) -> AsyncIterator[TestSmsc]:
    server = TestSmsc("127.0.0.1", smsc_port, journal=tmp_path / "smsc.jsonl", receipt_delay=0.01)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
