"""What `personio-pipeline sync` prints when something is wrong: one line per cause naming the
company, the step and, for data problems, the employee ids and HR field; the stack trace only
with --verbose. Real syncs through the CLI against the sandbox serving crafted records."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline_tests.support.records import person

COMPANY = "acme-gmbh"


pytestmark = pytest.mark.slow  # CLI flows through the whole sync graph


def crafted(sandbox, records) -> CliRunner:
    sandbox.set_company(COMPANY, records)
    runner = CliRunner()
    assert runner.invoke(main, ["tenants", "add", COMPANY, "--name", "ACME GmbH"]).exit_code == 0
    return runner


def test_held_back_people_are_one_line_each_check_and_the_sync_succeeds(pipeline_env, sandbox):
    runner = crafted(sandbox, [
        person("1", "Ada", "A", email="ada@acme.example", manager="2"),
        person("2", "Bob", "B", email="bob@acme.example", manager="1"),
        person("3", "Cy", "C", email="cy@acme.example"),
        person("4", "Dee", "D", email="CY@acme.example"),
        person("5", "Eve", "E", email="eve@acme.example"),
    ])
    result = runner.invoke(main, ["sync", COMPANY])
    assert result.exit_code == 0, result.output
    held = [line.strip() for line in result.output.splitlines() if "HELD BACK" in line]
    assert (f"HELD BACK company '{COMPANY}', step 'org_model', check duplicate_active_emails: "
            "employee ids 3, 4 (field: email)") in held
    assert (f"HELD BACK company '{COMPANY}', step 'org_model', check management_cycles: "
            "employee ids 1, 2 (field: manager)") in held
    assert (f"HELD BACK company '{COMPANY}', step 'teammeter_sync', check records_held_back: "
            "employee ids 1, 2, 3, 4 (field: email, manager)") in held
    assert "@" not in result.output and "Traceback" not in result.output and "Stack Trace" not in result.output


def test_a_company_wide_stop_is_one_line_with_ids_and_the_trace_only_when_verbose(pipeline_env, sandbox):
    shared = [person(str(n), "Same", f"Person {n}", email="everyone@acme.example") for n in range(1, 13)]
    runner = crafted(sandbox, shared + [person("13", "Ada", "A", email="ada@acme.example")])

    result = runner.invoke(main, ["sync", COMPANY])
    assert result.exit_code == 1
    (line,) = [line.strip() for line in result.output.splitlines() if line.strip().startswith("FAILED")]
    assert line.startswith(f"FAILED company '{COMPANY}', step 'teammeter_sync': Company '{COMPANY}' (ACME GmbH): "
                           "12 of 13 active people (92.3%) would newly be held back")
    assert line.endswith("[employee ids: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12; fields: email]")
    assert "Stack Trace" not in result.output and "@" not in result.output

    verbose = runner.invoke(main, ["sync", COMPANY, "--verbose"])
    assert verbose.exit_code == 1 and "Stack Trace" in verbose.output

    approved = runner.invoke(main, ["sync", COMPANY, "--max-held-back-share", "1"])
    assert approved.exit_code == 0, approved.output
