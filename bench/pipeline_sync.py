"""Child process: one sync of one company through Dagster, as the deployment runs it.

`dg.materialize` of the whole sync graph (raw -> organisation model + checks -> Teammeter, then the
verification report, whose step time is reported apart from the sync's wall time) with
the real resources (`default_resources()`) pointed at the sandbox, the given database and data
folder. Writes wall time, per-step durations, what was requested and written, and this
process's peak RSS as JSON to --out. Run by bench/run.py, one process per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import API_KEY, APP_ID, peak_rss_mb  # noqa: E402


class RssSampler(threading.Thread):
    """Samples this process's resident set every 20 ms, so peaks can be put down to steps."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()
        self.page_mb = os.sysconf("SC_PAGE_SIZE") / 1024 / 1024

    def run(self) -> None:
        with open("/proc/self/statm") as statm:
            while not self.done.wait(0.02):
                statm.seek(0)
                self.samples.append((time.time(), int(statm.read().split()[1]) * self.page_mb))

    def peak_between(self, start: float, end: float) -> float:
        return max((rss for at, rss in self.samples if start <= at <= end), default=0.0)


def step_peaks(dg, instance, run_id: str, sampler: RssSampler) -> dict[str, float]:
    """Peak RSS while each step ran (step start/end from the run's event log)."""
    started: dict[str, float] = {}
    peaks: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            peaks[event.step_key] = sampler.peak_between(started.get(event.step_key, 0.0), entry.timestamp)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--company", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--profile", help="write a pyinstrument profile of the sync to this path (.txt and .html)")
    args = parser.parse_args()

    os.environ.update(
        APIDECK_BASE_URL=args.base_url,
        APIDECK_API_KEY=API_KEY,
        APIDECK_APP_ID=APP_ID,
        TEAMMETER_DATABASE_URL=args.database_url,
        PERSONIO_PIPELINE_DATA_DIR=args.data_dir,
    )
    started = time.perf_counter()
    import dagster as dg

    from personio_pipeline.defs.ingest.assets import raw_employees
    from personio_pipeline.defs.org.assets import org_assets
    from personio_pipeline.defs.shared.partitions import companies
    from personio_pipeline.defs.shared.resources import default_resources
    from personio_pipeline.defs.store.assets import teammeter_sync
    from personio_pipeline.defs.store.review_report import review_report

    import_seconds = time.perf_counter() - started
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [args.company])
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    result = dg.materialize(
        [raw_employees, *org_assets, teammeter_sync, review_report],
        resources=default_resources(),
        instance=instance,
        partition_key=args.company,
        raise_on_error=False,
    )
    wall = time.perf_counter() - started
    sampler.done.set()
    if profiler is not None:
        profiler.stop()
        stem = Path(args.profile)
        stem.with_suffix(".txt").write_text(profiler.output_text(unicode=True, color=False))
        stem.with_suffix(".flat.txt").write_text(profiler.output_text(unicode=True, color=False, flat=True))
        stem.with_suffix(".html").write_text(profiler.output_html())
        profiler.last_session.save(str(stem.with_suffix(".pyisession")))

    steps: dict[str, float] = {}
    failures: list[str] = []
    metadata: dict[str, dict[str, object]] = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            failures.append(f"{event.step_key}: {event.event_specific_data.error.message.strip()}")
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            metadata[materialization.asset_key.to_user_string()] = {
                key: value.value for key, value in materialization.metadata.items()
                if isinstance(value.value, (int, float, str, bool))
            }
    # The verification report is built last, after the Teammeter write: the sync's wall time is
    # the run's without it (the report's own step time is reported next to it).
    report_seconds = sum(seconds for step, seconds in steps.items() if "review_report" in step)
    wall -= report_seconds
    raw = metadata.get("apideck/employees", {})
    users = metadata.get("teammeter/users", {})
    Path(args.out).write_text(json.dumps({
        "success": result.success,
        "failures": failures,
        "wall_seconds": wall,
        "report_seconds": report_seconds,
        "import_seconds": import_seconds,
        "steps": steps,
        "rows": raw.get("dagster/row_count"),
        "requests_reported": raw.get("requests"),
        "rows_written": users.get("company_rows_written"),
        "changes": {key.removeprefix("teammeter/"): value.get("changes") for key, value in metadata.items()
                    if key.startswith("teammeter/")},
        "peak_rss_mb": peak_rss_mb(),
        "step_peak_rss_mb": step_peaks(dg, instance, result.run_id, sampler),
        "rss_before_mb": sampler.samples[0][1] if sampler.samples else None,
    }))


if __name__ == "__main__":
    main()
