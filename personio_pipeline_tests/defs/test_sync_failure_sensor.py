"""The sync-failure sensor against real failed runs: the whole sync graph through Dagster on an
ephemeral instance, the sandbox refusing the key (401) or the company unknown to Teammeter,
evaluated the way the daemon does (`evaluate_tick` with the cursor carried over)."""

from __future__ import annotations

import dagster as dg
import pytest

from personio_pipeline.companies import registry, sync_runs
from personio_pipeline.defs.lifecycle.sync_failure_sensor import sync_failure_sensor
from personio_pipeline.defs.shared.keys import TEAMMETER_USERS as STATUS_ASSET
from personio_pipeline.defs.shared.resources import ApideckResource
from personio_pipeline.runtime.run_failures import is_company_sync
from personio_pipeline_tests.support.pipeline_runs import resources_for, run_sync
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

COMPANY = "acme"
WRONG_KEY = "sk_live_WRONG_KEY_7d1e"


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    """Resources for a 60-person company (registered) and the instance that records the runs."""
    monkeypatch.setenv("APIDECK_API_KEY", WRONG_KEY)  # what the sensor redacts, as deployed
    sandbox.config.company_sizes = {COMPANY: 60, "stranger": 10}
    resources = resources_for(sandbox.url, f"sqlite:///{tmp_path / 'teammeter.sqlite'}", tmp_path / "data")
    with resources["teammeter_db"].engine().begin() as conn:
        registry.register(conn, COMPANY, "ACME GmbH")
    return resources, dg.DagsterInstance.ephemeral()


def with_key(resources: dict, key: str) -> dict:
    apideck = ApideckResource(api_key=key, app_id=TEST_APP_ID, base_url=resources["apideck"].base_url, max_attempts=2)
    return {**resources, "apideck": apideck}


class Sensor:
    """Ticks of the sensor with the cursor carried from one tick to the next, as the daemon does."""

    def __init__(self, instance: dg.DagsterInstance, resources: dict):
        self.instance, self.resources, self.cursor = instance, {"teammeter_db": resources["teammeter_db"]}, None

    def tick(self):
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources) as context:
            result = sync_failure_sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result


def attempts(resources: dict, company: str = COMPANY) -> list[dict]:
    with resources["teammeter_db"].engine().connect() as conn:
        return sync_runs.attempts(conn, company)


def status(resources: dict) -> sync_runs.CompanyStatus:
    with resources["teammeter_db"].engine().connect() as conn:
        (row,) = sync_runs.company_status(conn, COMPANY)
    return row


def observations(instance: dg.DagsterInstance, partition: str = COMPANY) -> list[dg.AssetObservation]:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=STATUS_ASSET, asset_partitions=[partition]), limit=100
    ).records
    return [record.asset_observation for record in records]


def test_a_refused_key_is_recorded_once_with_step_and_remedy_then_a_success_resets(env):
    resources, instance = env
    sensor = Sensor(instance, resources)
    sensor.tick()  # the first tick only sets the cursor, as on a fresh deployment

    failed = run_sync(with_key(resources, WRONG_KEY), instance=instance)
    assert not failed.success
    sensor.tick()
    (row,) = attempts(resources)
    assert (row["run_id"], row["status"], row["failed_step"]) == (failed.run_id, "failed", "apideck__employees")
    assert "company 'acme'" in row["error"].lower() and "vault" in row["error"].lower(), row["error"]
    assert WRONG_KEY not in row["error"] and "@" not in row["error"]
    assert row["started_at"] is not None and row["finished_at"] >= row["started_at"]
    (observation,) = observations(instance)
    assert observation.metadata["sync_status"].value == "failed"
    assert observation.metadata["failed_step"].value == "apideck__employees"
    assert observation.metadata["run_id"].value == failed.run_id
    assert observation.metadata["consecutive_failures"].value == 1
    assert observation.metadata["last_success"].value == "never"

    # Replays: the next tick has nothing new; evaluating the same failure again adds nothing.
    sensor.tick()
    replay = dg.build_run_status_sensor_context(
        sensor_name=sync_failure_sensor.name, dagster_instance=instance, dagster_run=failed.dagster_run,
        dagster_event=failed.get_run_failure_event(), resources={"teammeter_db": resources["teammeter_db"]},
    )
    sync_failure_sensor(replay)
    assert len(attempts(resources)) == 1 and len(observations(instance)) == 1

    second = run_sync(with_key(resources, WRONG_KEY), instance=instance)
    sensor.tick()
    assert status(resources).consecutive_failures == 2
    assert observations(instance)[0].metadata["consecutive_failures"].value == 2

    succeeded = run_sync(with_key(resources, TEST_API_KEY), instance=instance)
    assert succeeded.success
    sensor.tick()
    summary = status(resources)
    assert (summary.last_attempt_status, summary.consecutive_failures) == ("succeeded", 0)
    assert (summary.last_success_run_id, summary.last_failure_run_id) == (succeeded.run_id, second.run_id)
    assert summary.last_success_employees_read == 60
    (users,) = [m for m in succeeded.asset_materializations_for_node("teammeter_sync") if m.asset_key == STATUS_ASSET]
    assert users.metadata["employees_read"].value == 60  # the same figure on the asset's page
    assert [a["status"] for a in attempts(resources)] == ["succeeded", "failed", "failed"]


def test_a_company_unknown_to_teammeter_is_reported_without_crashing(env, capfd):
    resources, instance = env
    sensor = Sensor(instance, resources)
    sensor.tick()
    failed = run_sync(resources, partition="stranger", instance=instance)
    assert not failed.success  # the listing refuses a company that is not registered

    capfd.readouterr()
    sensor.tick()  # no exception; the sensor's log says why nothing was recorded
    logged = capfd.readouterr().err
    assert "WARNING - company 'stranger'" in logged and "not registered in Teammeter" in logged
    assert attempts(resources) == []
    (observation,) = observations(instance, "stranger")
    assert observation.metadata["failed_step"].value == "apideck__employees"
    assert "'stranger' is not registered" in observation.metadata["error"].value
    assert "consecutive_failures" not in observation.metadata


def test_only_company_sync_runs_count():
    users, employees = dg.AssetKey(["teammeter", "users"]), dg.AssetKey(["apideck", "employees"])
    invitations = dg.AssetKey(["teammeter", "invitations"])
    partition = {"dagster/partition": "acme"}
    assert is_company_sync("sync_company", partition, None)
    assert is_company_sync("__ASSET_JOB", partition, [employees])
    assert is_company_sync("__ephemeral_asset_job__", partition, [users, invitations])
    assert not is_company_sync("__ASSET_JOB", partition, [invitations])
    assert not is_company_sync("invite_company", partition, [invitations])
    assert not is_company_sync("sync_company", {}, None)  # no company
    assert not is_company_sync("purge_old_runs", partition, None)
    # dg.materialize records the steps it runs, not an asset selection
    assert is_company_sync("__ephemeral_asset_job__", partition, frozenset(), ["apideck__employees", "teammeter_sync"])
    assert is_company_sync("__ephemeral_asset_job__", partition, frozenset(), ["teammeter_sync"])
    assert not is_company_sync("__ephemeral_asset_job__", partition, frozenset(), ["teammeter__invitations"])


def test_an_unexpected_error_is_recorded_as_its_cause_without_personal_data(env):
    """Not a dg.Failure: Dagster wraps the exception; the record keeps the innermost cause, and
    the failed statement's parameters (names, addresses) are not part of it."""
    resources, instance = env
    with resources["teammeter_db"].engine().begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER full_disk BEFORE INSERT ON users BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    sensor = Sensor(instance, resources)
    sensor.tick()
    failed = run_sync(resources, instance=instance)
    assert not failed.success
    sensor.tick()

    (row,) = attempts(resources)
    assert row["failed_step"] == "teammeter_sync"
    assert row["error"].startswith("IntegrityError: ") and "database or disk is full" in row["error"], row["error"]
    assert "Error occurred while executing" not in row["error"]
    assert "@" not in row["error"]
    assert "[parameters:" not in row["error"] or "hidden due to hide_parameters" in row["error"], row["error"]
