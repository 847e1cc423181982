"""Structured logs (kernel/logs.py): JSON lines by default, the request's x-correlator on every line
logged while handling the request, uvicorn's loggers on the same handler."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from openability.bootstrap import Container
from openability.config import Settings
from openability.kernel import logs

LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


@contextmanager
def configured(fmt: logs.LogFormat) -> Iterator[None]:
    """logs.configure for the test's duration, then the logging set-up pytest had."""
    saved = {
        name: (lg.handlers[:], lg.filters[:], lg.level, lg.propagate, lg.disabled)
        for name in LOGGERS
        for lg in [logging.getLogger(name)]
    }
    logs.configure(fmt)
    try:
        yield
    finally:
        for name, (handlers, filters, level, propagate, disabled) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.filters[:] = filters
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled


def json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


@pytest.fixture
async def app_logging(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app, plus one route whose handler logs from a domain-style module logger."""
    from openability.app import create_app

    platform_app = create_app(container, manage_container=False)
    app: FastAPI = platform_app.api
    handler_log = logging.getLogger("openability.tests.handler")

    @app.get("/test-logs")
    async def logs_something() -> dict[str, str]:
        handler_log.info("handling the request")
        return {"ok": "yes"}

    async with platform_app.lifespan():
        transport = httpx.ASGITransport(app=platform_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_log_lines_of_a_request_carry_its_x_correlator(
    app_logging: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with configured("json"):
        r = await app_logging.get("/test-logs", headers={"x-correlator": "b7e2-4c1d-corr"})
        assert r.status_code == 200 and r.headers["x-correlator"] == "b7e2-4c1d-corr"
        logging.getLogger("openability.tests.handler").info("after the request")
    lines = json_lines(capsys.readouterr().err)
    during = [ln for ln in lines if ln["message"] == "handling the request"]
    assert len(during) == 1
    assert during[0]["correlator"] == "b7e2-4c1d-corr"
    assert during[0]["level"] == "INFO" and during[0]["logger"] == "openability.tests.handler"
    assert "timestamp" in during[0]
    after = [ln for ln in lines if ln["message"] == "after the request"]
    assert len(after) == 1 and "correlator" not in after[0]  # unbound once the request is answered


async def test_no_correlator_field_when_the_client_sent_none(
    app_logging: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with configured("json"):
        assert (await app_logging.get("/test-logs")).status_code == 200
    [line] = [ln for ln in json_lines(capsys.readouterr().err) if ln["message"] == "handling the request"]
    assert "correlator" not in line


async def test_unhandled_error_is_logged_with_the_correlator(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    from openability.app import create_app

    platform_app = create_app(container, manage_container=False)
    app = platform_app.api

    @app.get("/test-boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    with configured("json"):
        async with platform_app.lifespan():
            transport = httpx.ASGITransport(app=platform_app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                r = await client.get("/test-boom", headers={"x-correlator": "corr-boom"})
    assert r.status_code == 500 and r.headers["x-correlator"] == "corr-boom"
    [line] = [ln for ln in json_lines(capsys.readouterr().err) if ln["message"] == "unhandled error"]
    assert line["correlator"] == "corr-boom" and line["level"] == "ERROR"
    assert "RuntimeError: boom" in line["exc_info"]


def test_text_format_puts_the_correlator_at_the_end_of_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    with configured("text"):
        token = logs.correlator.set("corr-text")
        try:
            logging.getLogger("openability.tests.text").warning("low balance")
        finally:
            logs.correlator.reset(token)
        logging.getLogger("openability.tests.text").warning("no request")
    err = capsys.readouterr().err.splitlines()
    assert any(
        ln.endswith("WARNING openability.tests.text: low balance [x-correlator=corr-text]") for ln in err
    )
    assert any(ln.endswith("WARNING openability.tests.text: no request") for ln in err)


def test_uvicorn_loggers_write_the_same_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with configured("json"):
        token = logs.correlator.set("corr-uv")
        try:
            logging.getLogger("uvicorn.error").info(
                "Started server process [%d]",
                42,
                extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
            )
        finally:
            logs.correlator.reset(token)
    [line] = json_lines(capsys.readouterr().err)
    assert line["logger"] == "uvicorn.error" and line["correlator"] == "corr-uv"
    assert line["message"] == "Started server process [42]"
    assert "color_message" not in line  # uvicorn's copy of the message with terminal colours


def test_log_config_is_what_runner_hands_to_uvicorn() -> None:
    cfg = logs.log_config("json", "WARNING")
    assert cfg["root"] == {"level": "WARNING", "handlers": ["default"]}
    assert cfg["handlers"]["default"]["filters"] == ["correlator"]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert cfg["loggers"][name] == {"level": "WARNING", "handlers": [], "propagate": True}


def test_log_format_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).log_format == "json"  # type: ignore[call-arg]
    monkeypatch.setenv("OPENABILITY_LOG_FORMAT", "text")
    assert Settings(_env_file=None).log_format == "text"  # type: ignore[call-arg]
    monkeypatch.setenv("OPENABILITY_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings(_env_file=None)  # type: ignore[call-arg]
