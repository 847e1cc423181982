"""`openability run` / `make run`: migrate, seed on first start, print how to try it, serve."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from typing import Any

import uvicorn

from openability.config import Settings
from openability.kernel import logs


def _banner(settings: Settings, creds: dict[str, Any], token: str, login_token: str) -> str:
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
    lines = [
        "",
        "openability is starting",
        f"  console:  {base}/console/   (operator admin/admin1234, partner ap-demo/demo12345)",
        f"  API docs: {base}/docs",
        f"  database: {settings.effective_database_url()}",
    ]
    if settings.run_test_smsc:
        lines.append(
            f"  test SMSC on {settings.smsc_host}:{settings.smsc_port}, received messages: "
            f"{settings.data_dir / 'smsc-received.jsonl'}"
        )
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
    ]
    return "\n".join(lines)


async def _prepare(settings: Settings) -> tuple[dict[str, Any], str, str]:
    from openability.bootstrap import build_container
    from openability.partners import service as partners
    from openability.seed import seed_demo

    container = build_container(settings)
    try:
        creds = await seed_demo(container)
        ap = creds.get("partners", {}).get("ap", {})
        token = login_token = ""
        if ap:
            async with container.uow() as uow:
                token, _exp, _scopes = await partners.issue_client_token(
                    uow, ap["client_id"], ap["client_secret"]
                )
            async with container.uow() as uow:
                login_token, _actor = await partners.login(uow, ap["username"], ap["password"])
        return creds, token, login_token
    finally:
        await container.dispose()


def serve(host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    from openability.kernel.migrate import upgrade

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
    creds, token, login_token = asyncio.run(_prepare(settings))
    print(_banner(settings, creds, token, login_token), flush=True)
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
