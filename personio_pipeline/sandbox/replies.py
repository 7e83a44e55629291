"""What the sandbox answers, in Apideck's shapes: replies and their encoding (each record encoded
once per `fields` value), errors and injected faults with Apideck's vocabulary, page cursors, and
the minimal checks of a request body."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Mapping

from personio_pipeline.apideck.fields import make_projector

FAULT_KEYS = frozenset({"status", "retry_after", "delay", "repeat_cursor"})

ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("RequestValidationError", "Invalid Params", "The request was rejected as invalid"),
    401: ("ConnectorCredentialsError", "Unauthorized Request",
          "The Personio connection's credentials are no longer valid; re-authorize it in Vault"),
    402: ("RequestLimitError", "Request Limit Reached", "You have reached your limit of 2000"),
    403: ("ConnectorExecutionError", "Forbidden", "Personio refused access to employee attributes"),
    404: ("ConnectionNotFoundError", "Unified API/service not found",
          "No HRIS connection to Personio exists for this consumer"),
    422: ("ConnectionSettingsError", "Connection Settings Error",
          "The Personio connection is missing required settings"),
    429: ("ConnectorRateLimitError", "Connector Rate Limit Error",
          "Personio's rate limit was reached; retry after the Retry-After delay"),
    500: ("InternalServerError", "Internal Server Error", "Something went wrong with the Unify API"),
    502: ("ConnectorExecutionError", "Bad Gateway", "Personio answered with an unexpected error"),
    503: ("ServiceUnavailableError", "Service Unavailable", "The Unify API is temporarily unavailable"),
}
_CURSOR = re.compile(r"personio::offset::(\d+)")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # `json.dumps(**options)` builds one per call


def to_json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None  # a page's `data` array, already encoded

    def encoded(self) -> bytes:
        if self.data is None:
            return to_json(self.body)
        return to_json(self.body)[:-1] + b',"data":' + self.data + b"}"


class Listing:
    """A company's records, each encoded to JSON once per `fields` value and reused by every page.

    Serving then costs a join per page, and no new objects for the garbage collector to walk.
    """

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records
        self._encoded: dict[str | None, list[bytes | None]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def page(self, start: int, stop: int, fields: str | None) -> bytes:
        encoded = self._encoded.setdefault(fields, [None] * len(self.records))
        project = _projector(fields) if fields else None
        for index in range(start, min(stop, len(self.records))):
            if encoded[index] is None:
                record = self.records[index]
                encoded[index] = to_json(project(record) if project else record)
        return b"[" + b",".join(encoded[start:stop]) + b"]"


def error_reply(status: int, type_name: str, message: str, detail: Any, **headers: str) -> Reply:
    """An error in Apideck's shape (`status_code`, `error`, `type_name`, `message`, `detail`, `ref`)."""
    body = {
        "status_code": status,
        "error": HTTPStatus(status).phrase,
        "type_name": type_name,
        "message": message,
        "detail": detail,
        "ref": f"https://developers.apideck.com/errors#{type_name.lower()}",
    }
    return Reply(status, body, headers)


def fault_reply(status: int, retry_after: float | None = None) -> Reply:
    type_name, message, detail = ERRORS.get(status, ("ServerError", HTTPStatus(status).phrase, "Unexpected error"))
    headers = {"Retry-After": _seconds(retry_after)} if retry_after is not None else {}
    return error_reply(status, type_name, message, detail, **headers)


def _seconds(value: float) -> str:
    """Delta-seconds for `Retry-After`: whole numbers as integers, as RFC 9110 wants."""
    return str(int(value)) if float(value).is_integer() else str(value)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"personio::offset::{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    """The offset inside a cursor this sandbox issued; None for anything else."""
    try:
        match = _CURSOR.fullmatch(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return int(match.group(1)) if match else None


@functools.lru_cache(maxsize=32)
def _projector(fields: str):
    return make_projector(name.strip() for name in fields.split(",") if name.strip())


def validate_fault(fault: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fault) - FAULT_KEYS
    status = fault.get("status")
    if unknown:
        raise ValueError(f"fault {dict(fault)!r}: use only {sorted(FAULT_KEYS)}")
    if status is not None and not (status in ERRORS or (isinstance(status, int) and 500 <= status <= 599)):
        raise ValueError(f"fault {dict(fault)!r}: status must be one of {sorted(ERRORS)} or another 5xx")
    if fault.get("delay", 0) < 0 or fault.get("retry_after", 0) < 0:
        raise ValueError(f"fault {dict(fault)!r}: delay and retry_after must not be negative")
    return dict(fault)


def unserved(method: str, path: str) -> Reply:
    return error_reply(
        404, "EntityNotFoundError", "Unknown Resource",
        f"The sandbox serves only POST /vault/sessions and GET /vault/connections/{{unified_api}}/{{service_id}} "
        f"under /vault, not {method} {path}",
    )


def session_problem(body: bytes) -> str | None:
    """What is wrong with a `Session` body, checked minimally; None when it will do (it is optional)."""
    if not body.strip():
        return None
    try:
        session = json.loads(body)
    except ValueError:
        return "The request body is not valid JSON"
    if not isinstance(session, dict):
        return "The request body must be a Session object"
    settings = session.get("settings", {})
    if not isinstance(settings, dict):
        return "settings must be an object"
    unified_apis = settings.get("unified_apis", [])
    if not isinstance(unified_apis, list) or not all(isinstance(api, str) for api in unified_apis):
        return "settings.unified_apis must be a list of unified API ids (strings)"
    return None
