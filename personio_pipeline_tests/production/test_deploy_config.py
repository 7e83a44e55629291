"""The production files in deploy/ are what Dagster accepts, and say the same thing everywhere:
deploy/dagster.yaml against Dagster's instance schema, the Helm values against the same limits,
the Celery settings against the executor's schema, both extra code locations loadable, and the
run retention deleting exactly the old finished runs."""

from __future__ import annotations

import importlib.util
import re
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.test_utils import create_run_for_test
from dagster_celery import celery_executor
from dagster_postgres.utils import pg_url_from_config

from personio_pipeline.runtime.instance_storage import PooledPostgresEventLogStorage
from personio_pipeline_tests.support.processes import REPO
from personio_pipeline_tests.support.production import DEPLOY

CONNECTION_ENV = {"hostname": "HOST", "port": "PORT", "username": "USER", "password": "PASSWORD", "db_name": "DB"}
PG_ENV = {
    "DAGSTER_PG_HOST": "db.internal",
    "DAGSTER_PG_PORT": "5433",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "",
    "DAGSTER_PG_DB": "personio_pipeline_dagster",
}


@pytest.fixture
def production_yaml() -> dict:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


@pytest.fixture
def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def load_module(path):
    spec = importlib.util.spec_from_file_location(f"deploy_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- deploy/dagster.yaml ----------------------------------------------------------------------


def test_production_instance_is_valid_and_reads_postgres_settings_from_the_environment(
        production_yaml, tmp_path, monkeypatch):
    storages = ("run_storage", "event_log_storage", "schedule_storage")
    for storage in storages:
        connection = production_yaml[storage]["config"]["postgres_db"]
        assert connection == {key: {"env": f"DAGSTER_PG_{name}"} for key, name in CONNECTION_ENV.items()}
    assert production_yaml["event_log_storage"]["class"] == PooledPostgresEventLogStorage.__name__
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    result = process_config(dagster_instance_config_schema(), production_yaml)
    assert result.success, result.errors
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))  # the checks DagsterInstance.get() makes
    for storage in storages:
        settings = process_config(PooledPostgresEventLogStorage.config_type(), config[storage]["config"])
        assert pg_url_from_config(settings.value) == "postgresql://dagster@db.internal:5433/personio_pipeline_dagster"


def test_production_limits(production_yaml):
    runs = production_yaml["concurrency"]["runs"]
    assert production_yaml["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert runs["max_concurrent_runs"] > 1
    assert runs["tag_concurrency_limits"] == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert production_yaml["concurrency"]["pools"]["granularity"] == "op"
    # The documented pool limits are the ones `make prod-local` sets, and the pools the assets use.
    text = (DEPLOY / "dagster.yaml").read_text()
    documented = dict(re.findall(r"dagster instance concurrency set (\w+) (\d+)", text))
    script = dict(re.findall(r'concurrency set (\w+) (\d+)', (DEPLOY / "prod_local.sh").read_text()))
    assert documented == script == {"apideck": "4", "teammeter_write": "2"}
    from personio_pipeline.definitions import defs

    pools = {node.pool for node in defs.resolve_job_def("sync_company").graph.node_defs if node.pool}
    assert pools == set(documented)


def test_retention_is_configured(production_yaml):
    assert production_yaml["retention"]["schedule"]["purge_after_days"] > 0
    assert production_yaml["run_monitoring"]["max_runtime_seconds"] > 0


# -- Helm values ------------------------------------------------------------------------------


def test_helm_values_say_what_dagster_yaml_says(production_yaml, helm_values):
    queued = helm_values["dagsterDaemon"]["runCoordinator"]
    assert (queued["enabled"], queued["type"]) == (True, "QueuedRunCoordinator")
    config = queued["config"]["queuedRunCoordinator"]
    assert config["tagConcurrencyLimits"] == production_yaml["concurrency"]["runs"]["tag_concurrency_limits"]
    assert config["maxConcurrentRuns"] >= production_yaml["concurrency"]["runs"]["max_concurrent_runs"]
    # What the chart turns into the run coordinator's config must be valid for Dagster.
    as_dagster = {"max_concurrent_runs": config["maxConcurrentRuns"],
                  "tag_concurrency_limits": config["tagConcurrencyLimits"],
                  "dequeue_interval_seconds": config["dequeueIntervalSeconds"]}
    assert process_config(QueuedRunCoordinator.config_type(), as_dagster).success

    extra = helm_values["additionalInstanceConfig"]
    for section in ("run_monitoring", "run_retries"):
        assert extra[section] == production_yaml[section], section
    assert "concurrency" not in extra, "Dagster refuses concurrency: next to run coordinator limits"
    assert not helm_values["dagsterDaemon"]["runMonitoring"]["enabled"]  # else the chart writes it twice
    assert not helm_values["dagsterDaemon"]["runRetries"]["enabled"]
    assert process_config(dagster_instance_config_schema(), extra).success

    retention = helm_values["retention"]
    assert retention["enabled"]
    for kind in ("schedule", "sensor"):
        assert retention[kind]["purgeAfterDays"] == production_yaml["retention"][kind]["purge_after_days"]


def test_helm_values_run_every_company_in_its_own_pod_from_our_image(helm_values):
    assert helm_values["runLauncher"]["type"] == "K8sRunLauncher"
    assert helm_values["postgresql"]["enabled"] is False
    assert helm_values["generatePostgresqlPasswordSecret"] is False
    deployments = {d["name"]: d for d in helm_values["dagster-user-deployments"]["deployments"]}
    pipeline, maintenance = deployments["personio-pipeline"], deployments["maintenance"]
    assert pipeline["codeServerArgs"] == ["-m", "personio_pipeline.definitions"]
    assert maintenance["codeServerArgs"] == ["-f", "/opt/personio_pipeline/deploy/maintenance.py"]
    assert pipeline["image"] == maintenance["image"]
    assert pipeline["includeConfigInLaunchedRuns"]["enabled"]
    assert {"name": "personio-pipeline-env"} in pipeline["envSecrets"]
    assert not any(entry["name"].startswith("APIDECK_API_KEY") for entry in pipeline["env"]), "secrets only via envSecrets"


def test_the_migration_job_upgrades_with_the_rolled_out_image_and_the_pipelines_secrets(helm_values):
    """deploy/helm/db-upgrade-job.yaml: the deploy step, from the same image and secret as the
    code location; `personio-pipeline db upgrade` is a command the installed CLI has."""
    job = yaml.safe_load((DEPLOY / "helm" / "db-upgrade-job.yaml").read_text())
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert {"pre-install", "pre-upgrade"} <= set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    pipeline = next(d for d in helm_values["dagster-user-deployments"]["deployments"] if d["name"] == "personio-pipeline")
    assert container["image"] == f"{pipeline['image']['repository']}:{pipeline['image']['tag']}"
    assert container["command"] == ["personio-pipeline", "db", "upgrade"]
    assert [source["secretRef"] for source in container["envFrom"]] == pipeline["envSecrets"]
    from click.testing import CliRunner

    from personio_pipeline import cli

    assert CliRunner().invoke(cli.main, ["db", "upgrade", "--help"]).exit_code == 0
    assert '"$BIN/personio-pipeline" db upgrade' in (DEPLOY / "prod_local.sh").read_text()


def test_dockerfile_builds_the_code_server_from_the_prod_extras():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert 'pip install ".[prod]"' in dockerfile
    assert '"dagster", "code-server", "start"' in dockerfile and '"personio_pipeline.definitions"' in dockerfile
    assert "WORKDIR /opt/personio_pipeline" in dockerfile and "COPY deploy ./deploy" in dockerfile  # maintenance.py path
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^prod = \[\n    "dagster-postgres==0\.29\.\*",\n    "dagster-celery\[redis\]==0\.29\.\*",\n\]',
                     pyproject, re.M)


# -- Celery -----------------------------------------------------------------------------------


def test_celery_settings_are_valid_executor_config(monkeypatch):
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "pyamqp://guest@broker//")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://results:6379/0")
    worker_side = yaml.safe_load((DEPLOY / "celery.yaml").read_text())["execution"]["config"]
    result = process_config(celery_executor.config_schema.config_type, worker_side)
    assert result.success, result.errors
    assert (result.value["broker"], result.value["backend"]) == ("pyamqp://guest@broker//", "redis://results:6379/0")


def test_celery_code_location_runs_every_job_on_celery(monkeypatch):
    monkeypatch.setenv("DAGSTER_CELERY_QUEUE", "staging")
    module = load_module(DEPLOY / "celery_definitions.py")
    dg.Definitions.validate_loadable(module.defs)
    job = module.defs.resolve_job_def("sync_company")
    assert job.executor_def.name == "celery"
    assert module.CELERY_QUEUE == "staging"
    assert module.defs.resolve_schedule_def("daily_sync").job_name == "sync_company"


# -- run retention ----------------------------------------------------------------------------


def test_maintenance_location_loads():
    module = load_module(DEPLOY / "maintenance.py")
    dg.Definitions.validate_loadable(module.defs)
    assert module.defs.resolve_schedule_def("purge_old_runs").default_status == dg.DefaultScheduleStatus.RUNNING


def test_purge_deletes_old_finished_runs_with_their_logs_and_keeps_the_rest(tmp_path):
    module = load_module(DEPLOY / "maintenance.py")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        finished = [
            create_run_for_test(instance, job_name="sync_company", status=status)
            for status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
        ]
        unfinished = [
            create_run_for_test(instance, job_name="sync_company", status=status)
            for status in (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTED)
        ]
        logs = tmp_path / "storage" / finished[0].run_id / "compute_logs"
        logs.mkdir(parents=True)
        (logs / "step.out").write_text("stdout of a step")
        for run in finished + unfinished:
            instance.report_engine_event("something happened", run)

        assert module.purge_runs(instance, datetime.now(timezone.utc) - timedelta(days=1)) == []
        deleted = module.purge_runs(instance, datetime.now(timezone.utc) + timedelta(seconds=1), batch=2)

        assert sorted(deleted) == sorted(run.run_id for run in finished)
        assert {run.run_id for run in instance.get_runs()} == {run.run_id for run in unfinished}
        assert all(instance.all_logs(run.run_id) == [] for run in finished)
        assert all(instance.all_logs(run.run_id) for run in unfinished)
        assert not logs.exists()
