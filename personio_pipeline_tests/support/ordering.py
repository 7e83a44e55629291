"""Long test files first. Under pytest-xdist with `--dist loadfile` each worker takes whole files
in collection order; a daemon test that starts last leaves the other core idle while it runs.
Files holding a test marked `slow` are moved to the front (both groups keep their own order), so
the long ones start first and the short ones fill in around them. Tests within a file keep
their order."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: False (slow files) sorts first
