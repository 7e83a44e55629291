"""A snapshot of the asset graph, so that a renamed key, a moved dependency, a check that stops
blocking or a changed schedule shows in review as a diff of `graph_snapshot.txt`.

The graph is rendered from `personio_pipeline.definitions.defs` in a fresh interpreter with an
almost empty environment: some definitions read the environment when imported (the daily
schedule's cron and timezone, the webhook sensor's interval), and the snapshot holds the defaults.

After an intended change, regenerate the file and commit it with the change:

    UPDATE_GRAPH_SNAPSHOT=1 pytest personio_pipeline_tests/defs/test_graph_snapshot.py
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).with_name("graph_snapshot.txt")
REPOSITORY = Path(__file__).resolve().parents[2]
UPDATE_VARIABLE = "UPDATE_GRAPH_SNAPSHOT"
HEADER = f"""\
# The asset graph of personio_pipeline.definitions.defs, as rendered by
# personio_pipeline_tests/defs/test_graph_snapshot.py (environment defaults).
# Regenerate after an intended change and commit it with the change:
#   {UPDATE_VARIABLE}=1 pytest personio_pipeline_tests/defs/test_graph_snapshot.py
"""


def render() -> str:
    """Every asset (deps, group, partitions), asset check (asset, blocking), job (selection),
    schedule (cron, timezone, job) and sensor (kind, target, interval), sorted by name."""
    import dagster as dg

    from personio_pipeline.definitions import defs

    def names(items) -> str:
        return ", ".join(sorted(items)) or "-"

    graph = defs.resolve_asset_graph()
    lines = [HEADER, "assets"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda asset_key: asset_key.to_user_string()):
        node = graph.get(key)
        lines += [
            f"  {key.to_user_string()}",
            f"    deps: {names(parent.to_user_string() for parent in node.parent_keys)}",
            f"    group: {node.group_name}",
            f"    partitions: {node.partitions_def or '-'}",
        ]

    lines.append("asset checks")
    for check_key in sorted(graph.asset_check_keys, key=lambda key: (key.asset_key.to_user_string(), key.name)):
        spec = graph.get_check_spec(check_key)
        lines.append(f"  {check_key.name} on {check_key.asset_key.to_user_string()}: "
                     f"{'blocking' if spec.blocking else 'not blocking'}")

    lines.append("jobs")
    for job in sorted(defs.resolve_all_job_defs(), key=lambda job_def: job_def.name):
        if job.name.startswith("__"):  # Dagster's implicit job of all assets
            continue
        layer = job.asset_layer
        assets = {key.to_user_string() for key in layer.selected_asset_keys}
        checks = {f"{key.name} on {key.asset_key.to_user_string()}" for key in layer.asset_graph.asset_check_keys}
        lines.append(f"  {job.name}")
        if assets or checks:
            lines += [f"    assets: {names(assets)}", f"    checks: {names(checks)}"]
        else:
            lines.append(f"    ops: {names(node.name for node in job.graph.node_defs)}")
        lines.append(f"    partitions: {job.partitions_def or '-'}")

    lines.append("schedules")
    repository = defs.get_repository_def()
    for schedule in sorted(repository.schedule_defs, key=lambda schedule_def: schedule_def.name):
        lines.append(f"  {schedule.name}: cron '{schedule.cron_schedule}' in {schedule.execution_timezone or 'UTC'}"
                     f" -> {schedule.job_name}; default {schedule.default_status.value.lower()}")

    lines.append("sensors")
    for sensor in sorted(repository.sensor_defs, key=lambda sensor_def: sensor_def.name):
        if isinstance(sensor, dg.RunStatusSensorDefinition):
            monitored = [getattr(job, "name", str(job)) for job in sensor._monitored_jobs or []]  # noqa: SLF001
            target = f"watches {names(monitored) if monitored else 'every job of the code location'}"
        else:
            target = f"launches {names(t.job_name for t in sensor.targets)}" if sensor.targets else "launches no run"
        lines.append(f"  {sensor.name}: {sensor.sensor_type.value.lower()}, {target}, "
                     f"every {sensor.minimum_interval_seconds} s; default {sensor.default_status.value.lower()}")
    return "\n".join(lines) + "\n"


def render_in_a_clean_process() -> str:
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
                   "PYTHONPATH": str(REPOSITORY), "PYTHONWARNINGS": "ignore"}
    code = "import sys; from personio_pipeline_tests.defs.test_graph_snapshot import render; sys.stdout.write(render())"
    completed = subprocess.run([sys.executable, "-c", code], env=environment, cwd=REPOSITORY,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_the_asset_graph_matches_the_snapshot():
    actual = render_in_a_clean_process()
    expected = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    if actual == expected:
        return
    if os.environ.get(UPDATE_VARIABLE) == "1":
        SNAPSHOT.write_text(actual, encoding="utf-8")
        pytest.skip(f"{SNAPSHOT.name} rewritten from the current definitions: review the diff and commit it")
    diff = "".join(difflib.unified_diff(
        expected.splitlines(keepends=True), actual.splitlines(keepends=True),
        fromfile=f"{SNAPSHOT.name} (checked in)", tofile="the current definitions",
    ))
    pytest.fail(
        f"The asset graph differs from {SNAPSHOT.name}:\n{diff}\n"
        f"If the change is intended, regenerate the snapshot and commit it with the change:\n"
        f"  {UPDATE_VARIABLE}=1 pytest personio_pipeline_tests/defs/test_graph_snapshot.py",
        pytrace=False,
    )
