"""Steps that touch Apideck or the database are tried again after transient failures only.

Real parts: PostgreSQL behind a TCP relay that drops the first connection (as a restarting
server or a flaky network does), the strict sandbox answering 503 until the client's own
retries are used up, and answering 401. A retry shows in the run as STEP_UP_FOR_RETRY and a
STEP_RESTARTED of the step; a refusal fails the step at its first attempt.
"""

from __future__ import annotations

import socket
import threading

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa

from personio_pipeline.apideck.errors import ApideckRequestError, ApideckUnavailableError
from personio_pipeline.companies import registry
from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.defs.shared.resources import ApideckResource
from personio_pipeline.runtime.transient import is_transient
from personio_pipeline.store.db import SchemaNotCurrentError
from personio_pipeline.store.safeguard import SafeguardError
from personio_pipeline_tests.support.pipeline_runs import (
    COMPANY,
    RAW_STEP,
    WRITE_STEP,
    resources_for,
    run_sync,
)
from personio_pipeline_tests.support.settings import TEST_APP_ID
from personio_pipeline_tests.support.stores import empty_tables


pytestmark = pytest.mark.slow  # the whole sync graph with step retries, and a relay that drops PostgreSQL


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setenv("PERSONIO_STEP_RETRIES", "2")
    monkeypatch.setenv("PERSONIO_STEP_RETRY_DELAY_SECONDS", "0.2")


def attempts(result: dg.ExecuteInProcessResult, step_key: str) -> int:
    starts = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED)
    return sum(1 for e in result.all_events if e.event_type in starts and e.step_key == step_key)


def retries(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]


class DroppingRelay:
    """TCP relay to `upstream` that closes the first `drop` connections as soon as they arrive."""

    def __init__(self, upstream: tuple[str, int], drop: int = 1):
        self.upstream, self.drop = upstream, drop
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self.drop:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


@pytest.mark.postgres
def test_database_refusing_the_first_connection_is_retried_and_the_run_succeeds(
    postgres_database, sandbox_day0, tmp_path, quick_retries
):
    empty_tables(postgres_database)
    with postgres_database.begin() as conn:
        registry.register(conn, COMPANY, "ACME GmbH")
    url = postgres_database.url
    relay = DroppingRelay((url.host or "127.0.0.1", url.port or 5432))
    try:
        relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
        result = run_sync(resources_for(sandbox_day0.url, relayed, tmp_path / "data"))
    finally:
        relay.close()
    assert result.success
    assert relay.accepted >= 2
    assert retries(result) == [RAW_STEP] and attempts(result, RAW_STEP) == 2
    assert attempts(result, WRITE_STEP) == 1
    with postgres_database.connect() as conn:
        assert registry.get(conn, COMPANY).last_synced_at is not None


def test_apideck_5xx_left_after_the_clients_retries_is_retried(sandbox_day0, store_day0, tmp_path, quick_retries):
    # The client tries each page twice: two 503s use up its budget, the step's retry succeeds.
    sandbox_day0.queue_faults([{"status": 503}, {"status": 503}])
    resources = resources_for(sandbox_day0.url, store_day0.url, tmp_path / "data", max_attempts=2)
    result = run_sync(resources)
    assert result.success
    assert retries(result) == [RAW_STEP] and attempts(result, RAW_STEP) == 2


def test_401_is_one_attempt_without_retry(sandbox_day0, store_day0, tmp_path, quick_retries):
    resources = resources_for(sandbox_day0.url, store_day0.url, tmp_path / "data")
    resources["apideck"] = ApideckResource(api_key="sk_revoked", app_id=TEST_APP_ID, base_url=sandbox_day0.url)
    result = run_sync(resources)
    assert not result.success
    assert retries(result) == [] and attempts(result, RAW_STEP) == 1
    employee_requests = [r for r in sandbox_day0.request_log if r["path"].startswith("/hris/employees")]
    assert [r["status"] for r in employee_requests] == [401]


def _raised(error: BaseException, context: BaseException | None = None) -> BaseException:
    """`error` as raised while handling `context` (how the assets wrap errors in dg.Failure)."""
    try:
        try:
            if context is not None:
                raise context
        finally:
            raise error
    except BaseException as raised:  # noqa: BLE001
        return raised


def _psycopg(cls: type, sqlstate: str | None) -> BaseException:
    error = cls("test")
    if sqlstate is not None:
        error.sqlstate = sqlstate  # what the server would send; psycopg's class defines it too
    return error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (sa.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection failed")), True),
        (sa.exc.OperationalError("SELECT 1", {}, psycopg.errors.SerializationFailure("test")), True),
        (sa.exc.OperationalError("SELECT 1", {}, psycopg.errors.DeadlockDetected("test")), True),
        (sa.exc.OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("test")), True),
        (sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("test")), False),
        (sa.exc.DataError("INSERT", {}, psycopg.errors.StringDataRightTruncation("test")), False),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (_raised(dg.Failure("company 'acme': Apideck unavailable"), ApideckUnavailableError("acme", "503")), True),
        (_raised(dg.Failure("company 'acme': HTTP 401"), ApideckRequestError("acme", 401, "Unauthorized", "bad key")),
         False),
        (_raised(dg.Failure("safeguard"), SafeguardError("stop")), False),
        (SchemaNotCurrentError("behind"), False),
        (UnknownCompanyError("ghost"), False),
        (KeyError("bug"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_what_counts_as_transient(error, transient):
    assert is_transient(error) is transient
