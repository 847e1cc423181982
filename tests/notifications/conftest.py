"""Notification test fixtures: a local SMTP server per test, settings that point email delivery at
it, and the World of partners, operators and users (notify_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from notify_support import MailServer, World, free_port, start_server

from openability.bootstrap import Container
from openability.config import Settings


@pytest.fixture
def smtp_server() -> Iterator[MailServer]:
    server = MailServer(free_port())
    ctl = start_server(server)
    try:
        yield server
    finally:
        ctl.stop()


@pytest.fixture
def settings(settings: Settings, smtp_server: MailServer) -> Settings:
    """Email delivery on, to the local server; three attempts, 60 s then 120 s apart."""
    return settings.model_copy(
        update={
            "smtp_enabled": True,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "smtp_from": "能力开放平台 <noreply@openability.test>",
            "smtp_timeout_seconds": 5.0,
            "notify_max_attempts": 3,
            "notify_retry_base_seconds": 60.0,
            "notify_retry_max_seconds": 3600.0,
            "public_url": "https://console.openability.test",
        }
    )


@pytest.fixture
async def world(container: Container) -> AsyncIterator[World]:
    yield World(container)
