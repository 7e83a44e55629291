"""Child process: the daily schedule's work for many companies, modelled as one sync run per
company, one after the other, on one Dagster instance with run and event storage on disk (as a
deployment has). Writes totals and per-company figures as JSON to --out."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import API_KEY, APP_ID, REPO, peak_rss_mb  # noqa: E402


def deployed_job_runs(dg, instance, keys: list[str]) -> dict[str, float]:
    """The `sync_company` job of `personio_pipeline.definitions` as a deployment runs it
    (`execute_job`: no output capture, the executor the definitions give it), median seconds
    per run (re-syncs)."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repository = ReconstructableRepository.for_module("personio_pipeline.definitions", "defs",
                                                      working_directory=str(REPO))
    job = repository.get_reconstructable_job("sync_company")
    executor = job.get_definition().executor_def.name
    walls = []
    for key in keys:
        started = time.perf_counter()
        result = dg.execute_job(job, instance, tags={"dagster/partition": key})
        walls.append(time.perf_counter() - started)
        if not result.success:
            raise RuntimeError(f"deployed job run of {key} ({executor} executor) failed")
    return {executor: statistics.median(walls) if walls else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--companies", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--job-runs", type=int, default=3,
                        help="also re-sync this many companies through the deployed job (execute_job)")
    args = parser.parse_args()

    os.environ.update(
        APIDECK_BASE_URL=args.base_url,
        APIDECK_API_KEY=API_KEY,
        APIDECK_APP_ID=APP_ID,
        TEAMMETER_DATABASE_URL=args.database_url,
        PERSONIO_PIPELINE_DATA_DIR=args.data_dir,
    )
    import dagster as dg

    from personio_pipeline.defs.ingest.assets import raw_employees
    from personio_pipeline.defs.org.assets import org_assets
    from personio_pipeline.defs.shared.partitions import companies
    from personio_pipeline.defs.shared.resources import default_resources
    from personio_pipeline.defs.store.assets import teammeter_sync

    keys = [f"{args.prefix}-{number}" for number in range(args.companies)]
    assets = [raw_employees, *org_assets, teammeter_sync]
    resources = default_resources()
    walls, step_totals, failures = [], [], []
    steps: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with dg.DagsterInstance.local_temp(home) as instance:
            instance.add_dynamic_partitions(companies.name, keys)
            started = time.perf_counter()
            for key in keys:
                run_started = time.perf_counter()
                result = dg.materialize(assets, resources=resources, instance=instance, partition_key=key,
                                        raise_on_error=False, tags={"personio_pipeline/trigger": "daily_sync"})
                walls.append(time.perf_counter() - run_started)
                total = 0.0
                for event in result.all_events:
                    if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                        seconds = event.event_specific_data.duration_ms / 1000
                        steps.setdefault(event.step_key, []).append(seconds)
                        total += seconds
                step_totals.append(total)
                if not result.success:
                    failures.append(key)
            total_seconds = time.perf_counter() - started
            import httpx

            log = httpx.get(f"{args.base_url}/_sandbox/requests", timeout=60).json()["requests"]
            requests = sum(1 for entry in log if entry["path"] == "/hris/employees")
            job_runs = deployed_job_runs(dg, instance, keys[: args.job_runs])
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import personio_pipeline.definitions"], cwd=REPO, check=True,
                   capture_output=True)
    process_start = time.perf_counter() - started
    ordered = sorted(walls)
    Path(args.out).write_text(json.dumps({
        "instance": "on-disk (SQLite run/event storage)",
        "total_seconds": total_seconds,
        "succeeded": len(keys) - len(failures),
        "failures": failures[:10],
        "per_company_median": statistics.median(walls),
        "per_company_p90": ordered[int(0.9 * (len(ordered) - 1))],
        "first_tenth_median": statistics.median(walls[: max(1, len(walls) // 10)]),
        "last_tenth_median": statistics.median(walls[-max(1, len(walls) // 10):]),
        "cpu_seconds": time.process_time(),
        "first_company_seconds": walls[0],
        "steps_total_median": statistics.median(step_totals),
        "overhead_median": statistics.median(w - s for w, s in zip(walls, step_totals)),
        "steps_median": {key: statistics.median(values) for key, values in steps.items()},
        "peak_rss_mb": peak_rss_mb(),
        "process_start_seconds": process_start,
        "job_runs": job_runs,
        "requests": requests,
    }))


if __name__ == "__main__":
    main()
