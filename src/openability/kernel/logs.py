"""Logging: one configuration for the app and uvicorn, JSON lines (python-json-logger) or plain text,
and the x-correlator of the request being handled on every line logged while handling it.

CorrelatorMiddleware (kernel/web.py) binds the request's x-correlator header to `correlator` for
the time of the request; `CorrelatorFilter`, attached to the handler, copies it onto each record as
the field `correlator`. A request without the header logs no such field (no generated id: the
correlator is there to find a client's call in our logs, and a client that sent none will not ask).
What is logged is what the code passes to the logger: nothing here adds request headers or bodies,
so tokens, passwords and client secrets stay out of the logs."""

from __future__ import annotations

import logging
import logging.config
from contextvars import ContextVar
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["json", "text"]

# The x-correlator of the request being handled; None outside a request or when none was sent.
correlator: ContextVar[str | None] = ContextVar("openability_correlator", default=None)

CORRELATOR_FIELD = "correlator"


class CorrelatorFilter(logging.Filter):
    """Adds the current request's x-correlator to each record (a field set by the caller through
    `extra=` is kept). On the handler, not a logger: it then applies to records of every logger,
    including the ones that propagate from uvicorn, SQLAlchemy or a domain's module logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        value = correlator.get()
        if value is not None and not hasattr(record, CORRELATOR_FIELD):
            setattr(record, CORRELATOR_FIELD, value)
        return True


class TextFormatter(logging.Formatter):
    """Human-readable lines; the correlator, when there is one, at the end of the line."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        value = getattr(record, CORRELATOR_FIELD, None)
        if value is None:
            return line
        first, nl, rest = line.partition("\n")  # keep a traceback below the line it belongs to
        return f"{first} [x-correlator={value}]{nl}{rest}"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Standard fields of each JSON line; extra fields (`correlator`, anything passed with `extra=`)
# follow. `timestamp` is the record's creation time in UTC, ISO 8601.
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
# Record attributes left out of the JSON: the standard ones not in JSON_FIELDS, and uvicorn's
# `color_message` (the message again, with terminal colour codes).
SKIPPED_ATTRS = [*RESERVED_ATTRS, "color_message"]


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        JSON_FIELDS,
        rename_fields={"levelname": "level", "name": "logger"},
        reserved_attrs=SKIPPED_ATTRS,
        timestamp=True,
    )


def log_config(fmt: LogFormat = "json", level: str = "INFO") -> dict[str, Any]:
    """A logging.config.dictConfig dictionary: one stderr handler on the root logger, and uvicorn's
    loggers sending their records to it (pass it as uvicorn's `log_config`, so its worker processes
    configure themselves the same way)."""
    formatter: dict[str, Any] = (
        {"()": json_formatter} if fmt == "json" else {"()": TextFormatter, "fmt": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"correlator": {"()": CorrelatorFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["correlator"],
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {
            # uvicorn installs handlers of its own on these unless told otherwise; here they have none
            # and propagate to the root handler, so every line has the same shape.
            name: {"level": level, "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure(fmt: LogFormat = "json", level: str = "INFO") -> None:
    logging.config.dictConfig(log_config(fmt, level))
