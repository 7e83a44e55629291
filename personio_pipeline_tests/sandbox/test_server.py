"""The sandbox over real sockets: every answer it gives must be one Apideck's hris.yml allows."""

from __future__ import annotations

import base64
import json
import logging
import math
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import httpx
import pytest

from personio_pipeline.apideck.fields import EMPLOYEE_FIELDS, fields_param
from personio_pipeline.sandbox.config import SandboxConfig
from personio_pipeline.sandbox.contract import shared_contract
from personio_pipeline.sandbox.generator import generate_company
from personio_pipeline.sandbox.server import ERRORS, SandboxServer
from personio_pipeline_tests.support.sandbox import api_headers, api_headers_without, header_problems
from personio_pipeline_tests.support.settings import TEST_API_KEY

CONSUMER = "big-co"
SIZE = 1_234
HEADERS = api_headers(CONSUMER)

# The suite's `sandbox` and `sandbox_http` fixtures (support/sandbox.py), configured for this module.
pytestmark = pytest.mark.sandbox(consumer=CONSUMER, strict=False, company_sizes={CONSUMER: SIZE})


def checked(response: httpx.Response) -> dict:
    """The body, after checking it is what hris.yml documents for this operation and status."""
    body = response.json()
    shared_contract().validate_response(response.url.path, response.request.method, response.status_code, body)
    return body


def employees(http: httpx.Client, headers: dict | None = None, **params) -> httpx.Response:
    return http.get("/hris/employees", params=params, headers=headers)


def without(header: str) -> dict:
    return api_headers_without(header, CONSUMER)


def expect_error(response: httpx.Response, status: int, type_name: str) -> dict:
    body = checked(response)
    assert (response.status_code, body["status_code"], body["type_name"]) == (status, status, type_name)
    assert body["error"] and body["message"] and body["detail"] and body["ref"].startswith("https://")
    return body


# -- listing --------------------------------------------------------------------------------------


def test_full_listing_takes_seven_pages_of_200(sandbox, sandbox_http):
    ids, cursor, pages = [], None, []
    while True:
        body = checked(employees(sandbox_http, limit=200, **({"cursor": cursor} if cursor else {})))
        pages.append(body)
        ids += [record["id"] for record in body["data"]]
        cursor = body["meta"]["cursors"]["next"]
        if cursor is None:
            break
    assert len(pages) == math.ceil(SIZE / 200) == 7
    assert ids == [record["id"] for record in generate_company(CONSUMER, SIZE)]
    assert [page["meta"]["items_on_page"] for page in pages] == [200] * 6 + [34]
    assert {page["meta"]["total_count"] for page in pages} == {SIZE}
    assert pages[0]["meta"]["cursors"]["previous"] is None and pages[0]["links"]["previous"] is None
    assert pages[-1]["links"]["next"] is None
    assert pages[1]["meta"]["cursors"]["previous"] == pages[0]["meta"]["cursors"]["current"]
    assert len(sandbox.request_log) == 7


def test_links_next_can_be_followed(sandbox_http):
    body = checked(employees(sandbox_http, limit=125, fields="id"))
    second = checked(sandbox_http.get(body["links"]["next"]))
    assert second["meta"]["cursors"]["current"] == body["meta"]["cursors"]["next"]
    assert second["data"][0] == {"id": generate_company(CONSUMER, SIZE)[125]["id"]}, "links keep limit and fields"


def test_serves_the_generated_records_unchanged_and_in_utf8(sandbox_http):
    response = employees(sandbox_http, limit=200)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert checked(response)["data"] == generate_company(CONSUMER, SIZE)[:200]
    assert not response.text.isascii(), "non-ASCII names are sent as UTF-8, not escaped"


def test_default_limit_is_20(sandbox_http):
    assert checked(employees(sandbox_http))["meta"]["items_on_page"] == 20


def test_fields_project_records_with_dot_notation(sandbox_http):
    allowed = {field.split(".")[0] for field in EMPLOYEE_FIELDS}
    records = checked(employees(sandbox_http, limit=200, fields=fields_param()))["data"]
    assert records and all(set(record) <= allowed for record in records)
    assert not any("birthday" in record or "gender" in record for record in records)
    narrow = checked(employees(sandbox_http, limit=5, fields="id,emails.email"))["data"]
    assert all(set(record) <= {"id", "emails"} for record in narrow)
    assert all(set(email) == {"email"} for record in narrow for email in record.get("emails", []))


def test_a_connector_that_ignores_fields_serves_every_attribute(sandbox, sandbox_http):
    sandbox.config.ignore_fields = True
    body = checked(employees(sandbox_http, limit=200, fields=fields_param()))
    assert body["data"] == generate_company(CONSUMER, SIZE)[:200]
    assert any("birthday" in record and "phone_numbers" in record for record in body["data"])
    assert body["links"]["next"].count("fields=") == 1, "links keep the request's fields, as Apideck's do"


@pytest.mark.parametrize("profile", ["diverse", "standard"])
def test_serves_the_configured_profile(sandbox, sandbox_http, profile):
    sandbox.config.profile = profile
    assert checked(employees(sandbox_http, limit=50))["data"] == generate_company(CONSUMER, SIZE, profile=profile)[:50]


def test_shared_active_addresses_are_an_option(sandbox, sandbox_http):
    sandbox.config.shared_active_addresses = True
    records = checked(employees(sandbox_http, limit=200))["data"]
    assert records == generate_company(CONSUMER, SIZE, shared_active_addresses=True)[:200]
    assert any(e["email"].startswith("team-") for r in records for e in r.get("emails", []))


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown sandbox profile"):
        SandboxConfig(profile="tidy")


def test_serves_the_configured_churn_day(sandbox, sandbox_http):
    sandbox.config.day = 2
    total = checked(employees(sandbox_http, limit=200))["meta"]["total_count"]
    assert total == len(generate_company(CONSUMER, SIZE, day=2))


def test_keeps_connections_alive(sandbox_http):
    responses = [employees(sandbox_http, limit=1) for _ in range(3)]
    clients = {response.extensions["network_stream"].get_extra_info("client_addr") for response in responses}
    assert len(clients) == 1 and responses[0].http_version == "HTTP/1.1"


# -- request errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, status, type_name",
    [*header_problems(CONSUMER), ({**HEADERS, "x-apideck-service-id": "bamboohr"}, 404, "ConnectionNotFoundError")],
)
def test_header_problems(sandbox, headers, status, type_name):
    with httpx.Client(base_url=sandbox.url, headers=headers) as client:
        body = expect_error(employees(client), status, type_name)
    assert TEST_API_KEY not in json.dumps(body)


def test_missing_consumer_id_names_the_header(sandbox):
    with httpx.Client(base_url=sandbox.url, headers=without("x-apideck-consumer-id")) as client:
        body = expect_error(employees(client), 400, "RequestHeadersValidationError")
    assert body["message"] == "Missing Header: x-apideck-consumer-id"


def test_other_services_are_not_found_but_personio_is(sandbox_http):
    response = employees(sandbox_http, headers={"x-apideck-service-id": "bamboohr"})
    body = expect_error(response, 404, "ConnectionNotFoundError")
    assert body["message"] == "Unified API/service not found"
    assert checked(employees(sandbox_http, headers={"x-apideck-service-id": "personio"}))["data"]


def test_any_key_is_accepted_when_none_is_configured():
    with SandboxServer() as sandbox:
        with httpx.Client(base_url=sandbox.url, headers={**HEADERS, "Authorization": "Bearer any"}) as client:
            assert checked(employees(client))["status_code"] == 200


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5", ""])
def test_bad_limit(sandbox_http, limit):
    expect_error(employees(sandbox_http, limit=limit), 400, "RequestValidationError")


@pytest.mark.parametrize("limit", ["1", "200"])
def test_limit_bounds(sandbox_http, limit):
    assert checked(employees(sandbox_http, limit=limit))["meta"]["items_on_page"] == int(limit)


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        base64.urlsafe_b64encode(b"zoho-crm::page::2").decode(),
        base64.urlsafe_b64encode(f"personio::offset::{SIZE + 1}".encode()).decode(),
    ],
)
def test_bad_cursor(sandbox_http, cursor):
    expect_error(employees(sandbox_http, cursor=cursor), 400, "InvalidCursorError")


def test_a_connector_that_rejects_fields(sandbox, sandbox_http):
    sandbox.config.reject_fields = True
    expect_error(employees(sandbox_http, fields="id"), 400, "RequestValidationError")
    assert checked(employees(sandbox_http))["data"]


def test_unknown_routes_answer_not_found_in_apideck_shape(sandbox, sandbox_http):
    response = sandbox_http.get("/crm/leads")
    assert response.status_code == 404
    shared_contract().validate_schema("NotFoundResponse", response.json())
    expect_error(sandbox_http.post("/hris/employees", json={}), 404, "EntityNotFoundError")


# -- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(ERRORS))
def test_each_fault_status_fits_the_spec_then_service_resumes(sandbox, sandbox_http, status):
    sandbox.queue_faults([{"status": status}])
    expect_error(employees(sandbox_http), status, ERRORS[status][0])
    assert checked(employees(sandbox_http))["status_code"] == 200


def test_429_carries_retry_after(sandbox, sandbox_http):
    sandbox.queue_faults([{"status": 429, "retry_after": 7}, {"status": 429}, {"status": 503, "retry_after": 2}])
    assert [employees(sandbox_http).headers.get("retry-after") for _ in range(4)] == ["7", "1", "2", None]


def test_delay_fault_answers_normally_but_late(sandbox, sandbox_http):
    sandbox.queue_faults([{"delay": 0.3}])
    started = time.perf_counter()
    assert checked(employees(sandbox_http))["status_code"] == 200
    assert time.perf_counter() - started >= 0.3


def test_repeat_cursor_serves_the_cursor_just_used_as_next(sandbox, sandbox_http):
    first = checked(employees(sandbox_http, limit=100))
    used = first["meta"]["cursors"]["next"]
    sandbox.queue_faults([{"repeat_cursor": True}])
    assert checked(employees(sandbox_http, limit=100, cursor=used))["meta"]["cursors"]["next"] == used


def test_faults_apply_in_order_one_per_request(sandbox, sandbox_http):
    sandbox.queue_faults([{"status": 502}, {}, {"status": 402}])
    assert [employees(sandbox_http).status_code for _ in range(4)] == [502, 200, 402, 200]


def test_requests_refused_for_their_headers_do_not_use_up_faults(sandbox, sandbox_http):
    sandbox.queue_faults([{"status": 503}])
    with httpx.Client(base_url=sandbox.url, headers=without("Authorization")) as anonymous:
        assert employees(anonymous).status_code == 401
    assert employees(sandbox_http).status_code == 503


@pytest.mark.parametrize("fault", [{"status": 418}, {"status": 200}, {"sleep": 1}, {"delay": -1}])
def test_unknown_faults_are_refused_up_front(sandbox, fault):
    with pytest.raises(ValueError):
        sandbox.queue_faults([fault])


def test_rate_limit_every_nth_request():
    config = SandboxConfig(rate_limit_every=3, retry_after_seconds=2.5)
    with SandboxServer(config) as sandbox, httpx.Client(base_url=sandbox.url, headers=HEADERS) as client:
        responses = [employees(client) for _ in range(6)]
    assert [r.status_code for r in responses] == [200, 200, 429, 200, 200, 429]
    limited = responses[2]
    expect_error(limited, 429, "ConnectorRateLimitError")
    assert limited.headers["retry-after"] == "2.5"


def test_error_rate_is_deterministic_for_a_seed():
    def statuses(seed: int) -> list[int]:
        with SandboxServer(SandboxConfig(error_rate=0.5, seed=seed)) as sandbox:
            with httpx.Client(base_url=sandbox.url, headers=HEADERS) as client:
                responses = [employees(client, limit=1) for _ in range(20)]
        for response in responses:
            checked(response)
        return [response.status_code for response in responses]

    first = statuses(7)
    assert first == statuses(7) and set(first) == {200, 503}


def test_latency_is_added_to_every_response():
    with SandboxServer(SandboxConfig(latency_seconds=0.2)) as sandbox:
        with httpx.Client(base_url=sandbox.url, headers=HEADERS) as client:
            started = time.perf_counter()
            employees(client)
            assert time.perf_counter() - started >= 0.2


# -- strict mode ----------------------------------------------------------------------------------


def test_strict_mode_refuses_to_send_an_invalid_page(caplog):
    bad = {"id": "1", "emails": [{"email": "a@b.example", "type": "work", "verified": True}]}
    with SandboxServer(SandboxConfig(strict=True)) as sandbox, httpx.Client(base_url=sandbox.url, headers=HEADERS) as c:
        assert checked(employees(c))["status_code"] == 200
        sandbox.set_company(CONSUMER, [bad])
        with caplog.at_level(logging.ERROR):
            body = expect_error(employees(c), 500, "SandboxContractViolation")
    assert "verified" in body["detail"]
    assert any("breaks hris.yml" in message for message in caplog.messages)


def test_strict_mode_serves_every_page_of_a_diverse_company_with_every_attribute():
    """Every record of the default profile, in full (a connector ignoring `fields`), is spec-valid."""
    config = SandboxConfig(strict=True, ignore_fields=True, company_sizes={CONSUMER: SIZE})
    with SandboxServer(config) as sandbox, httpx.Client(base_url=sandbox.url, headers=HEADERS, timeout=60) as c:
        cursor, records = None, []
        while True:
            body = checked(employees(c, limit=200, fields=fields_param(), **({"cursor": cursor} if cursor else {})))
            records += body["data"]
            if not (cursor := body["meta"]["cursors"]["next"]):
                break
    assert records == generate_company(CONSUMER, SIZE)
    assert any(not e["email"].isascii() for r in records for e in r.get("emails", []))


# -- controls -------------------------------------------------------------------------------------


def test_set_company_overrides_generation_until_reset(sandbox, sandbox_http):
    records = [{"id": "7", "first_name": "Zoë", "last_name": "Ćwik", "emails": [], "gender": "female"}]
    sandbox.set_company(CONSUMER, records)
    records[0]["first_name"] = "changed after the call"
    assert checked(employees(sandbox_http))["data"] == [{**records[0], "first_name": "Zoë"}]
    assert checked(employees(sandbox_http, fields="id,first_name"))["data"] == [{"id": "7", "first_name": "Zoë"}]
    sandbox.reset()
    assert checked(employees(sandbox_http))["meta"]["total_count"] == SIZE


def test_request_log_records_the_call_but_never_credentials(sandbox, sandbox_http):
    employees(sandbox_http, limit=3, fields="id")
    with httpx.Client(base_url=sandbox.url, headers=without("x-apideck-consumer-id")) as client:
        employees(client)
    first, second = sandbox.request_log
    assert first == {
        "method": "GET",
        "path": "/hris/employees",
        "query": {"limit": "3", "fields": "id"},
        "consumer_id": CONSUMER,
        "status": 200,
    }
    assert second["consumer_id"] is None and second["status"] == 400
    assert TEST_API_KEY not in json.dumps(sandbox.request_log)
    sandbox.reset()
    assert sandbox.request_log == []


def test_controls_over_http(sandbox):
    control = httpx.Client(base_url=f"{sandbox.url}/_sandbox")
    consumer = "acme co/2"
    records = [{"id": "1", "first_name": "Ada"}, {"id": "2", "first_name": "Łucja"}]
    stored = control.put(f"/companies/{quote(consumer, safe='')}", json={"employees": records})
    assert stored.json() == {"consumer_id": consumer, "employees": 2}
    assert sandbox.request_log == [], "control calls are not API traffic"
    with httpx.Client(base_url=sandbox.url, headers={**HEADERS, "x-apideck-consumer-id": consumer}) as client:
        assert checked(employees(client))["data"] == records
        assert control.post("/faults", json={"faults": [{"status": 503}]}).json() == {"queued": 1}
        assert employees(client).status_code == 503
        assert [entry["status"] for entry in control.get("/requests").json()["requests"]] == [200, 503]
        assert control.post("/reset").json() == {"reset": True}
        assert control.get("/requests").json() == {"requests": []}
        assert checked(employees(client))["meta"]["total_count"] == sandbox.config.default_company_size
    assert control.post("/faults", json={"faults": [{"status": 999}]}).status_code == 400
    assert control.post("/faults", content=b"{not json").status_code == 400
    assert control.put("/companies/x", json={"people": []}).status_code == 400
    assert control.get("/nothing-here").status_code == 404
    control.close()


# -- lifecycle ------------------------------------------------------------------------------------


def test_stop_closes_pooled_connections():
    sandbox = SandboxServer().start()
    client = httpx.Client(base_url=sandbox.url, headers=HEADERS)
    assert employees(client).status_code == 200
    sandbox.stop()
    with pytest.raises(httpx.TransportError):
        employees(client)
    client.close()


def test_serve_prints_its_url_and_stops_on_ctrl_c():
    script = "from personio_pipeline.sandbox.server import serve; serve()"
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert line.startswith("Apideck sandbox listening on http://127.0.0.1:")
        assert checked(httpx.get(f"{url}/hris/employees", headers=HEADERS))["status_code"] == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.stdout.close()


# -- speed ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_serves_100k_employees_quickly():
    with SandboxServer(SandboxConfig(company_sizes={"huge-co": 100_000})) as sandbox:
        headers = {**HEADERS, "x-apideck-consumer-id": "huge-co"}
        with httpx.Client(base_url=sandbox.url, headers=headers, timeout=60) as client:
            timings = []
            for _ in range(2):
                started, cursor, rows = time.perf_counter(), None, 0
                while True:
                    params = {"limit": 200, "fields": fields_param(), **({"cursor": cursor} if cursor else {})}
                    body = client.get("/hris/employees", params=params).json()
                    rows += len(body["data"])
                    if not (cursor := body["meta"]["cursors"]["next"]):
                        break
                timings.append(time.perf_counter() - started)
    first, repeated = timings
    print(f"\n100,000 employees in 500 pages: {first:.1f}s with generation, {repeated:.1f}s repeated")
    assert rows == 100_000
    assert repeated < 60
