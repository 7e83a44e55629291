"""Faults while listing employees, through the whole Dagster graph against SQLite.

The company is already synced (day 0); the run under test reads day 1. Every fault must end in
one of two ways: the run recovers and stores exactly what a clean run stores (same raw records,
same Teammeter state), or it fails with an error that names the company, and Teammeter and the
stored extract are exactly as before (nothing is written). Faults come from the sandbox's
knobs (`queue_faults`, error rate, rate limit) and, for what a network or gateway does to a
response, from a proxy between client and sandbox (`proxy.py`).
"""

from __future__ import annotations

import re
import time

import dagster as dg
import pytest

from personio_pipeline.sandbox.replies import encode_cursor
from personio_pipeline_tests.reliability.proxy import FaultProxy
from personio_pipeline_tests.support.pipeline_runs import (
    COMPANY,
    WRITE_STEP,
    dump_difference,
    executed_steps,
    expected_raw,
    logical_dump,
    raw_metadata,
    resources_for,
    run_sync,
    step_failure,
    stored_raw,
)
from personio_pipeline_tests.support.stores import dump

OK = {}  # the first page is served normally, so faults hit the middle of the listing


pytestmark = pytest.mark.slow  # every fault through the whole sync graph


@pytest.fixture
def day1(sandbox_day0):
    sandbox_day0.config.day = 1
    return sandbox_day0


def assert_recovered(result, store, reference, *, retries: int | None = None):
    assert result.success, step_failure(result)
    assert stored_raw(store.data_dir) == expected_raw(day=1), "raw records differ from a clean listing"
    state = logical_dump(store.engine())
    assert state == reference, "Teammeter differs from a clean day-1 sync:\n" + dump_difference(state, reference)
    if retries is not None:
        assert raw_metadata(result)["retries"] == retries


def assert_failed_without_writing(result, store, before, raw_before, *phrases: str) -> str:
    assert not result.success
    message = step_failure(result)
    assert message is not None, "the raw step must be the one that fails"
    assert f"'{COMPANY}'" in message, message
    for phrase in phrases:
        assert phrase in message, message
    assert WRITE_STEP not in executed_steps(result), "the Teammeter write must not start"
    assert dump(store.engine()) == before, "Teammeter changed although the run failed"
    assert stored_raw(store.data_dir) == raw_before, "the stored extract changed although the run failed"
    return message


def snapshot(store):
    return dump(store.engine()), stored_raw(store.data_dir)


# ---------------------------------------------------------------- sandbox knobs: recover


@pytest.mark.parametrize(
    "faults, retries",
    [
        pytest.param([OK, *[{"status": 429, "retry_after": 0.3}] * 3], 3, id="429-burst-with-retry-after"),
        pytest.param([OK, {"status": 500}, {"status": 502}, {"status": 503}], 3, id="5xx-burst"),
        pytest.param([OK, {"status": 503, "retry_after": 0.2}, {"status": 429}], 2, id="503-then-429"),
    ],
)
def test_bursts_of_retryable_answers_recover(day1, store_day0, clean_day1_state, faults, retries):
    day1.queue_faults(faults)
    instance = dg.DagsterInstance.ephemeral()
    result = run_sync(resources_for(day1.url, store_day0.url, store_day0.data_dir), instance=instance)
    assert_recovered(result, store_day0, clean_day1_state, retries=retries)
    # The client's own record of each wait (its retry warnings in the run's log), one per fault:
    # at least the Retry-After the fault asked for.
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    waits = [float(wait) for message in messages for wait in re.findall(r"retry \d+ in ([\d.]+)s", message)]
    assert len(waits) == retries, messages
    for fault, wait in zip(faults[1:], waits):
        assert wait >= fault.get("retry_after", 0), "Retry-After must be honoured"


def test_a_timeout_mid_listing_recovers(day1, store_day0, clean_day1_state):
    day1.queue_faults([OK, {"delay": 1.5}])
    resources = resources_for(day1.url, store_day0.url, store_day0.data_dir, timeout_seconds=0.5)
    assert_recovered(run_sync(resources), store_day0, clean_day1_state, retries=1)


@pytest.mark.slow
def test_a_flaky_rate_limited_apideck_recovers(day1, store_day0, clean_day1_state):
    """Every 2nd request is a 429, a fifth of the others a 503 (seeded, so the same every run)."""
    day1.config.rate_limit_every, day1.config.retry_after_seconds, day1.config.error_rate = 2, 0.05, 0.2
    try:
        result = run_sync(resources_for(day1.url, store_day0.url, store_day0.data_dir, max_attempts=6))
    finally:
        day1.config.rate_limit_every, day1.config.error_rate, day1.config.retry_after_seconds = 0, 0.0, 1.0
    assert_recovered(result, store_day0, clean_day1_state)
    assert raw_metadata(result)["retries"] >= 2


# ---------------------------------------------------------------- sandbox knobs: fail without writing


@pytest.mark.parametrize(
    "faults, phrases",
    [
        pytest.param([OK, *[{"status": 429, "retry_after": 0.1}] * 4], ["after 4 attempts", "429"], id="429-persists"),
        pytest.param([OK, *[{"status": 503}] * 4], ["after 4 attempts", "server error 503"], id="503-persists"),
        pytest.param([OK, {"status": 401}], ["re-authorise the Personio connection in Apideck Vault"],
                     id="401-mid-listing"),
        pytest.param([OK, {"repeat_cursor": True}], ["cursor already followed"], id="repeat-cursor-page-2"),
    ],
)
def test_lasting_faults_fail_naming_the_company_and_write_nothing(day1, store_day0, faults, phrases):
    before, raw_before = snapshot(store_day0)
    day1.queue_faults(faults)
    result = run_sync(resources_for(day1.url, store_day0.url, store_day0.data_dir))
    assert_failed_without_writing(result, store_day0, before, raw_before, *phrases)


@pytest.mark.slow
def test_lasting_timeouts_fail_naming_the_company_and_write_nothing(day1, store_day0):
    before, raw_before = snapshot(store_day0)
    day1.queue_faults([OK, *[{"delay": 0.8}] * 4])
    resources = resources_for(day1.url, store_day0.url, store_day0.data_dir, timeout_seconds=0.3)
    result = run_sync(resources)
    assert_failed_without_writing(result, store_day0, before, raw_before, "after 4 attempts", "timed out")


def test_a_retry_after_beyond_the_budget_fails_at_once(day1, store_day0):
    before, raw_before = snapshot(store_day0)
    day1.queue_faults([OK, {"status": 429, "retry_after": 3600}])
    started = time.monotonic()
    result = run_sync(resources_for(day1.url, store_day0.url, store_day0.data_dir))
    assert_failed_without_writing(result, store_day0, before, raw_before, "429")
    assert time.monotonic() - started < 30, "must not sleep through an hour-long Retry-After"


def test_a_cursor_repeated_on_the_first_page_is_caught(day1, store_day0):
    """The first page names its own cursor (`meta.cursors.current`) as the next one: following it
    would read page 1 again, so the client stops on page 1, before a second request."""
    before, raw_before = snapshot(store_day0)
    day1.queue_faults([{"repeat_cursor": True}])
    result = run_sync(resources_for(day1.url, store_day0.url, store_day0.data_dir))
    assert_failed_without_writing(result, store_day0, before, raw_before, "cursor already followed", "(page 1)")
    # Only this run's requests count: a page of the previous test in this module may still be
    # logged by the shared sandbox's server thread after its reset (seen under load).
    requests = listing_requests(day1)
    first_pages = [r for r in requests if "cursor" not in r["query"]]
    own_cursor = encode_cursor(0)
    assert len(first_pages) == 1, "page 1 is read once"
    assert not [r for r in requests if r["query"].get("cursor") == own_cursor], "the repeated cursor must not be requested"


def listing_requests(sandbox) -> list[dict]:
    return [entry for entry in sandbox.request_log if entry["path"] == "/hris/employees"]


# ---------------------------------------------------------------- through the proxy


@pytest.fixture
def proxy(day1):
    with FaultProxy(day1.url) as fault_proxy:
        yield fault_proxy


PROXY_FAULTS = {
    "drop_mid_body": "connection problem",
    "drop_before_response": "connection problem",
    "malformed_json": "not JSON",
    "html_502": "server error 502",
    "html_200": "not JSON",
    "data_not_list": "expected shape",
    "data_null": "expected shape",
}


@pytest.mark.parametrize("fault", list(PROXY_FAULTS))
def test_a_broken_page_once_recovers(proxy, store_day0, clean_day1_state, fault):
    proxy.queue(None, fault)
    result = run_sync(resources_for(proxy.url, store_day0.url, store_day0.data_dir))
    assert_recovered(result, store_day0, clean_day1_state, retries=1)
    assert proxy.served[:3] == ["ok", fault, "ok"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(PROXY_FAULTS))
def test_a_page_broken_every_time_fails_naming_the_company_and_writes_nothing(proxy, store_day0, fault):
    before, raw_before = snapshot(store_day0)
    proxy.queue(None)
    proxy.always = fault
    result = run_sync(resources_for(proxy.url, store_day0.url, store_day0.data_dir))
    message = assert_failed_without_writing(result, store_day0, before, raw_before, "after 4 attempts",
                                            PROXY_FAULTS[fault])
    assert "nothing is written" in message
    assert proxy.served == ["ok", *[fault] * 4]
