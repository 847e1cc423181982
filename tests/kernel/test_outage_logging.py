"""A background step that fails because the database is down or restarting logs one warning line, not a
traceback (kernel/outage.log_failure): the fault tests (tests/faults) read a traceback in a server's log
as a bug. A failure that is no outage keeps its traceback."""

from __future__ import annotations

import logging

import pytest

from openability.kernel.outage import log_failure

log = logging.getLogger("openability.test_outage_logging")


def _raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


def test_an_outage_is_one_warning_line_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        log_failure(log, _raised(ConnectionRefusedError(111, "Connection refused")), "tick %s failed", 7)
    [rec] = caplog.records
    assert rec.levelno == logging.WARNING and rec.exc_info is None
    assert (
        rec.getMessage()
        == "tick 7 failed (unavailable: ConnectionRefusedError: [Errno 111] Connection refused)"
    )


def test_a_bug_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        log_failure(log, _raised(KeyError("grant")), "tick %s failed", 7)
    [rec] = caplog.records
    assert rec.levelno == logging.ERROR and rec.exc_info is not None
    assert rec.getMessage() == "tick 7 failed" and "Traceback" in caplog.text
