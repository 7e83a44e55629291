"""The suite's one Dagster instance fixture: every instance a test opens is closed when it ends.

- `instance`: a fresh instance on SQLite in the test's own temporary folder (`dg.instance_for_test`:
  telemetry off, DAGSTER_HOME pointing at it while the test runs), as a deployment keeps runs,
  event logs, dynamic partitions and compute logs.
- `open_instance`: for a test that needs a particular one, e.g. `open_instance(home=path)` for
  the instance a `dagster.yaml` in `path` describes, or `open_instance(overrides={...})`; any
  number per test, each closed at its end.

A module that wants something on every instance extends the fixture under its own name, e.g.

    @pytest.fixture
    def instance(instance):
        instance.add_dynamic_partitions(companies.name, [COMPANY])
        return instance
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import dagster as dg
import pytest


@pytest.fixture
def open_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., dg.DagsterInstance]]:
    """Opens Dagster instances for one test; all are closed at its end, last opened first."""
    with contextlib.ExitStack() as stack:

        def open_(*, home: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> dg.DagsterInstance:
            if home is not None:
                if overrides:
                    raise ValueError("an instance from a home takes its settings from home/dagster.yaml")
                return stack.enter_context(dg.DagsterInstance.from_config(str(home)))
            folder = tmp_path_factory.mktemp("dagster_home")
            return stack.enter_context(dg.instance_for_test(overrides=overrides, temp_dir=str(folder)))

        yield open_


@pytest.fixture
def instance(open_instance: Callable[..., dg.DagsterInstance]) -> dg.DagsterInstance:
    """A fresh Dagster instance for this test (SQLite in a temporary folder), closed at its end."""
    return open_instance()
