"""`personio-pipeline demo --history`: the sandbox company whose customer used Teammeter before,
synced over three sandbox days into SQLite (accounts from before the connection, coaches,
pre-hires, leaves, leavers, a rehire under a new id, a recycled address), and what it shows."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.cli.sandbox import HISTORY_COMPANY

pytestmark = pytest.mark.slow  # three syncs in process


def test_the_history_demo_links_existing_accounts_and_tells_each_story(pipeline_env):
    runner = CliRunner()
    result = runner.invoke(main, ["demo", "--history"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    line = result.output.split("History: ")[1].splitlines()[0]
    counts = {label: int(n) for label, n in (part.rsplit(" ", 1) for part in line.split("; "))}
    assert counts["existing accounts linked by address"] >= 20
    assert counts["rehires back on their old account"] == 1 and counts["recycled addresses (a new account)"] == 1
    assert counts["accounts outside Personio (coaches)"] == 2 and counts["pre-hires without access yet"] >= 2
    assert counts["kept on an unknown HR status (leave)"] >= 3
    rows = json.loads(runner.invoke(main, ["review", HISTORY_COMPANY, "--format", "json"]).output)
    assert len({row["email"] for row in rows if row["active"] and row["email"]}) == sum(
        1 for row in rows if row["active"] and row["email"])  # one active account per address
    rehire = next(row for row in rows if row["linked_by"] == "rehire")
    story = runner.invoke(main, ["explain", HISTORY_COMPANY, rehire["employee_id"], "--format", "json"])
    assert story.exit_code == 0 and json.loads(story.output)["account"]["linked_by"] == "rehire"
    again = runner.invoke(main, ["demo", "--history"], catch_exceptions=False)  # a second demo run is harmless
    assert again.exit_code == 0 and "accounts from before the connection are there already" in again.output
