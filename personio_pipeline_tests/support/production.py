"""The production profile in tests: deploy/dagster.yaml written to a test's DAGSTER_HOME, pointed
at a fresh PostgreSQL database (`new_database` in support/stores.py) through the DAGSTER_PG_*
variables it reads; and how many runs the queue let overlap."""

from __future__ import annotations

from pathlib import Path

import yaml

from personio_pipeline_tests.support.processes import REPO

DEPLOY = REPO / "deploy"


def dagster_pg_env(info: dict) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads."""
    return {
        "DAGSTER_PG_HOST": info.get("host", "127.0.0.1"),
        "DAGSTER_PG_PORT": str(info.get("port", 5432)),
        "DAGSTER_PG_USER": info["user"],
        "DAGSTER_PG_PASSWORD": info.get("password") or "",
        "DAGSTER_PG_DB": info["dbname"],
    }


def production_instance(home: Path, **run_queue) -> dict:
    """deploy/dagster.yaml written to `home`, with `concurrency.runs` and run-coordinator
    settings overridden where a test needs tighter limits than production."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    runs = config["concurrency"]["runs"]
    for key in ("max_concurrent_runs", "tag_concurrency_limits"):
        if key in run_queue:
            runs[key] = run_queue.pop(key)
    config["run_coordinator"]["config"].update(run_queue)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at the same moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, step in edges:  # at equal times -1 sorts first: touching intervals do not overlap
        open_now += step
        peak = max(peak, open_now)
    return peak
