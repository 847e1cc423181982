"""Fixtures of the admission tests: fast password hashing, the operators (reviewer, billing clerk, admin)
with API tokens, and a console user (helpers in admission_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from admission_support import Console, Ops, make_ops

from openability.bootstrap import Container
from openability.partners import passwords


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    passwords.use_fast_hashing(True)
    yield
    passwords.use_fast_hashing(False)


@pytest.fixture
async def ops(container: Container) -> Ops:
    return await make_ops(container)


@pytest.fixture
def console(app_client: httpx.AsyncClient, container: Container) -> Console:
    return Console(app_client, container)
