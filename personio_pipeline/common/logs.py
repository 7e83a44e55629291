"""Opt-in structured logs: `PERSONIO_LOG_FORMAT=json` turns Dagster run logs and the project's
own Python loggers (`personio_pipeline.*`) into one JSON object per line on stderr, for a log
collector to index by company, run and step. Without it nothing changes (Dagster's coloured
console logger, Python's defaults).

Every line has: ts (UTC), level, logger, message, company (the run's partition), run_id, job,
step, event (Dagster event type, if any) and, for failures, error (type and message, no stack).
Messages never carry e-mail addresses by design; the formatter still removes addresses and the
values of secret environment variables (APIDECK_API_KEY …) in case a library puts one there.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any

import orjson

from personio_pipeline.common import settings
from personio_pipeline.common.redaction import redact, secrets_from_env

PROJECT_LOGGER = "personio_pipeline"
ERROR_LIMIT = 2000


PARTITION_NAME_TAG = "dagster/partition"  # the run's company (Dagster's tag); no Dagster import for the CLI


def error_summary(error) -> str:
    """A Dagster error (SerializableErrorInfo) as `Type: message`, without the stack and without
    the module path Dagster repeats in front of the message. Dagster wraps an exception raised in
    a step ("Error occurred while executing op ..."): the innermost cause is what went wrong."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = error.message.strip()
    prefix, _, rest = message.partition(": ")
    if error.cls_name and prefix.endswith(error.cls_name):
        message = rest
    return f"{error.cls_name}: {message}" if error.cls_name else message


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record; Dagster records contribute run, job, step and company."""

    def __init__(self, secrets: tuple[str, ...] | None = None):
        super().__init__()
        self.secrets = secrets_from_env() if secrets is None else secrets

    def format(self, record: logging.LogRecord) -> str:
        meta: dict[str, Any] = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        line = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._clean(meta.get("orig_message") or record.getMessage()),
            "company": (meta.get("job_tags") or {}).get(PARTITION_NAME_TAG),
            "run_id": meta.get("run_id"),
            "job": meta.get("job_name"),
            "step": meta.get("step_key"),
            "event": event.event_type_value if event is not None else None,
        }
        error = getattr(event.event_specific_data, "error", None) if event is not None else None
        if error is not None:
            line["error"] = self._clean(error_summary(error), ERROR_LIMIT)
        if record.exc_info and record.exc_info[1] is not None:
            kind, value = record.exc_info[0], record.exc_info[1]
            line["error"] = self._clean(f"{kind.__name__}: {value}", ERROR_LIMIT)
        return orjson.dumps(line).decode()

    def _clean(self, text: str, limit: int | None = None) -> str:
        return redact(text, self.secrets, limit)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record arrives (the CLI and test runners swap it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def json_handler() -> logging.Handler:
    handler = _StderrHandler()
    handler.setFormatter(JsonLineFormatter())
    return handler


def configure_python_logging() -> None:
    """Send the project's Python loggers (used outside runs: CLI, sensors' clients, the sandbox)
    to one JSON handler when JSON logs are on. Idempotent."""
    if not settings.json_logs_enabled():
        return
    logger = logging.getLogger(PROJECT_LOGGER)
    if any(isinstance(h, _StderrHandler) for h in logger.handlers):
        return
    logger.addHandler(json_handler())
    logger.setLevel(logging.INFO)
    logger.propagate = False  # one line per record, in JSON only
