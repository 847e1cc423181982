"""Fixtures of the access tests: the world of tests/security/access_world.py on the backend under test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from access_world import SecWorld, build_world

from openability.bootstrap import Container


@pytest.fixture
async def sec(container: Container) -> AsyncIterator[SecWorld]:
    async with build_world(container) as world:
        yield world
