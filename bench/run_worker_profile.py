"""Where one run's CPU goes: a run of the deployed `sync_company` job for one company, in a fresh
interpreter, as the run worker of the DefaultRunLauncher does it (import Dagster, load the code
location, open the instance of deploy/dagster.yaml on PostgreSQL, execute the run), under cProfile
with a CPU clock, so the figures hold on a busy machine.

    .venv/bin/python bench/run_worker_profile.py                 # 200 people, diverse profile
    .venv/bin/python bench/run_worker_profile.py --runs 3        # medians of 3 fresh processes

Prints CPU seconds per phase and for the functions that matter (imports, instance start, event
log writes and their connections, each step's compute), and the events written per run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import API_KEY, APP_ID, REPO, SandboxProcess, fresh_database, postgres_admin_url  # noqa: E402
from fleet import instance_yaml, pg_env  # noqa: E402

COMPANY = "worker-co"
# (label, how cProfile names it: file suffix, function name)
FUNCTIONS = (
    ("event log writes (store_event)", "dagster_postgres/event_log/event_log.py", "store_event"),
    ("  of which new PostgreSQL connections", "psycopg2/__init__.py", "connect"),
    ("run storage writes (handle_run_event)", "dagster/_core/storage/runs/sql_run_storage.py", "handle_run_event"),
    ("step: apideck/employees", "personio_pipeline/defs/ingest/assets.py", "raw_employees"),
    ("step: org_model", "personio_pipeline/defs/org/assets.py", "org_model"),
    ("step: teammeter_sync", "personio_pipeline/defs/store/assets.py", "teammeter_sync"),
    ("IO manager writes", "personio_pipeline/defs/shared/io.py", "handle_output"),
    ("IO manager reads", "personio_pipeline/defs/shared/io.py", "load_input"),
)


def child(args) -> None:
    """One run worker's work, phase by phase, with CPU times."""
    profiler = cProfile.Profile(time.process_time)
    phases = {}
    if not args.plain:
        profiler.enable()
    mark = time.process_time()
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    phases["import dagster"] = time.process_time() - mark
    mark = time.process_time()
    repository = ReconstructableRepository.for_module("personio_pipeline.definitions", "defs",
                                                      working_directory=str(REPO))
    job = repository.get_reconstructable_job("sync_company")
    job.get_definition()
    phases["load the code location"] = time.process_time() - mark
    mark = time.process_time()
    instance = dg.DagsterInstance.get()
    instance.run_storage.has_run("none"), instance.event_log_storage.get_stats_for_run  # touch both storages
    phases["open the instance (PostgreSQL storage)"] = time.process_time() - mark
    mark = time.process_time()
    if args.pyinstrument:  # the run's execution as a call tree (wall clock, sampled)
        from pyinstrument import Profiler

        with Profiler(interval=0.001) as sampled:
            result = dg.execute_job(job, instance, tags={"dagster/partition": COMPANY})
        Path(args.pyinstrument).write_text(sampled.output_text(unicode=True, show_all=True))
    else:
        result = dg.execute_job(job, instance, tags={"dagster/partition": COMPANY})
    phases["execute the run"] = time.process_time() - mark
    profiler.disable()
    events = len(instance.all_logs(result.run_id))
    stats = pstats.Stats(profiler) if not args.plain else None
    functions = {}
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in (stats.stats.items() if stats else []):
        for label, suffix, wanted in FUNCTIONS:
            if name == wanted and filename.endswith(suffix):
                functions[label] = functions.get(label, 0.0) + cumulative
    imports = sum(cumulative for (filename, _l, name), (_cc, _nc, _tt, cumulative, _c) in
                  (stats.stats.items() if stats else []) if name == "_find_and_load" and "importlib" in filename)
    Path(args.out).write_text(json.dumps({
        "success": result.success, "phases": phases, "functions": functions, "events": events,
        "imports_inside_phases": imports, "cpu_total": time.process_time(), "profiled": not args.plain,
    }))
    instance.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--profile", default="diverse", choices=["diverse", "standard"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres-url")
    parser.add_argument("--plain", action="store_true",
                        help="no cProfile (it slows Python code ~2x): phase CPU times only")
    parser.add_argument("--pyinstrument", metavar="FILE",
                        help="with --plain: write a pyinstrument call tree of the run's execution to FILE")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    admin_url = postgres_admin_url(args.postgres_url)
    workdir = Path(tempfile.mkdtemp(prefix="personio-worker-"))
    sandbox = SandboxProcess({COMPANY: args.size}, profile=args.profile)
    results = []
    try:
        with fresh_database("postgres", workdir, "worker-dagster", admin_url) as dagster_url, \
                fresh_database("postgres", workdir, "worker-teammeter", admin_url) as teammeter_url:
            home = workdir / "dagster_home"
            instance_yaml(home, None, None)
            env = {**os.environ, **pg_env(dagster_url), "DAGSTER_HOME": str(home),
                   "TEAMMETER_DATABASE_URL": teammeter_url, "PERSONIO_PIPELINE_DATA_DIR": str(workdir / "data"),
                   "APIDECK_BASE_URL": sandbox.url, "APIDECK_API_KEY": API_KEY, "APIDECK_APP_ID": APP_ID}
            os.environ.update(env)
            import dagster as dg

            from personio_pipeline.companies import registry
            from personio_pipeline.defs.shared.partitions import companies
            from personio_pipeline.store.db import create_engine, migrate

            engine = create_engine(teammeter_url)
            migrate(engine)  # the deploy step (`personio-pipeline db upgrade`)
            with engine.begin() as conn:
                registry.register(conn, COMPANY, "Worker Co")
            engine.dispose()
            with dg.DagsterInstance.get() as instance:
                instance.add_dynamic_partitions(companies.name, [COMPANY])
            for number in range(args.runs):
                out = workdir / f"run-{number}.json"
                started = time.perf_counter()
                subprocess.run([sys.executable, __file__, "--child", "--out", str(out),
                                *(["--plain"] if args.plain else []),
                                *(["--pyinstrument", args.pyinstrument] if args.pyinstrument else [])], env=env, cwd=REPO, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                result = json.loads(out.read_text())
                result["wall"] = time.perf_counter() - started
                results.append(result)
                print(f"run {number + 1}: {result['cpu_total']:.2f} s CPU, {result['wall']:.2f} s wall, "
                      f"{result['events']} events, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    finally:
        sandbox.stop()
    med = lambda values: statistics.median(values)  # noqa: E731
    print(f"\n`python bench/run_worker_profile.py {' '.join(sys.argv[1:])}`; load average at the end "
          f"{os.getloadavg()[0]:.1f}")
    print(f"\nOne run of sync_company ({args.size} people, {args.profile} profile), fresh process, "
          f"PostgreSQL instance; CPU seconds, median of {len(results)}:\n")
    print("| phase | CPU s |\n| --- | ---: |")
    for phase in results[0]["phases"]:
        print(f"| {phase} | {med([r['phases'][phase] for r in results]):.2f} |")
    print(f"| **whole process (incl. interpreter start)** | **{med([r['cpu_total'] for r in results]):.2f}** |")
    if args.plain:
        return
    print("\n| inside the run (under cProfile, which inflates Python-heavy code) | CPU s |\n| --- | ---: |")
    for label, _, _ in FUNCTIONS:
        print(f"| {label} | {med([r['functions'].get(label, 0.0) for r in results]):.2f} |")
    print(f"\nEvents written per run: {med([r['events'] for r in results]):.0f}; "
          f"all imports (cProfile, incl. those inside phases): {med([r['imports_inside_phases'] for r in results]):.2f} s")


if __name__ == "__main__":
    main()
