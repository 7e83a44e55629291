"""A thin Apideck HRIS client: cursor pagination over `GET /hris/employees`, only the needed
fields, cursor-loop detection.

Written on httpx rather than the generated SDK because the sync needs retries on 429 with
`Retry-After`, a bounded total time and errors that name the company (see `http.py`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from personio_pipeline.apideck.errors import ApideckError, ApideckProtocolError, ApideckRequestError
from personio_pipeline.apideck.fields import EMPLOYEE_FIELDS, fields_param, make_projector
from personio_pipeline.apideck.http import (
    DEFAULT_BASE_URL,
    ApideckClient,
    RequestStats,
    RetrySettings,
)

DEFAULT_SERVICE_ID = "personio"
ALLOWED_TOP_LEVEL = frozenset(field.split(".")[0] for field in EMPLOYEE_FIELDS)
MAX_PAGE_SIZE = 200


@dataclass
class FetchStats(RequestStats):
    """What one listing cost; ends up in asset metadata."""

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


class ApideckHrisClient(ApideckClient):
    """Lists a company's employees through Apideck's unified HRIS API."""

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
        deadline = time.monotonic() + self._api.retry.max_total_seconds
        headers = {"x-apideck-service-id": service_id}
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
                body = self._api.request_json(
                    "GET", "/hris/employees", consumer_id,
                    headers=headers, params=params, stats=stats, deadline=deadline, valid=_has_data_list,
                    what="the employee list",
                )
            except ApideckRequestError as error:
                if send_fields and number == 0 and error.status_code == 400:
                    # Some connectors reject `fields`: list everything, then trim locally.
                    self._api.log.warning(
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
            records = [r for r in data if isinstance(r, dict)]
            # Trim to the needed attributes unless the page already is (the connector honoured
            # `fields`): every record's top-level keys, and the first record in full, tell.
            honoured = send_fields and all(r.keys() <= ALLOWED_TOP_LEVEL for r in records)
            if records and not (honoured and project(records[0]) == records[0]):
                records = [project(r) for r in records]
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
                self._api.log.warning(
                    f"Apideck warning for company '{consumer_id}' on page {number}: "
                    f"{json.dumps(warning, ensure_ascii=False)}"
                )
            cursors = meta.get("cursors") if isinstance(meta.get("cursors"), dict) else {}
            next_cursor = cursors.get("next")
            if _worth_logging(number, stats.total_count, page_size, last=not next_cursor):
                of_total = f" of {stats.total_count}" if stats.total_count is not None else ""
                self._api.log.info(
                    f"company '{consumer_id}': page {number}, {len(records)} rows, "
                    f"{stats.rows}{of_total} so far"
                )
            if cursors.get("current"):  # the first page has no cursor of ours, but may name its own
                seen_cursors.add(cursors["current"])
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


def _worth_logging(page: int, total_count: int | None, page_size: int, *, last: bool) -> bool:
    """Progress about every 10% of the pages (every 10th without a total), the first and the
    last: one event per page would be 500 event-log rows for 100,000 people."""
    pages = -(-total_count // page_size) if total_count else None
    step = max(1, pages // 10) if pages else 10
    return last or page == 1 or page % step == 0


def _has_data_list(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("data"), list)


__all__ = [
    "ApideckError",
    "ApideckHrisClient",
    "DEFAULT_BASE_URL",
    "DEFAULT_SERVICE_ID",
    "EmployeePage",
    "FetchStats",
    "RetrySettings",
]
