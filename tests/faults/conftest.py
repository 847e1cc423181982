"""The fault tests' database: one seeded template on the test PostgreSQL server, migrated and seeded once
(a self-registered AP with sms-standard ordered, a large sandbox top-up, an API client and its token);
each test works on its own copy (CREATE DATABASE … TEMPLATE)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import TOP_UP, Template

from support_workers import PG_URL, admin_sql, async_url, create_tables, seed


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    name = "faults_tpl_" + secrets.token_hex(5)
    asyncio.run(admin_sql(f"CREATE DATABASE {name}"))
    try:
        url = async_url(PG_URL, name)
        create_tables(url)
        data: Path = tmp_path_factory.mktemp("seed")
        partner_id, token = asyncio.run(seed(url, data, top_up=TOP_UP, rate_limit=10_000))
        yield Template(name, partner_id, token)
    finally:
        asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
