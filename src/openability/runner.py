"""`openability run`: migrate, print how to reach the platform, serve.

A production start (`openability run`) seeds nothing: on an empty database it says how to create the
first admin (`openability operators create-admin`), and its banner carries no credential. A demo start
(`openability run --demo`, which `make run` is) turns the test clock and sandbox payments on, loads the
demo data on first start and prints its credentials, an OAuth token and a login token to the terminal
(stdout, never through `logging`: secrets stay out of the logs)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from datetime import timedelta
from typing import Any

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from openability.config import Settings
from openability.kernel import logs

# What `--demo` turns on, for this process and (through the environment) every worker process.
DEMO_ENVIRONMENT = {"OPENABILITY_TEST_CLOCK": "true", "OPENABILITY_PAYMENTS_SANDBOX": "true"}
CREATE_ADMIN = "openability operators create-admin USERNAME"


def shown_database(settings: Settings) -> str:
    """The database URL with its password hidden (a banner is no place for a secret)."""
    url = settings.effective_database_url()
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def _header(settings: Settings, *, demo: bool) -> list[str]:
    base = settings.base_url
    console = f"  console:  {base}/console/"
    if demo:
        console += "   (operator admin/admin1234, partner ap-demo/demo12345)"
    lines = [
        "",
        "openability is starting" + (" (demo: test clock and sandbox payments on)" if demo else ""),
        console,
        f"  API docs: {base}/docs",
        f"  database: {shown_database(settings)}",
    ]
    if settings.run_test_smsc:
        lines.append(
            f"  test SMSC on {settings.smsc_host}:{settings.smsc_port}, received messages: "
            f"{settings.data_dir / 'smsc-received.jsonl'}"
        )
    return lines


def production_banner(
    settings: Settings, *, has_operators: bool, clock_ahead: timedelta | None = None
) -> str:
    lines = _header(settings, demo=False)
    if clock_ahead:
        lines += [
            "",
            f"Warning: the test clock of a demo moved this database's time {clock_ahead} ahead of the system",
            "clock; without --demo the platform runs on the system clock, behind what was recorded.",
        ]
    if not has_operators:
        lines += [
            "",
            "No operator account yet. Create the first admin (it asks for the password, or reads",
            "OPENABILITY_ADMIN_PASSWORD), in the directory of this start or with the same OPENABILITY_*",
            "settings:",
            f"  {CREATE_ADMIN}",
        ]
    lines.append("")
    return "\n".join(lines)


def demo_banner(settings: Settings, creds: dict[str, Any], token: str, login_token: str) -> str:
    base = settings.base_url
    ap = creds.get("partners", {}).get("ap", {})
    body = json.dumps({"to": ["+8613800138000"], "text": "您好，您的验证码是 123456。"}, ensure_ascii=False)
    curl = (
        f"curl -s -X POST {base}/capabilities/sms/v1/messages "
        f"-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
        f"-H 'Idempotency-Key: demo-'$(date +%s) -d {shlex.quote(body)}"
    )
    token_curl = (
        f"curl -s -X POST {base}/oauth/token -d grant_type=client_credentials "
        f"-d client_id={ap.get('client_id', '')} -d client_secret={ap.get('client_secret', '')}"
    )
    lines = _header(settings, demo=True)
    lines += [
        "",
        f"Send an SMS as the demo AP (OAuth token valid {settings.token_ttl_seconds // 60} min):",
        curl,
        "",
        "Balance of the demo AP (console login token, 12 h):",
        f"curl -s -H 'Authorization: Bearer {login_token}' {base}/api/v1/accounts/{ap.get('id', '')}",
        "",
        "A fresh OAuth token any time:",
        token_curl,
        "",
        "Move the platform's clock forward (test clock; run where this start runs):",
        "OPENABILITY_TEST_CLOCK=true openability clock set 2026-12-10T09:00+08:00",
        "",
    ]
    return "\n".join(lines)


async def prepare(settings: Settings, *, demo: bool) -> str:
    """What a start does before serving, on a migrated database: the demo data (demo only) and the
    banner to print."""
    from openability.bootstrap import build_container
    from openability.kernel.testclock import TestClock, read_offset
    from openability.partners import identity, oauth
    from openability.seed import seed_demo

    container = build_container(settings)
    try:
        if isinstance(container.clock, TestClock):
            await container.clock.refresh()  # the demo data dated by the platform's (moved) time
        if not demo:
            async with container.uow() as uow:
                has_operators = await identity.has_operators(uow)
            ahead = None if settings.test_clock else await read_offset(container.engine)
            return production_banner(settings, has_operators=has_operators, clock_ahead=ahead)
        creds = await seed_demo(container)
        ap = creds.get("partners", {}).get("ap", {})
        token = login_token = ""
        if ap:
            async with container.uow() as uow:
                token, _exp, _scopes = await oauth.issue_client_token(
                    uow, ap["client_id"], ap["client_secret"]
                )
            async with container.uow() as uow:
                login_token, _actor = await identity.login(uow, ap["username"], ap["password"])
        return demo_banner(settings, creds, token, login_token)
    finally:
        await container.dispose()


def serve(host: str | None = None, port: int | None = None, workers: int = 1, *, demo: bool = False) -> None:
    from openability.kernel.migrate import upgrade

    if demo:
        os.environ.update(DEMO_ENVIRONMENT)  # read again by every worker process's Settings()
    settings = Settings()
    # One logging set-up for start-up (migrations, seeding) and, through log_config, for uvicorn and
    # the app in every worker process: JSON lines by default, OPENABILITY_LOG_FORMAT=text for people.
    log_config = logs.log_config(settings.log_format, settings.log_level)
    logs.configure(settings.log_format, settings.log_level)
    if host:
        settings.host = host
        os.environ["OPENABILITY_HOST"] = host
    if port:
        settings.port = port
        os.environ["OPENABILITY_PORT"] = str(port)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url())
    # The terminal, not the log: the demo banner carries the demo's credentials and tokens.
    print(asyncio.run(prepare(settings, demo=demo)), flush=True)
    uvicorn.run(
        "openability.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=log_config,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
