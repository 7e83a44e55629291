"""`personio-pipeline status` and `tenants list` after real syncs through the CLI: one that
succeeds, one the sandbox refuses (401) and the failure sensor records, and a company never synced."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.common import settings
from personio_pipeline.defs.lifecycle.sync_failure_sensor import sync_failure_sensor
from personio_pipeline.defs.shared.resources import TeammeterDatabase


pytestmark = pytest.mark.slow  # CLI syncs through the whole graph


def tick(cursor: str | None) -> str | None:
    """One evaluation of the failure sensor on the CLI's instance and database."""
    resources = {"teammeter_db": TeammeterDatabase(url=settings.teammeter_database_url())}
    with dg.build_sensor_context(instance=dg.DagsterInstance.get(), cursor=cursor, resources=resources) as context:
        return sync_failure_sensor.evaluate_tick(context).cursor


def test_status_lists_failing_companies_first_with_their_last_failure(pipeline_env, monkeypatch):
    runner = CliRunner()
    for company, name in (("acme-gmbh", "ACME GmbH"), ("globex", "Globex AG")):
        assert runner.invoke(main, ["tenants", "add", company, "--name", name]).exit_code == 0
    assert runner.invoke(main, ["sync", "acme-gmbh"]).exit_code == 0
    cursor = tick(None)
    monkeypatch.setenv("APIDECK_API_KEY", "sk_live_REVOKED_0042")
    assert runner.invoke(main, ["sync", "acme-gmbh"]).exit_code == 1
    tick(cursor)

    table = runner.invoke(main, ["status"])
    assert table.exit_code == 0, table.output  # informational: failing companies do not fail the command
    lines = table.output.splitlines()
    assert lines[0] == "2 companies, 1 failing (newest attempt failed), 1 never synced"
    assert lines[1].startswith("  consumer id") and set(lines[2]) == {"-", " "}  # header, underline
    assert lines[3].startswith("! acme-gmbh") and lines[4].startswith("  globex")
    assert " failed " in lines[3] and "apideck__employees: Apideck refused" in lines[3]
    assert " never " in lines[4] and lines[4].rstrip().endswith("0  -")
    assert "REVOKED" not in table.output

    as_json = runner.invoke(main, ["status", "--company", "acme-gmbh", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    (acme,) = json.loads(as_json.output)
    assert (acme["failing"], acme["consecutive_failures"], acme["last_attempt_status"]) == (True, 1, "failed")
    assert acme["last_success_employees_read"] == 120 and acme["last_success_counts"]["user"]["create"] > 0
    assert acme["last_failure_step"] == "apideck__employees" and "re-authorise" in acme["last_failure_error"]
    assert acme["last_success_at"] < acme["last_failure_at"]

    listed = runner.invoke(main, ["tenants", "list"])
    assert listed.exit_code == 0, listed.output
    (acme_line,) = [line for line in listed.output.splitlines() if line.startswith("acme-gmbh")]
    assert acme_line.endswith("failed (1 in a row)")

    unknown = runner.invoke(main, ["status", "--company", "nobody"])
    assert unknown.exit_code != 0 and "not registered" in unknown.output
