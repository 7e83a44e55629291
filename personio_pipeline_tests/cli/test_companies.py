"""The operator CLI, run in-process with click's runner on an isolated instance and database."""

from __future__ import annotations

import dagster as dg
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.defs.shared.partitions import companies


def test_tenants_add_registers_company_and_partition(pipeline_env):
    runner = CliRunner()
    added = runner.invoke(main, ["tenants", "add", "acme-gmbh", "--name", "ACME GmbH"])
    assert added.exit_code == 0, added.output
    again = runner.invoke(main, ["tenants", "add", "acme-gmbh", "--name", "ACME GmbH & Co"])
    assert again.exit_code == 0, again.output

    listed = runner.invoke(main, ["tenants", "list"])
    assert listed.exit_code == 0, listed.output
    assert "acme-gmbh" in listed.output and "ACME GmbH & Co" in listed.output
    instance = dg.DagsterInstance.get()
    assert instance.get_dynamic_partitions(companies.name) == ["acme-gmbh"]


def test_tenants_add_refuses_ids_that_cannot_be_partition_keys(pipeline_env):
    result = CliRunner().invoke(main, ["tenants", "add", "acme,gmbh", "--name", "x"])
    assert result.exit_code != 0
    assert "not a usable company id" in result.output
