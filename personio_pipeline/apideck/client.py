"""A thin Apideck HRIS client: cursor pagination, bounded retries, clear errors.

Written on httpx rather than the generated SDK because the sync needs retries on 429 with
`Retry-After`, a bounded total time, cursor-loop detection and errors that name the company.
The API key only ever travels in the `Authorization` header; it is never logged.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import httpx

from personio_pipeline.apideck.errors import (
    ApideckError,
    ApideckProtocolError,
    ApideckRequestError,
    ApideckUnavailableError,
)
from personio_pipeline.apideck.fields import EMPLOYEE_FIELDS, fields_param, make_projector

DEFAULT_BASE_URL = "https://unify.apideck.com"
DEFAULT_SERVICE_ID = "personio"
MAX_PAGE_SIZE = 200
NON_RETRYABLE = frozenset({400, 401, 402, 403, 404, 422})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrySettings:
    """Exponential backoff with full jitter, capped per wait and in total."""

    max_attempts: int = 8
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    max_total_seconds: float = 300.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * (2 ** (attempt - 1)))
        return rng.uniform(0, ceiling)


@dataclass
class FetchStats:
    """What one listing cost; ends up in asset metadata."""

    requests: int = 0
    retries: int = 0
    pages: int = 0
    rows: int = 0
    total_count: int | None = None
    fields_fallback: bool = False
    warnings: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def duration_seconds(self) -> float:
        return time.monotonic() - self.started


@dataclass(frozen=True)
class EmployeePage:
    number: int
    records: list[dict[str, Any]]
    next_cursor: str | None


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, response.reason_phrase or None, None
    if not isinstance(body, dict):
        return None, None, None
    detail = body.get("detail")
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("type")
    return body.get("type_name"), body.get("message") or body.get("error"), (
        str(detail) if detail else None
    )


class ApideckHrisClient:
    """Lists a company's employees through Apideck's unified HRIS API."""

    def __init__(
        self,
        *,
        api_key: str,
        app_id: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout_seconds: float = 30.0,
        retry: RetrySettings = RetrySettings(),
        logger: logging.Logger | Any = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            headers={"Authorization": f"Bearer {api_key}", "x-apideck-app-id": app_id},
            transport=transport,
        )
        self._retry = retry
        self._log = logger or log
        self._sleep = sleep
        self._rng = rng or random.Random()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ApideckHrisClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------------

    def list_employees(
        self,
        consumer_id: str,
        service_id: str = DEFAULT_SERVICE_ID,
        *,
        page_size: int = MAX_PAGE_SIZE,
        stats: FetchStats | None = None,
    ) -> tuple[list[dict[str, Any]], FetchStats]:
        """Every employee of the company, restricted to the attributes the sync needs."""
        stats = stats or FetchStats()
        records: list[dict[str, Any]] = []
        for page in self.iter_employee_pages(consumer_id, service_id, page_size=page_size, stats=stats):
            records.extend(page.records)
        return records, stats

    def iter_employee_pages(
        self,
        consumer_id: str,
        service_id: str = DEFAULT_SERVICE_ID,
        *,
        page_size: int = MAX_PAGE_SIZE,
        stats: FetchStats | None = None,
    ) -> Iterator[EmployeePage]:
        """Follow `meta.cursors.next` until it is null, one page at a time."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}, got {page_size}")
        stats = stats if stats is not None else FetchStats()
        deadline = time.monotonic() + self._retry.max_total_seconds
        headers = {"x-apideck-consumer-id": consumer_id, "x-apideck-service-id": service_id}
        project = make_projector(EMPLOYEE_FIELDS)
        send_fields = True
        cursor: str | None = None
        seen_cursors: set[str] = set()
        number = 0
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            if send_fields:
                params["fields"] = fields_param()
            try:
                body = self._get_page(consumer_id, headers, params, stats, deadline)
            except ApideckRequestError as error:
                if send_fields and number == 0 and error.status_code == 400:
                    # Some connectors reject `fields`: list everything, then trim locally.
                    self._log.warning(
                        f"Apideck rejected `fields` for company '{consumer_id}' "
                        f"({error.type_name}); listing all attributes and keeping only the needed ones"
                    )
                    send_fields = False
                    stats.fields_fallback = True
                    continue
                raise
            number += 1
            meta = body.get("meta") or {}
            if not isinstance(meta, dict):
                meta = {}
            data = body["data"]
            records = [project(r) for r in data if isinstance(r, dict)]
            if len(records) != len(data):
                raise ApideckProtocolError(
                    consumer_id,
                    f"Apideck page {number} for company '{consumer_id}' holds entries that are not "
                    "employee objects; re-run the sync, and report it to Apideck support if it repeats.",
                )
            stats.pages += 1
            stats.rows += len(records)
            if isinstance(meta.get("total_count"), int):
                stats.total_count = meta["total_count"]
            for warning in meta.get("warnings") or []:
                stats.warnings.append(warning)
                self._log.warning(
                    f"Apideck warning for company '{consumer_id}' on page {number}: "
                    f"{json.dumps(warning, ensure_ascii=False)}"
                )
            of_total = f" of {stats.total_count}" if stats.total_count is not None else ""
            self._log.info(
                f"company '{consumer_id}': page {number}, {len(records)} rows, "
                f"{stats.rows}{of_total} so far"
            )
            cursors = meta.get("cursors") or {}
            next_cursor = cursors.get("next") if isinstance(cursors, dict) else None
            yield EmployeePage(number=number, records=records, next_cursor=next_cursor or None)
            if not next_cursor:
                return
            if next_cursor in seen_cursors or next_cursor == cursor:
                raise ApideckProtocolError(
                    consumer_id,
                    f"Apideck returned a cursor already followed (page {number}) for company "
                    f"'{consumer_id}'; stopping instead of looping. Remedy: re-run the sync; if it "
                    "repeats, report the connector's pagination bug to Apideck support.",
                )
            if cursor:
                seen_cursors.add(cursor)
            cursor = next_cursor

    # -- one page, with retries ---------------------------------------------------------------

    def _get_page(
        self,
        consumer_id: str,
        headers: dict[str, str],
        params: dict[str, Any],
        stats: FetchStats,
        deadline: float,
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            stats.requests += 1
            try:
                return self._request_once(consumer_id, headers, params)
            except _Retryable as problem:
                wait = problem.retry_after
                if wait is None:
                    wait = self._retry.backoff(attempt, self._rng)
                remaining = deadline - time.monotonic()
                if attempt >= self._retry.max_attempts or wait > remaining:
                    raise ApideckUnavailableError(
                        consumer_id,
                        f"Apideck kept failing for company '{consumer_id}' after {attempt} attempts "
                        f"({problem.reason}). Remedy: nothing is written; the next run retries. If it "
                        "persists, check Apideck's status page and the connection in Apideck Vault.",
                    ) from None
                stats.retries += 1
                self._log.warning(
                    f"company '{consumer_id}': {problem.reason}; retry {attempt} in {wait:.1f}s"
                )
                self._sleep(wait)

    def _request_once(
        self, consumer_id: str, headers: dict[str, str], params: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            response = self._http.get("/hris/employees", headers=headers, params=params)
        except httpx.TimeoutException:
            raise _Retryable("request timed out") from None
        except httpx.TransportError as error:
            raise _Retryable(f"connection problem: {type(error).__name__}") from None
        status = response.status_code
        if status == 429:
            raise _Retryable("rate limited (429)", parse_retry_after(response.headers.get("retry-after")))
        if status >= 500:
            raise _Retryable(f"server error {status}", parse_retry_after(response.headers.get("retry-after")))
        if status in NON_RETRYABLE or 400 <= status < 500:
            type_name, message, detail = _error_fields(response)
            raise ApideckRequestError(consumer_id, status, type_name, message, detail)
        try:
            body = response.json()
        except ValueError:
            raise _Retryable(f"response was not JSON ({response.headers.get('content-type', '?')})") from None
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise _Retryable("response had no `data` list")
        return body


__all__ = [
    "ApideckError",
    "ApideckHrisClient",
    "DEFAULT_BASE_URL",
    "DEFAULT_SERVICE_ID",
    "EmployeePage",
    "FetchStats",
    "RetrySettings",
]
