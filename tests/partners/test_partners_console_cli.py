"""AP self-registration console page (/console/register) and the `openability partners` CLI."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openability.bootstrap import Container
from openability.kernel.db import make_engine
from openability.kernel.migrate import upgrade
from openability.partners.models import AccessToken, Operator, Partner
from openability.partners.tokens import hash_token
from openability.partners.types import PartnerStatus

Client = httpx.AsyncClient
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


async def page_token(client: Client, path: str) -> str:
    """Open a console page like a browser and return the CSRF token its form carries."""
    r = await client.get(path)
    assert r.status_code == 200, r.text
    m = CSRF_FIELD.search(r.text)
    assert m and m.group(1)
    return m.group(1)


def form(**over: str) -> dict[str, str]:
    data = {
        "name": "云帆互动科技有限公司",
        "username": "yunfan",
        "password": "Secret123",
        "password2": "Secret123",
        "contact_name": "王五",
        "contact_email": "ops@yunfan.example.com",
        "contact_phone": "13912345678",
        "credit_code": "",
        "display_name": "",
    }
    data.update(over)
    return data


async def test_r_admit_06_register_page_creates_active_ap_and_logs_in(
    app_client: Client, container: Container
) -> None:
    r = await app_client.get("/console/register")
    assert r.status_code == 200 and 'id="register-form"' in r.text and "应用提供商" in r.text
    r = await app_client.get("/console/register?lang=en")
    assert "Register as an application provider" in r.text
    token = CSRF_FIELD.search(r.text)
    assert token
    r = await app_client.post("/console/register", data=form(csrf=token.group(1)))
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/console/portal")
    cookie = r.cookies.get("oa_session")
    assert cookie
    app_client.cookies.set("oa_session", cookie)
    me = await app_client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["partner"]["name"] == "云帆互动科技有限公司"
    async with container.uow() as uow:
        p = await uow.session.scalar(select(Partner))
        assert p is not None and p.status == PartnerStatus.ACTIVE


async def test_r_partner_04_register_page_refuses_brand_word(
    app_client: Client, container: Container
) -> None:
    csrf = await page_token(app_client, "/console/register")
    r = await app_client.post("/console/register", data=form(name="云帆电信公司", csrf=csrf))
    assert r.status_code == 422
    assert "电信公司" in r.text and 'role="alert"' in r.text
    assert 'value="yunfan"' in r.text  # the form keeps what was typed
    assert "Secret123" not in r.text  # but never the password
    r = await app_client.post("/console/register", data=form(password2="Other1234", csrf=csrf))
    assert r.status_code == 400
    r = await app_client.post("/console/register", data=form(name="x" * 300, csrf=csrf))
    assert r.status_code == 400
    r = await app_client.post("/console/register", data=form(contact_phone="123", csrf=csrf))
    assert r.status_code == 400
    async with container.uow() as uow:
        assert (await uow.session.scalars(select(Partner))).all() == []


async def test_register_page_refuses_a_post_without_its_csrf_token(
    app_client: Client, container: Container
) -> None:
    # a cross-site post: no oa_csrf cookie, no field
    r = await app_client.post("/console/register", data=form())
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert 'value="yunfan"' in r.text and "Secret123" not in r.text  # re-rendered, filled in
    assert "oa_session" not in r.cookies
    fresh = CSRF_FIELD.search(r.text)
    assert fresh and r.cookies.get("oa_csrf") == fresh.group(1)  # ... with a token that works
    for bad in ("0" * 43, "不是令牌", ""):
        r = await app_client.post("/console/register", data=form(csrf=bad))
        assert r.status_code == 400 and "oa_session" not in r.cookies, bad
    # the field alone, without the cookie only the page could have set
    app_client.cookies.clear()
    r = await app_client.post("/console/register", data=form(csrf=fresh.group(1)))
    assert r.status_code == 400
    async with container.uow() as uow:
        assert (await uow.session.scalars(select(Partner))).all() == []
        assert (await uow.session.scalars(select(AccessToken))).all() == []


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    upgrade(url)  # the CLI refuses a database without Alembic's version table
    monkeypatch.setenv("OPENABILITY_DATABASE_URL", url)
    monkeypatch.setenv("OPENABILITY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no truncated cells
    return url


def query(url: str, stmt: Any) -> list[Any]:
    async def go() -> list[Any]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(stmt)).all())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_cli_operators_tokens_and_sis(cli_db: str) -> None:
    from openability.cli import app

    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "partners",
            "create-operator",
            "root",
            "--password",
            "Passw0rd1",
            "--role",
            "admin",
            "--role",
            "reviewer",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "root" in r.output
    r = runner.invoke(
        app, ["partners", "create-operator", "bad", "--password", "Passw0rd1", "--role", "wizard"]
    )
    assert r.exit_code == 1 and "INVALID_ROLE" in r.output
    r = runner.invoke(app, ["partners", "operator-token", "root", "--name", "ci"])
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    rows = query(
        cli_db, select(AccessToken.kind, AccessToken.name).where(AccessToken.token_hash == hash_token(token))
    )
    assert rows == [("operator", "ci")]
    r = runner.invoke(app, ["partners", "operator-token", "ghost", "--name", "ci"])
    assert r.exit_code == 1 and "NOT_FOUND" in r.output
    r = runner.invoke(
        app, ["partners", "create-si", "华北集成有限公司", "--billing-mode", "postpaid", "--activate"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["partners", "create-si", "华北电信公司", "--billing-mode", "postpaid"])
    assert r.exit_code == 1 and "BRAND_WORD" in r.output
    r = runner.invoke(app, ["partners", "create-si", "某集成", "--billing-mode", "both"])
    assert r.exit_code == 1 and "INVALID_BILLING_MODE" in r.output
    r = runner.invoke(app, ["partners", "list", "--kind", "SI"])
    assert r.exit_code == 0 and "华北集成有限公司" in r.output and "postpaid" in r.output
    r = runner.invoke(app, ["partners", "operators"])
    assert r.exit_code == 0 and "root" in r.output
    assert query(cli_db, select(Operator.username)) == [("root",)]


async def test_console_login_and_logout_use_partner_sessions(app_client: Client, admin_token: str) -> None:
    csrf = await page_token(app_client, "/console/login")
    r = await app_client.post(
        "/console/login", data={"username": "root", "password": "wrong1234", "csrf": csrf}
    )
    assert r.status_code == 401
    r = await app_client.post(
        "/console/login", data={"username": "ROOT", "password": "Admin12345", "csrf": csrf}
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/ops/partners"
    cookie = r.cookies.get("oa_session")
    assert cookie
    app_client.cookies.set("oa_session", cookie)
    assert (await app_client.get("/api/v1/me")).json()["actor"]["name"] == "Root"
    session_csrf = await page_token(app_client, "/console/ops/partners")  # base.html's logout form
    r = await app_client.post("/console/logout", data={"csrf": session_csrf})
    assert r.status_code == 303
    app_client.cookies.set("oa_session", cookie)
    assert (await app_client.get("/api/v1/me")).status_code == 401


def test_cli_tables_keep_whole_ids_on_an_80_column_terminal(
    cli_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids are copied from these tables into the next command: an 80-column terminal must not turn
    # them into "prt_1m8…" (Rich's ellipsis); the other columns give up their width instead.
    from rich.console import Console

    from openability.cli import app
    from openability.partners import cli as partners_cli

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(partners_cli, "console", Console())  # reads COLUMNS as when run from a shell
    runner = CliRunner()
    for name in ("华北系统集成服务有限公司", "华南系统集成服务有限公司"):
        r = runner.invoke(app, ["partners", "create-si", name, "--billing-mode", "postpaid", "--activate"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        ["partners", "create-operator", "reviewer-one", "--password", "Passw0rd1", "--role", "reviewer"],
    )
    assert r.exit_code == 0, r.output
    partner_ids = [i for (i,) in query(cli_db, select(Partner.id))]
    operator_ids = [i for (i,) in query(cli_db, select(Operator.id))]
    for args, ids in ((["partners", "list"], partner_ids), (["partners", "operators"], operator_ids)):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        assert max(len(line) for line in r.output.splitlines()) <= 80, r.output
        for pid in ids:
            assert pid in r.output, r.output
