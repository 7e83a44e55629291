"""The organisation model graph and its checks, materialised with Dagster against the sandbox."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from personio_pipeline.defs.assets.apideck import raw_employees
from personio_pipeline.defs.assets.org import org_assets
from personio_pipeline.defs.assets.teammeter import teammeter_sync
from personio_pipeline.defs.io import LocalFilesIOManager
from personio_pipeline.defs.partitions import companies
from personio_pipeline.defs.resources import ApideckResource, TeammeterDatabase
from personio_pipeline.teammeter import organisations
from personio_pipeline.teammeter.schema import users
from personio_pipeline_tests.conftest import TEST_API_KEY, TEST_APP_ID
from personio_pipeline_tests.defs.crafted import crafted_company, person

COMPANY = "crafted-co"


@pytest.fixture
def resources(tmp_path, sandbox):
    db = TeammeterDatabase(url=f"sqlite:///{tmp_path / 'teammeter.sqlite'}")
    with db.engine().begin() as conn:
        organisations.register(conn, COMPANY, "Crafted GmbH")
    return {
        "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url),
        "teammeter_db": db,
        "io_manager": LocalFilesIOManager(base_dir=str(tmp_path / "data")),
    }


def run_org_graph(resources):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    return dg.materialize([raw_employees, *org_assets], resources=resources,
                          instance=instance, partition_key=COMPANY, raise_on_error=False)


def verdicts(result):
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def test_crafted_company_gives_the_right_rows_and_verdicts(resources, sandbox):
    sandbox.set_company(COMPANY, crafted_company())
    result = run_org_graph(resources)
    assert result.success

    employees = result.output_for_node("org__employees")
    by_id = employees.set_index("employee_id")
    assert by_id.loc["2", "email"] == "lukasz.nowak@acme.example"
    assert by_id.loc["4", "email"] == "ana@private.example"
    assert by_id.loc["5", "email"] is None and by_id.loc["5", "email_problem"].startswith("invalid")
    assert by_id.loc["6", "status"] == "terminated"
    assert by_id.loc["7", "status"] != "active", "`other` is treated conservatively"
    assert by_id.loc["8", "status"] == "terminated", "an ended contract means the person left"
    assert by_id.loc["1", "display_name"] == "Zoë Çelik"

    roles = result.output_for_node("org_structure", "roles")
    engineer_variants = roles[roles["role_key"] == "software engineer"]
    assert len(engineer_variants) == 1

    lines = result.output_for_node("org_structure", "reporting_lines")
    assert set(map(tuple, lines[["employee_id", "manager_id"]].values)) == {("2", "1"), ("3", "1"), ("4", "2")}

    checks = verdicts(result)
    missing = checks[("employees", "missing_emails")]
    assert not missing.passed and missing.severity == dg.AssetCheckSeverity.WARN
    people = {row["employee_id"]: row for row in missing.metadata["people"].value}
    assert set(people) == {"3", "5"}
    assert people["5"]["problem"].startswith("invalid") and people["3"]["problem"] == "missing"
    assert missing.metadata["count"].value == 2
    assert checks[("employees", "duplicate_active_emails")].passed
    managers = checks[("reporting_lines", "unknown_or_inactive_managers")]
    assert not managers.passed and managers.severity == dg.AssetCheckSeverity.WARN
    assert checks[("reporting_lines", "management_cycles")].passed
    assert all(checks[(name, "names_present")].passed for name in ("teams", "units", "roles"))
    for evaluation in checks.values():
        assert "@" not in (evaluation.description or ""), "no email addresses in descriptions"


def test_a_management_cycle_is_a_blocking_error_naming_the_cycle(resources, sandbox):
    sandbox.set_company(COMPANY, [
        person("1", "Ada", "A", email="ada@acme.example", manager="2"),
        person("2", "Bob", "B", email="bob@acme.example", manager="3"),
        person("3", "Cy", "C", email="cy@acme.example", manager="1"),
        person("4", "Dee", "D", email="dee@acme.example", manager="4"),
    ])
    result = run_org_graph(resources)

    cycles = verdicts(result)[("reporting_lines", "management_cycles")]
    assert not cycles.passed and cycles.severity == dg.AssetCheckSeverity.ERROR
    assert cycles.blocking
    assert cycles.metadata["self_managed"].value == 1 and cycles.metadata["cycles"].value == 1
    assert "4 → 4" in cycles.description
    assert any(set(text.split(" → ")) == {"1", "2", "3"} for text in cycles.metadata["named"].value)
    assert not result.success, "a failed blocking check fails the run"


def test_shared_login_blocks_everything_downstream(resources, sandbox):
    sandbox.set_company(COMPANY, [
        person("1", "Ada", "A", email="ada@acme.example"),
        person("2", "Bob", "B", email="ADA@acme.example ", manager="1"),
        person("3", "Cy", "C", email="ada@acme.example", manager="1", status="terminated", end_date="2020-01-01"),
    ])
    result = run_org_graph(resources)

    duplicates = verdicts(result)[("employees", "duplicate_active_emails")]
    assert not duplicates.passed and duplicates.severity == dg.AssetCheckSeverity.ERROR
    assert "1" in duplicates.description and "2" in duplicates.description
    assert [group["employee_ids"] for group in duplicates.metadata["groups"].value] == ["1, 2"]
    assert "@" not in duplicates.description
    materialised = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
                    for m in [m.event_specific_data.materialization]}
    assert materialised == {"apideck/employees", "org/employees"}


@pytest.mark.parametrize(
    "company, failing_check",
    [
        ([person("1", "Ada", "A", email="ada@acme.example", team=("t9", "   "))], ("teams", "names_present")),
        (
            [person("1", "Ada", "A", email="ada@acme.example", manager="2"),
             person("2", "Bob", "B", email="bob@acme.example", manager="1")],
            ("reporting_lines", "management_cycles"),
        ),
    ],
    ids=["nameless-team", "management-cycle"],
)
def test_a_blocking_check_of_org_structure_keeps_the_company_out_of_teammeter(resources, sandbox, company, failing_check):
    """The checks evaluated inside the org_structure step still block the Teammeter write."""
    sandbox.set_company(COMPANY, company)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    result = dg.materialize([raw_employees, *org_assets, teammeter_sync], resources=resources, instance=instance,
                            partition_key=COMPANY, raise_on_error=False)

    check = verdicts(result)[failing_check]
    assert not check.passed and check.blocking
    assert not result.success
    assert "teammeter_sync" not in {e.step_key for e in result.all_events
                                    if e.event_type == dg.DagsterEventType.STEP_START}
    with resources["teammeter_db"].engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() == 0
