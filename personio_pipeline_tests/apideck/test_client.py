"""The HRIS client against the real sandbox server over loopback sockets."""

from __future__ import annotations

import math

import httpx
import pytest

from personio_pipeline.apideck.client import ApideckHrisClient
from personio_pipeline.apideck.errors import (
    ApideckProtocolError,
    ApideckRequestError,
    ApideckUnavailableError,
)
from personio_pipeline.apideck.fields import EMPLOYEE_FIELDS
from personio_pipeline.apideck.http import RetrySettings, parse_retry_after
from personio_pipeline.sandbox.generator import generate_company
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

FAST_RETRY = RetrySettings(max_attempts=5, base_delay_seconds=0.01, max_delay_seconds=0.05, max_total_seconds=10)


def make_client(sandbox, *, api_key=TEST_API_KEY, retry=FAST_RETRY, logger=None, sleeps=None, timeout=None):
    """A client of the sandbox that never sleeps (waits go to `sleeps`). No HTTP timeout unless a
    test is about timeouts: a loaded machine can take seconds to serve a page (generating and
    validating it), and a timeout would turn that into a retry and an extra request. A hang is
    still bounded by pytest-timeout."""
    sleep = sleeps.append if sleeps is not None else (lambda _seconds: None)
    return ApideckHrisClient(
        api_key=api_key,
        app_id=TEST_APP_ID,
        base_url=sandbox.url,
        retry=retry,
        logger=logger,
        sleep=sleep,
        timeout_seconds=timeout,
    )


def hris_requests(sandbox):
    return [entry for entry in sandbox.request_log if entry["path"] == "/hris/employees"]


def allowed_top_level_keys():
    return {field.split(".")[0] for field in EMPLOYEE_FIELDS}


def test_lists_every_page_with_the_minimum_number_of_requests(sandbox):
    sandbox.config.company_sizes["big-co"] = 1234
    with make_client(sandbox) as client:
        records, stats = client.list_employees("big-co")

    expected = generate_company("big-co", 1234)
    assert [r["id"] for r in records] == [r["id"] for r in expected]
    assert stats.requests == math.ceil(1234 / 200) == 7
    assert stats.pages == 7 and stats.rows == 1234 and stats.retries == 0
    assert stats.total_count == 1234
    # What the server saw: seven answered requests of 200, each cursor followed once, in order.
    logged = hris_requests(sandbox)
    assert [entry["status"] for entry in logged] == [200] * 7
    assert {entry["query"]["limit"] for entry in logged} == {"200"}
    assert all(entry["consumer_id"] == "big-co" for entry in logged)
    cursors = [entry["query"].get("cursor") for entry in logged]
    assert cursors[0] is None and None not in cursors[1:] and len(set(cursors)) == 7


def test_asks_only_for_the_needed_attributes(sandbox):
    with make_client(sandbox) as client:
        records, _ = client.list_employees("small-co")
    assert hris_requests(sandbox)[0]["query"]["fields"] == ",".join(EMPLOYEE_FIELDS)
    assert records and all(set(r) <= allowed_top_level_keys() for r in records)


def test_falls_back_when_the_connector_rejects_fields(sandbox, captured_logger):
    logger, lines = captured_logger
    sandbox.config.reject_fields = True
    with make_client(sandbox, logger=logger) as client:
        records, stats = client.list_employees("picky-co")

    assert stats.fields_fallback
    assert len(records) == len(generate_company("picky-co", sandbox.config.default_company_size))
    assert all(set(r) <= allowed_top_level_keys() for r in records), "trimmed locally"
    assert all("compensation_rate" not in job for r in records for job in r.get("jobs") or [])
    assert any("rejected `fields`" in line for line in lines)
    assert "fields" not in hris_requests(sandbox)[-1]["query"]


def test_recovers_from_429_honouring_retry_after(sandbox):
    sandbox.queue_faults([{"status": 429, "retry_after": 2}, {"status": 429, "retry_after": 3}])
    sleeps: list[float] = []
    with make_client(sandbox, sleeps=sleeps) as client:
        records, stats = client.list_employees("rl-co")
    assert sleeps == [2.0, 3.0]
    assert stats.retries == 2
    assert len(records) == sandbox.config.default_company_size


@pytest.mark.parametrize("status", [500, 502, 503])
def test_recovers_from_server_errors_with_backoff(sandbox, status):
    sandbox.queue_faults([{"status": status}, {"status": status}])
    sleeps: list[float] = []
    with make_client(sandbox, sleeps=sleeps) as client:
        records, stats = client.list_employees("flaky-co")
    assert stats.retries == 2 and len(sleeps) == 2
    assert all(0 <= s <= FAST_RETRY.max_delay_seconds for s in sleeps)
    assert [r["id"] for r in records] == [r["id"] for r in generate_company("flaky-co", sandbox.config.default_company_size)]


def test_recovers_from_a_timeout(sandbox):
    sandbox.queue_faults([{"delay": 1.5}])
    with make_client(sandbox, timeout=0.5) as client:
        records, stats = client.list_employees("slow-co")
    assert stats.retries == 1
    assert len(records) == sandbox.config.default_company_size


def test_gives_up_after_the_retry_budget_with_a_clear_error(sandbox):
    sandbox.queue_faults([{"status": 503}] * 10)
    with make_client(sandbox) as client, pytest.raises(ApideckUnavailableError) as raised:
        client.list_employees("down-co")
    assert "down-co" in str(raised.value) and "5 attempts" in str(raised.value)
    assert len(hris_requests(sandbox)) == FAST_RETRY.max_attempts


def test_a_retry_after_beyond_the_time_budget_fails_without_waiting(sandbox):
    sandbox.queue_faults([{"status": 429, "retry_after": 3600}])
    sleeps: list[float] = []
    with make_client(sandbox, sleeps=sleeps) as client, pytest.raises(ApideckUnavailableError):
        client.list_employees("patient-co")
    assert sleeps == []


def test_401_fails_fast_naming_company_type_and_remedy(sandbox):
    with make_client(sandbox, api_key="wrong-key") as client, pytest.raises(ApideckRequestError) as raised:
        client.list_employees("acme-gmbh")
    message = str(raised.value)
    assert raised.value.status_code == 401
    assert "acme-gmbh" in message
    assert "UnauthorizedError" in message
    assert "re-authorise the Personio connection in Apideck Vault" in message
    assert len(hris_requests(sandbox)) == 1, "no retry on 401"
    assert "wrong-key" not in message


@pytest.mark.parametrize("status", [402, 403, 404, 422])
def test_other_client_errors_are_not_retried(sandbox, status):
    sandbox.queue_faults([{"status": status}] * 2)
    with make_client(sandbox) as client, pytest.raises(ApideckRequestError) as raised:
        client.list_employees("err-co")
    assert raised.value.status_code == status and "err-co" in str(raised.value)
    assert "Remedy:" in str(raised.value)
    assert len(hris_requests(sandbox)) == 1


def test_a_400_that_is_not_about_fields_still_fails(sandbox):
    sandbox.queue_faults([{"status": 400}, {"status": 400}])
    with make_client(sandbox) as client, pytest.raises(ApideckRequestError) as raised:
        client.list_employees("bad-co")
    assert raised.value.status_code == 400
    assert [("fields" in e["query"]) for e in hris_requests(sandbox)] == [True, False]


def test_repeated_cursor_is_detected(sandbox):
    sandbox.config.company_sizes["loop-co"] = 600
    sandbox.queue_faults([{}, {"repeat_cursor": True}])
    with make_client(sandbox) as client, pytest.raises(ApideckProtocolError) as raised:
        client.list_employees("loop-co")
    assert "loop-co" in str(raised.value) and "cursor" in str(raised.value)
    assert len(hris_requests(sandbox)) <= 3


def test_api_key_never_logged(sandbox, captured_logger, caplog):
    logger, lines = captured_logger
    sandbox.queue_faults([{"status": 429, "retry_after": 0}, {"status": 503}])
    caplog.set_level("DEBUG")
    with make_client(sandbox, logger=logger) as client:
        client.list_employees("secret-co")
    with make_client(sandbox, api_key=TEST_API_KEY + "x", logger=logger) as client:
        with pytest.raises(ApideckRequestError) as raised:
            client.list_employees("secret-co")
    everything = "\n".join(lines) + caplog.text + str(raised.value)
    assert lines, "the client logged progress"
    assert TEST_API_KEY not in everything
    assert all("authorization" not in {k.lower() for k in entry} for entry in sandbox.request_log)


def test_surfaces_meta_warnings(sandbox, captured_logger):
    logger, lines = captured_logger
    warning = {"type": "downstream_request_failed", "status_code": 429, "operation": "getManager"}
    transport = _WarningTransport(sandbox.url, warning)
    client = ApideckHrisClient(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url,
                               retry=FAST_RETRY, logger=logger, transport=transport)
    with client:
        _, stats = client.list_employees("warn-co")
    assert stats.warnings == [warning] * stats.pages
    assert any("getManager" in line for line in lines)


class _WarningTransport(httpx.HTTPTransport):
    """Adds a spec-valid `meta.warnings` entry to each sandbox page (the sandbox has no knob
    for degraded connector data)."""

    def __init__(self, base_url, warning):
        super().__init__()
        self._warning = warning

    def handle_request(self, request):
        response = super().handle_request(request)
        response.read()
        body = response.json()
        body.setdefault("meta", {})["warnings"] = [self._warning]
        return httpx.Response(response.status_code, json=body)


@pytest.mark.parametrize(
    "value, expected",
    [("3", 3.0), ("0.5", 0.5), (None, None), ("", None), ("soon", None), ("-4", 0.0)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
