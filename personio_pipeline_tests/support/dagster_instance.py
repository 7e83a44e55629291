"""The suite's one Dagster instance fixture: every instance a test opens is closed when it ends.

- `instance`: a fresh instance for this test. In memory by default (runs, event log, dynamic
  partitions, sensor and schedule state: all a test context needs, and ten times quicker to
  open); on SQLite in a temporary folder, as a deployment keeps it (compute logs on disk,
  DAGSTER_HOME pointing at it while the test runs), where the test or its module is marked
  `@pytest.mark.dagster_instance(on_disk=True)`.
- `open_instance`: for a test that needs another one, or several: `open_instance()`,
  `open_instance(on_disk=True)`, `open_instance(overrides={...})` (on disk) or
  `open_instance(home=path)` (the instance the `dagster.yaml` in `path` describes).

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

MARKER = "dagster_instance"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(on_disk=False): how the `instance` fixture opens its instance "
        "(personio_pipeline_tests/support/dagster_instance.py)",
    )


@pytest.fixture
def open_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., dg.DagsterInstance]]:
    """Opens Dagster instances for one test; all are closed at its end, last opened first."""
    with contextlib.ExitStack() as stack:

        def open_(*, on_disk: bool = False, overrides: Mapping[str, Any] | None = None,
                  home: str | Path | None = None) -> dg.DagsterInstance:
            if home is not None:
                if overrides or on_disk:
                    raise ValueError("an instance from a home is on disk, with the settings of home/dagster.yaml")
                return stack.enter_context(dg.DagsterInstance.from_config(str(home)))
            if on_disk or overrides:
                folder = tmp_path_factory.mktemp("dagster_home")
                return stack.enter_context(dg.instance_for_test(overrides=overrides, temp_dir=str(folder)))
            return stack.enter_context(dg.DagsterInstance.ephemeral())

        yield open_


@pytest.fixture
def instance(request: pytest.FixtureRequest, open_instance: Callable[..., dg.DagsterInstance]) -> dg.DagsterInstance:
    """A fresh Dagster instance for this test, closed at its end (in memory unless the test is
    marked `dagster_instance(on_disk=True)`)."""
    marker = request.node.get_closest_marker(MARKER)
    return open_instance(**(marker.kwargs if marker else {}))
