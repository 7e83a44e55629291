"""Check results per company: every asset check is partitioned by company, so one company's result
never overwrites another's, and every result names its company.

Two companies are synced through real runs (sandbox over HTTP); each check's latest result is
then read per company partition through the instance API and through the GraphQL API the
Dagster UI uses for a check's page (executions filtered by partition, and the per-partition
status the partition bar shows), with the code location loaded in a code server process as the
webserver loads it.
"""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.event_api import PartitionKeyFilter
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from personio_pipeline.companies import registry
from personio_pipeline.defs.ingest.assets import raw_employees
from personio_pipeline.defs.org.assets import org_assets
from personio_pipeline.defs.org.checks import EMPLOYEE_CHECKS, NAME_CHECKS, REPORTING_LINE_CHECKS
from personio_pipeline.defs.shared.io import LocalFilesIOManager
from personio_pipeline.defs.shared.keys import ORG_EMPLOYEES as EMPLOYEES
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, TeammeterDatabase
from personio_pipeline_tests.support.processes import REPO
from personio_pipeline_tests.support.records import person
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

ALL_CHECKS = [*EMPLOYEE_CHECKS, *NAME_CHECKS, *REPORTING_LINE_CHECKS]
MISSING = dg.AssetCheckKey(EMPLOYEES, "missing_emails")
# Company A has people without email (the check fails); company B, synced after it, has none.
COMPANY_A = [
    person("1", "Zoë", "Çelik", email="zoe@a.example"),
    person("2", "Jonas", "Nomail", manager="1"),
    person("3", "Mia", "Broken", email="mia..x@a.example", manager="1"),
]
COMPANY_B = [person("1", "Björn", "Berg", email="bjorn@b.example"), person("2", "Åsa", "Ek", email="asa@b.example", manager="1")]


pytestmark = pytest.mark.slow  # whole-graph syncs of several companies and the UI's GraphQL


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A SQLite instance (as `make dev` creates it) in which company-a, then company-b ran."""
    from personio_pipeline.sandbox.config import SandboxConfig
    from personio_pipeline.sandbox.server import SandboxServer

    folder = tmp_path_factory.mktemp("checks")
    db = TeammeterDatabase(url=f"sqlite:///{folder / 'teammeter.sqlite'}")
    with db.engine().begin() as conn:
        registry.register(conn, "company-a", "A GmbH")
        registry.register(conn, "company-b", "B AB")
    (folder / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(folder / "home")) as instance, SandboxServer(
        SandboxConfig(api_key=TEST_API_KEY, app_id=TEST_APP_ID, strict=True)
    ) as sandbox:
        instance.add_dynamic_partitions(companies.name, ["company-a", "company-b"])
        resources = {
            "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url),
            "teammeter_db": db,
            "io_manager": LocalFilesIOManager(base_dir=str(folder / "data")),
        }
        results = {}
        for company, records in (("company-a", COMPANY_A), ("company-b", COMPANY_B)):
            sandbox.set_company(company, records)
            results[company] = dg.materialize([raw_employees, *org_assets], resources=resources,
                                              instance=instance, partition_key=company)
            assert results[company].success
        yield instance, folder, results


def test_every_check_result_is_recorded_under_its_company_and_names_it(synced):
    _, _, results = synced
    for company, result in results.items():
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == len(ALL_CHECKS)
        for evaluation in evaluations:
            assert evaluation.partition == company
            assert evaluation.metadata["company"].value == company


def test_each_company_keeps_its_own_latest_result(synced):
    instance, _, _ = synced
    storage = instance.event_log_storage
    for spec in ALL_CHECKS:
        latest = {
            company: storage.get_latest_asset_check_execution_by_key(
                [spec.key], partition_filter=PartitionKeyFilter(key=company)
            )[spec.key]
            for company in ("company-a", "company-b")
        }
        for company, record in latest.items():
            assert record.partition == company
            assert record.event.asset_check_evaluation.metadata["company"].value == company

    a = storage.get_latest_asset_check_execution_by_key([MISSING], partition_filter=PartitionKeyFilter(key="company-a"))
    b = storage.get_latest_asset_check_execution_by_key([MISSING], partition_filter=PartitionKeyFilter(key="company-b"))
    # company-b ran last and passed; company-a's failure is still its own latest result.
    assert a[MISSING].event.asset_check_evaluation.passed is False
    assert [p["employee_id"] for p in a[MISSING].event.asset_check_evaluation.metadata["people"].value] == ["2", "3"]
    assert b[MISSING].event.asset_check_evaluation.passed is True

    statuses = {info.partition_key: info.latest_execution_status.value
                for info in storage.get_asset_check_partition_info([MISSING])}
    assert statuses == {"company-a": "FAILED", "company-b": "SUCCEEDED"}


EXECUTIONS = """
query Executions($assetKey: AssetKeyInput!, $checkName: String!, $partition: String) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, partition: $partition, limit: 5) {
    partition
    status
    evaluation {
      partition
      success
      metadataEntries { label ... on TextMetadataEntry { text } }
    }
  }
}
"""

CHECK_PAGE = """
query CheckPage($assetKey: AssetKeyInput!) {
  assetNodes(assetKeys: [$assetKey]) {
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name
          partitionDefinition { name type }
          partitionStatuses {
            __typename
            ... on AssetCheckDefaultPartitionStatuses { succeededPartitions failedPartitions }
          }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def graphql(synced):
    instance, folder, _ = synced
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: personio_pipeline.definitions\n"
        f"      location_name: personio_pipeline\n      working_directory: {REPO}\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PERSONIO_PIPELINE_DATA_DIR", str(folder / "data"))
        patch.setenv("TEAMMETER_DATABASE_URL", f"sqlite:///{folder / 'teammeter.sqlite'}")
        with define_out_of_process_context(str(workspace), None, instance) as context:
            yield context


def query(context, text: str, variables: dict) -> dict:
    """One request, inside the request context as the webserver enters it (it makes the
    instance's dynamic partitions readable, which the per-partition check statuses need)."""
    with context:
        result = execute_dagster_graphql(context, text, variables)
    assert not result.errors, result.errors
    return result.data


def test_the_ui_shows_each_companys_result_under_its_partition(graphql):
    variables = {"assetKey": {"path": ["org", "employees"]}, "checkName": "missing_emails"}
    for company, passed in (("company-a", False), ("company-b", True)):
        executions = query(graphql, EXECUTIONS, {**variables, "partition": company})["assetCheckExecutions"]
        assert len(executions) == 1
        (execution,) = executions
        assert execution["partition"] == execution["evaluation"]["partition"] == company
        assert execution["evaluation"]["success"] is passed
        assert execution["status"] == ("SUCCEEDED" if passed else "FAILED")
        named = {entry["label"]: entry.get("text") for entry in execution["evaluation"]["metadataEntries"]}
        assert named["company"] == company

    everything = query(graphql, EXECUTIONS, variables)["assetCheckExecutions"]
    assert sorted(e["partition"] for e in everything) == ["company-a", "company-b"]


def test_the_check_page_shows_status_per_company(graphql):
    (node,) = query(graphql, CHECK_PAGE, {"assetKey": {"path": ["org", "employees"]}})["assetNodes"]
    checks = {check["name"]: check for check in node["assetChecksOrError"]["checks"]}
    assert set(checks) == {"missing_emails", "duplicate_active_emails", "unique_employee_ids"}
    for check in checks.values():
        assert check["partitionDefinition"]["name"] == "companies"
        assert check["partitionDefinition"]["type"] == "DYNAMIC"
    missing = checks["missing_emails"]["partitionStatuses"]
    assert missing["__typename"] == "AssetCheckDefaultPartitionStatuses"
    assert (missing["failedPartitions"], missing["succeededPartitions"]) == (["company-a"], ["company-b"])
    duplicates = checks["duplicate_active_emails"]["partitionStatuses"]
    assert sorted(duplicates["succeededPartitions"]) == ["company-a", "company-b"]
