"""The raw employees asset, materialised through Dagster against the sandbox."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from personio_pipeline.companies import registry
from personio_pipeline.defs.ingest.assets import raw_employees
from personio_pipeline.defs.shared.io import LocalFilesIOManager
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, TeammeterDatabase
from personio_pipeline.sandbox.generator import generate_company
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID


@pytest.fixture
def resources(tmp_path, sandbox, monkeypatch):
    monkeypatch.setenv("PERSONIO_PIPELINE_DATA_DIR", str(tmp_path / "data"))  # where listings spool
    db = TeammeterDatabase(url=f"sqlite:///{tmp_path / 'teammeter.sqlite'}")
    with db.engine().begin() as conn:
        registry.register(conn, "acme", "ACME GmbH")
    return {
        "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url,
                                   max_retry_seconds=20),
        "teammeter_db": db,
        "io_manager": LocalFilesIOManager(base_dir=str(tmp_path / "data")),
    }


def materialize(resources, partition="acme", raise_on_error=True):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [partition])
    return dg.materialize([raw_employees], resources=resources, instance=instance,
                          partition_key=partition, raise_on_error=raise_on_error)


def test_stores_every_record_as_json_lines_with_metadata(resources, sandbox, tmp_path):
    sandbox.config.company_sizes["acme"] = 450
    result = materialize(resources)

    assert result.success
    metadata = result.asset_materializations_for_node("apideck__employees")[0].metadata
    assert metadata["dagster/row_count"].value == 450
    assert metadata["pages"].value == math.ceil(450 / 200)
    assert metadata["requests"].value == 3 and metadata["retries"].value == 0
    path = Path(metadata["path"].value)
    assert path == tmp_path / "data" / "apideck" / "employees" / "acme.jsonl"
    stored = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in stored] == [r["id"] for r in generate_company("acme", 450)]
    assert any(not r["first_name"].isascii() for r in stored if r.get("first_name")), "non-ASCII kept"


def test_retries_show_in_metadata(resources, sandbox):
    sandbox.queue_faults([{"status": 429, "retry_after": 0.1}, {"status": 503}])
    result = materialize(resources)
    metadata = result.asset_materializations_for_node("apideck__employees")[0].metadata
    assert metadata["retries"].value == 2
    assert metadata["requests"].value == metadata["pages"].value + 2


def test_unauthorised_fails_the_step_with_the_remedy_and_no_key(resources, sandbox):
    resources["apideck"] = ApideckResource(api_key="sk_wrong_key_123", app_id=TEST_APP_ID, base_url=sandbox.url)
    result = materialize(resources, raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.message
    assert "acme" in message and "re-authorise the Personio connection in Apideck Vault" in message
    everything = "\n".join(str(e) for e in result.all_events)
    assert "sk_wrong_key_123" not in everything and TEST_API_KEY not in everything


def test_unregistered_company_names_the_remedy(resources):
    result = materialize(resources, partition="ghost-co", raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "personio-pipeline tenants add ghost-co" in failure.event_specific_data.error.message


def test_a_failed_listing_keeps_the_stored_extract_and_leaves_no_spool(resources, sandbox, tmp_path):
    sandbox.config.company_sizes["acme"] = 450
    spool_dir = tmp_path / "data" / "spool"
    first = materialize(resources)
    path = Path(first.asset_materializations_for_node("apideck__employees")[0].metadata["path"].value)
    before = path.read_bytes()
    assert list(spool_dir.iterdir()) == []  # the spool became the stored extract (a rename)
    assert first.output_for_node("apideck__employees").path == path  # the handle moved with the file

    resources["apideck"] = ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url,
                                           max_retry_seconds=1)
    sandbox.queue_faults([{}, *[{"status": 503}] * 20])  # page 1 served, then down
    assert not materialize(resources, raise_on_error=False).success

    assert path.read_bytes() == before
    assert list(spool_dir.iterdir()) == []


def test_a_spool_left_by_a_killed_process_is_swept_by_a_later_listing(resources, tmp_path):
    spool_dir = tmp_path / "data" / "spool"
    spool_dir.mkdir(parents=True)
    stale, fresh = spool_dir / "personio-raw-old.jsonl.part", spool_dir / "personio-raw-new.jsonl.part"
    for left in (stale, fresh):
        left.write_text('{"id": "1"}\n')
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))

    assert materialize(resources).success
    assert sorted(p.name for p in spool_dir.iterdir()) == [fresh.name]  # a running listing's is kept
