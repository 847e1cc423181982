"""Fixtures of the access tests: the world of tests/security/access_world.py on the backend under test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from access_world import WECHAT_APP_ID, WECHAT_KEY, WECHAT_MCH_ID, SecWorld, build_world
from pydantic import SecretStr

from openability.bootstrap import Container
from openability.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The installation offers the WeChat-Pay-like provider (so its signed notifications are handled)."""
    settings.wechatpay_app_id = WECHAT_APP_ID
    settings.wechatpay_mch_id = WECHAT_MCH_ID
    settings.wechatpay_api_key = SecretStr(WECHAT_KEY)
    return settings


@pytest.fixture
async def sec(container: Container) -> AsyncIterator[SecWorld]:
    async with build_world(container) as world:
        yield world
