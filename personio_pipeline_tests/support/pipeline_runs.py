"""The whole sync graph in tests (the reliability tests and the sync-failure sensor's): a strict
sandbox shared by a test module and reset per test, the real resources, one Dagster run of a
company through raw -> org model and checks -> Teammeter, and what its events say.

Stores: the company synced on day 0 through the whole graph (a SQLite file copied per test) and
the logical state a clean day-1 sync leads to; `logical_dump` compares two stores however they got
there; `store_engine` is the `engine` store (support/stores.py) with ACME and Beta registered.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from personio_pipeline.apideck.fields import make_projector
from personio_pipeline.companies import registry
from personio_pipeline.defs.ingest.assets import raw_employees
from personio_pipeline.defs.org.assets import org_assets
from personio_pipeline.defs.shared.io import LocalFilesIOManager
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, TeammeterDatabase
from personio_pipeline.defs.store.assets import teammeter_sync
from personio_pipeline.org.employees import normalise_employees
from personio_pipeline.org.structure import derive_reporting_lines, derive_roles, derive_teams, derive_units
from personio_pipeline.sandbox.config import SandboxConfig
from personio_pipeline.sandbox.generator import generate_company
from personio_pipeline.sandbox.server import SandboxServer
from personio_pipeline.store.db import create_engine, migrate
from personio_pipeline.store.diff import OrgModel
from personio_pipeline.store.schema import metadata
from personio_pipeline_tests.support.settings import PINNED_TODAY, TEST_API_KEY, TEST_APP_ID

COMPANY = "acme"
SIZE = 450  # three pages of 200: faults can hit the middle of a listing
TODAY = date.fromisoformat(PINNED_TODAY)  # the model's "today" in the pipeline runs too
SYNC_GRAPH = [raw_employees, *org_assets, teammeter_sync]
RAW_STEP = "apideck__employees"
WRITE_STEP = "teammeter_sync"


# ---------------------------------------------------------------- the sandbox and the graph


@pytest.fixture(scope="module")
def shared_sandbox():
    """One strict sandbox per module (starting servers per test adds up); reset per test."""
    config = SandboxConfig(api_key=TEST_API_KEY, app_id=TEST_APP_ID, strict=True, company_sizes={COMPANY: SIZE})
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def sandbox_day0(shared_sandbox):
    shared_sandbox.reset()
    shared_sandbox.config.day = 0
    shared_sandbox.config.company_sizes = {COMPANY: SIZE}
    shared_sandbox.config.error_rate = 0.0
    shared_sandbox.config.rate_limit_every = 0
    yield shared_sandbox
    shared_sandbox.reset()
    shared_sandbox.config.day = 0


def resources_for(base_url: str, db_url: str, data_dir: Path, **apideck: Any) -> dict[str, Any]:
    """The real resources; retry settings short enough for tests (4 attempts per page)."""
    options = {"timeout_seconds": 5.0, "max_retry_seconds": 20.0, "max_attempts": 4, **apideck}
    return {
        "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=base_url, **options),
        "teammeter_db": TeammeterDatabase(url=db_url),
        "io_manager": LocalFilesIOManager(base_dir=str(data_dir)),
    }


def run_sync(resources: dict[str, Any], partition: str = COMPANY, **kwargs: Any) -> dg.ExecuteInProcessResult:
    """raw -> organisation model and checks -> Teammeter, as one Dagster run of the company."""
    instance = kwargs.pop("instance", None) or dg.DagsterInstance.ephemeral()
    if not instance.has_dynamic_partition(companies.name, partition):
        instance.add_dynamic_partitions(companies.name, [partition])
    return dg.materialize(SYNC_GRAPH, resources=resources, instance=instance, partition_key=partition,
                          raise_on_error=False, **kwargs)


def step_failure(result: dg.ExecuteInProcessResult, step_key: str = RAW_STEP) -> str | None:
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE and event.step_key == step_key:
            return event.event_specific_data.error.message
    return None


def executed_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}


def raw_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    materialization = result.asset_materializations_for_node(RAW_STEP)[0]
    return {key: value.value for key, value in materialization.metadata.items()}


def stored_raw(data_dir: Path, partition: str = COMPANY) -> list[dict[str, Any]]:
    path = data_dir / "apideck" / "employees" / f"{partition}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected_raw(partition: str = COMPANY, size: int = SIZE, day: int = 0) -> list[dict[str, Any]]:
    """What a clean listing stores: the sandbox company, restricted to the needed fields."""
    project = make_projector()
    return [project(record) for record in generate_company(partition, size, day=day)]


# ---------------------------------------------------------------- stores


@dataclass
class Store:
    """A Teammeter database (and its raw/model folder) for one test."""

    url: str
    data_dir: Path

    def engine(self) -> sa.Engine:
        return TeammeterDatabase(url=self.url).engine()


@pytest.fixture(scope="module")
def synced_day0(shared_sandbox, tmp_path_factory):
    """A SQLite store with the company synced on day 0 through the whole graph, and the
    logical state a clean day-1 sync leads to from there (the reference for recoveries)."""
    shared_sandbox.reset()
    shared_sandbox.config.day = 0
    root = tmp_path_factory.mktemp("synced_day0")
    engine = create_engine(f"sqlite:///{root / 'teammeter.sqlite'}")
    migrate(engine)
    with engine.begin() as conn:
        registry.register(conn, COMPANY, "ACME GmbH")
    engine.dispose()
    result = run_sync(resources_for(shared_sandbox.url, f"sqlite:///{root / 'teammeter.sqlite'}", root / "data"))
    assert result.success, [step_failure(result, key) for key in executed_steps(result)]

    clean = tmp_path_factory.mktemp("clean_day1")
    copy_store(root, clean)
    shared_sandbox.config.day = 1
    result = run_sync(resources_for(shared_sandbox.url, f"sqlite:///{clean / 'teammeter.sqlite'}", clean / "data"))
    shared_sandbox.config.day = 0
    shared_sandbox.reset()
    assert result.success
    clean_engine = create_engine(f"sqlite:///{clean / 'teammeter.sqlite'}")
    reference = logical_dump(clean_engine)
    clean_engine.dispose()
    return root, reference


def copy_store(source: Path, target: Path) -> Store:
    """A consistent copy (SQLite's backup API: the database is in WAL mode, so the file alone may
    lack committed transactions) plus the raw/model folder."""
    target.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(source / "teammeter.sqlite")) as origin, \
            contextlib.closing(sqlite3.connect(target / "teammeter.sqlite")) as copy:
        origin.backup(copy)
    shutil.copytree(source / "data", target / "data", dirs_exist_ok=True)
    return Store(f"sqlite:///{target / 'teammeter.sqlite'}", target / "data")


@pytest.fixture
def store_day0(synced_day0, tmp_path) -> Store:
    """This test's copy of the day-0 store."""
    return copy_store(synced_day0[0], tmp_path / "store")


@pytest.fixture
def clean_day1_state(synced_day0) -> dict[str, list[tuple]]:
    return synced_day0[1]


@pytest.fixture
def store_engine(engine):
    """The `engine` store (an empty migrated SQLite file, or the module's PostgreSQL database
    emptied) with ACME and Beta registered."""
    with engine.begin() as conn:
        registry.register(conn, COMPANY, "ACME GmbH")
        registry.register(conn, "beta", "Beta AG")
    return engine


# Columns that differ between two correct runs: surrogate ids, timestamps, run ids.
def _volatile(column: sa.Column) -> bool:
    """Surrogate ids, timestamps, run ids, and the store signature (a digest over timestamps
    and ids, see store/unchanged.py)."""
    return (
        column.primary_key
        or isinstance(column.type, sa.DateTime)
        or column.name in {"run_id", "synced_store_signature"}
    )


def _label(row: sa.Row, table: sa.Table) -> tuple:
    """A row's identity without surrogate ids: its natural key where it has one."""
    for name in ("consumer_id", "employee_id", "unit_key", "team_key", "role_key"):
        if name in table.c and row._mapping[name] is not None:
            return (name, row._mapping[name])
    return tuple(row._mapping[c.name] for c in table.c if not _volatile(c) and not c.foreign_keys)


def logical_dump(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every table with ids replaced by what they point at and timestamps/run ids left out, so
    two stores that hold the same organisation compare equal however they got there."""
    with engine.connect() as conn:
        rows = {table.name: conn.execute(sa.select(table)).all() for table in metadata.sorted_tables}
    labels = {
        table.name: {row._mapping["id"]: _label(row, table) for row in rows[table.name]}
        for table in metadata.sorted_tables
        if "id" in table.c
    }
    out = {}
    for table in metadata.sorted_tables:
        kept = [c for c in table.c if not _volatile(c)]
        values = []
        for row in rows[table.name]:
            item = []
            for column in kept:
                value = row._mapping[column.name]
                if column.foreign_keys and value is not None:
                    target = next(iter(column.foreign_keys)).column.table.name
                    value = labels[target][value]
                elif isinstance(value, (dict, list)):
                    value = json.dumps(value, sort_keys=True)
                item.append(value)
            values.append(tuple(item))
        out[table.name] = sorted(values, key=repr)
    return out


def dump_difference(actual: dict[str, list[tuple]], expected: dict[str, list[tuple]], limit: int = 5) -> str:
    """The rows only one side has, per table, for a readable assertion message."""
    lines = []
    for table in sorted(set(actual) | set(expected)):
        extra = sorted(set(actual.get(table, [])) - set(expected.get(table, [])), key=repr)
        missing = sorted(set(expected.get(table, [])) - set(actual.get(table, [])), key=repr)
        if extra or missing:
            lines.append(f"{table}: {len(extra)} unexpected, {len(missing)} missing")
            lines += [f"  + {row}" for row in extra[:limit]] + [f"  - {row}" for row in missing[:limit]]
    return "\n".join(lines) or "same rows (order or multiplicity differs)"


# ---------------------------------------------------------------- the organisation model, without Dagster


def org_model_for(partition: str = COMPANY, size: int = 300, day: int = 0) -> OrgModel:
    """The model the org assets build for the sandbox company, through the same pure functions."""
    employees = normalise_employees(expected_raw(partition, size, day), today=TODAY).table
    return OrgModel(
        employees=employees,
        teams=derive_teams(employees),
        units=derive_units(employees),
        roles=derive_roles(employees),
        reporting_lines=derive_reporting_lines(employees).lines,
    )
