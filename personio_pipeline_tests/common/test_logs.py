"""PERSONIO_LOG_FORMAT=json: every line a run or the CLI writes to stderr is one JSON object with
company, run id, step, level and message, and none carries the API key or an e-mail address.

The syncs run as the data team runs them, in their own processes against a sandbox that requires
a recognisable (canary) key: a first sync at DEBUG with a rate-limited page (warnings and every
Dagster event), then `personio-pipeline sync` with a wrong key (errors)."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys

import pytest

from personio_pipeline.common.logs import JsonLineFormatter, error_summary
from personio_pipeline.sandbox.config import SandboxConfig
from personio_pipeline.sandbox.generator import generate_company
from personio_pipeline.sandbox.server import SandboxServer
from personio_pipeline_tests.support.settings import TEST_APP_ID

CANARY = f"sk_live_CANARY_{secrets.token_hex(12)}"
WRONG_KEY = f"sk_live_WRONG_{secrets.token_hex(8)}"
COMPANY, SIZE = "acme", 450  # three pages
FIELDS = {"ts", "level", "logger", "message", "company", "run_id", "job", "step", "event"}
BIN = os.path.dirname(sys.executable)

DEBUG_SYNC = """
import dagster as dg
from personio_pipeline.definitions import build_defs
job = build_defs().resolve_job_def("sync_company")
result = job.execute_in_process(instance=dg.DagsterInstance.get(), partition_key="acme", raise_on_error=False,
                                run_config={"loggers": {"console": {"config": {"log_level": "DEBUG"}}}})
print("success" if result.success else "failure", result.run_id)
"""


pytestmark = pytest.mark.slow  # three CLI and sync processes


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """(stdout + stderr of every process, the parsed stderr lines of the two syncs, their run ids)."""
    folder = tmp_path_factory.mktemp("json_logs")
    (folder / "dagster_home").mkdir()
    config = SandboxConfig(api_key=CANARY, app_id=TEST_APP_ID, strict=True, company_sizes={COMPANY: SIZE})
    with SandboxServer(config) as sandbox:
        env = {
            **os.environ,
            "PERSONIO_LOG_FORMAT": "json",
            "APIDECK_BASE_URL": sandbox.url,
            "APIDECK_API_KEY": CANARY,
            "APIDECK_APP_ID": TEST_APP_ID,
            "PERSONIO_PIPELINE_DATA_DIR": str(folder / "data"),
            "TEAMMETER_DATABASE_URL": f"sqlite:///{folder / 'teammeter.sqlite'}",
            "DAGSTER_HOME": str(folder / "dagster_home"),
        }
        added = run([f"{BIN}/personio-pipeline", "tenants", "add", COMPANY, "--name", "ACME GmbH"], env)
        assert added.returncode == 0, added.stderr
        sandbox.queue_faults([{}, {"status": 429, "retry_after": 0.1}])
        first = run([sys.executable, "-c", DEBUG_SYNC], env)
        refused = run([f"{BIN}/personio-pipeline", "sync", COMPANY], {**env, "APIDECK_API_KEY": WRONG_KEY})
    assert first.stdout.startswith("success"), first.stderr[-3000:]
    assert refused.returncode == 1 and "FAILED" in refused.stdout, refused.stderr[-3000:]
    printed = "\n".join(p.stdout + p.stderr for p in (added, first, refused))
    lines = [line for p in (first, refused) for line in p.stderr.splitlines() if line.strip()]
    not_json = [line for line in lines if not _is_json_object(line)]
    assert not not_json, f"{len(not_json)} stderr lines are not JSON, e.g. {not_json[:3]}"
    refused_run = re.search(r"\(run ([0-9a-f-]+)\)", refused.stdout).group(1)
    return printed, [json.loads(line) for line in lines], (first.stdout.split()[1], refused_run)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_every_line_names_company_run_step_level_and_message(logged):
    _, lines, (first_run, refused_run) = logged
    assert len(lines) > 50, "the DEBUG sync logs every Dagster event"
    for line in lines:
        assert FIELDS <= set(line), line
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"} and line["message"], line
        if line["step"] is not None:
            assert line["run_id"] is not None, line
        if line["run_id"] is not None:
            assert line["company"] == COMPANY and line["job"] == "sync_company", line
    run_ids = {line["run_id"] for line in lines}
    assert {first_run, refused_run} <= run_ids
    steps = {line["step"] for line in lines if line["run_id"] == first_run}
    assert {"apideck__employees", "org_model", "teammeter_sync"} <= steps
    events = {line["event"] for line in lines if line["run_id"] == first_run}
    assert {"STEP_START", "STEP_SUCCESS", "ASSET_MATERIALIZATION"} <= events


def test_warnings_and_failures_are_structured(logged):
    _, lines, (first_run, refused_run) = logged
    retries = [l for l in lines if l["level"] == "WARNING" and l["run_id"] == first_run and "retry" in l["message"]]
    assert retries and retries[0]["step"] == "apideck__employees" and "company 'acme'" in retries[0]["message"]
    (failure,) = [l for l in lines if l["run_id"] == refused_run and l["event"] == "STEP_FAILURE"]
    assert (failure["level"], failure["step"]) == ("ERROR", "apideck__employees")
    assert failure["error"].startswith("Failure: Apideck refused the employee list for company 'acme': HTTP 401")
    assert "re-authorise" in failure["error"] and "Stack Trace" not in failure["error"]


def test_no_line_carries_the_api_key_or_an_address(logged):
    printed, lines, _ = logged
    assert CANARY not in printed and WRONG_KEY not in printed
    text = printed.lower()
    addresses = {
        email["email"].strip().lower()
        for record in generate_company(COMPANY, SIZE)
        for email in record.get("emails") or []
        if email.get("email")
    }
    assert len(addresses) > 300
    leaked = sorted(address for address in addresses if address in text)
    assert not leaked, f"{len(leaked)} addresses in the logs, e.g. {leaked[:3]}"


def test_the_formatter_removes_what_a_library_might_put_in_a_message():
    formatter = JsonLineFormatter(secrets=(CANARY,))
    record = logging.LogRecord("personio_pipeline.apideck", logging.WARNING, __file__, 1,
                               "key %s for ada.admin@acme.test, Authorization: Bearer abc.def", (CANARY,), None)
    line = json.loads(formatter.format(record))
    assert line["message"] == "key [secret] for [email], Authorization: Bearer [secret]"
    assert (line["level"], line["logger"], line["company"], line["run_id"]) == (
        "WARNING", "personio_pipeline.apideck", None, None)


def test_error_summary_drops_the_module_path():
    class Error:
        cls_name, message = "Failure", "dagster._core.definitions.events.Failure: Company 'acme': refused\n"

    assert error_summary(Error()) == "Failure: Company 'acme': refused"


def test_error_summary_reports_the_innermost_cause():
    class Cause:
        cls_name, message, cause = "OperationalError", "sqlite3.OperationalError: database is locked\n", None

    class Wrapper:
        cls_name, message, cause = "DagsterExecutionStepExecutionError", "Error occurred while executing op", Cause()

    assert error_summary(Wrapper()) == "OperationalError: database is locked"
