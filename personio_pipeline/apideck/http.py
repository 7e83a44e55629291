"""The one way this project calls Apideck: auth headers, bounded retries, errors with remedies.

Retries 429, 5xx, timeouts, connection errors and unreadable bodies with exponential backoff
and full jitter, honouring `Retry-After`, within a total time budget. Never retries the 4xx
answers that retrying cannot fix. The API key only travels in the `Authorization` header.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx
import orjson

from personio_pipeline.apideck.errors import ApideckRequestError, ApideckUnavailableError

DEFAULT_BASE_URL = "https://unify.apideck.com"

log = logging.getLogger("personio_pipeline.apideck")


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
class RequestStats:
    requests: int = 0
    retries: int = 0


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
    return body.get("type_name"), body.get("message") or body.get("error"), (str(detail) if detail else None)


class ApideckApi:
    """An authenticated, retrying JSON client for one Apideck application."""

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
        self.retry = retry
        self.log = logger or log
        self._sleep = sleep
        self._rng = rng or random.Random()

    def close(self) -> None:
        self._http.close()

    def request_json(
        self,
        method: str,
        path: str,
        consumer_id: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        stats: RequestStats | None = None,
        deadline: float | None = None,
        valid: Callable[[Any], bool] = lambda body: isinstance(body, dict),
        what: str = "the request",
    ) -> dict[str, Any]:
        """One call, retried until it succeeds, fails for good, or the time budget is spent."""
        stats = stats if stats is not None else RequestStats()
        deadline = deadline if deadline is not None else time.monotonic() + self.retry.max_total_seconds
        headers = {"x-apideck-consumer-id": consumer_id, **(headers or {})}
        attempt = 0
        while True:
            attempt += 1
            stats.requests += 1
            try:
                return self._once(method, path, consumer_id, headers, params, json, valid, what)
            except _Retryable as problem:
                wait = problem.retry_after
                if wait is None:
                    wait = self.retry.backoff(attempt, self._rng)
                if attempt >= self.retry.max_attempts or wait > deadline - time.monotonic():
                    raise ApideckUnavailableError(
                        consumer_id,
                        f"Apideck kept failing for company '{consumer_id}' after {attempt} attempts "
                        f"({problem.reason}). Remedy: nothing is written; the next run retries. If it "
                        "persists, check Apideck's status page and the connection in Apideck Vault.",
                    ) from None
                stats.retries += 1
                self.log.warning(f"company '{consumer_id}': {problem.reason}; retry {attempt} in {wait:.1f}s")
                self._sleep(wait)

    def _once(self, method, path, consumer_id, headers, params, json, valid, what) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, headers=headers, params=params, json=json)
        except httpx.TimeoutException:
            raise _Retryable("request timed out") from None
        except httpx.TransportError as error:
            raise _Retryable(f"connection problem: {type(error).__name__}") from None
        status = response.status_code
        if status == 429:
            raise _Retryable("rate limited (429)", parse_retry_after(response.headers.get("retry-after")))
        if status >= 500:
            raise _Retryable(f"server error {status}", parse_retry_after(response.headers.get("retry-after")))
        if status >= 400:
            type_name, message, detail = _error_fields(response)
            raise ApideckRequestError(consumer_id, status, type_name, message, detail, what=what)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise _Retryable(f"response was not JSON ({response.headers.get('content-type', '?')})") from None
        if not valid(body):
            raise _Retryable("response did not have the expected shape")
        return body


class ApideckClient:
    """Base of the API-specific clients; keyword options are those of `ApideckApi`."""

    def __init__(self, **options: Any):
        self._api = ApideckApi(**options)

    def close(self) -> None:
        self._api.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
