"""Benchmark of the company sync: requests, wall time, peak memory and the cost of re-syncs,
against a plain fetch-and-insert baseline, on SQLite and PostgreSQL.

    .venv/bin/python bench/run.py                      # 1,000 / 10,000 / 100,000, both databases, both profiles
    .venv/bin/python bench/run.py --quick              # 1,000 and 10,000 only
    .venv/bin/python bench/run.py --sizes 100000 --profiles diverse   # the targets' configuration
    .venv/bin/python bench/run.py --sizes 100000 --databases postgres --repeat 3
    .venv/bin/python bench/run.py --profile            # + pyinstrument profile of the largest first sync
    .venv/bin/python bench/run.py --schedule 200x200   # the daily schedule: 200 companies of 200 people

The sandbox runs as separate processes (day 0, and day 1 for the "~1 % changed" re-sync), one pair
per sandbox profile (diverse: as varied as real HR data; standard: the tidier one). Every
measurement runs in a fresh interpreter, so peak RSS is that of one sync. The same pages are also
read by the minimal script (bench/baseline.py) and by dlt's `rest_api` source (bench/dlt_rest_api.py,
needs the `bench` extra) in the same run. Results: stdout and bench/results.md (see bench/README.md
for what each column means).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH,
    SandboxProcess,
    consumer_id,
    expected_requests,
    fresh_database,
    machine,
    median,
    postgres_admin_url,
    register_company,
    run_child,
)

from personio_pipeline.apideck.fields import fields_param  # noqa: E402

TARGETS = {  # at 100,000 people, diverse profile: (what, limit)
    "first sync ÷ minimal script": 2.0,
    "no-op re-sync ÷ minimal script": 1.5,
    "peak RSS MB": 1024,
    "org model s": 2.5,  # the one step that builds employees, teams, units, roles, lines (was org/employees ≤ 1.5)
}
CHURN_DAY = 1  # day 1 changes ~1.1 % of a 10,000 or 100,000-person company (hires, leavers, a move, a rename)
REPORT_STEP = "verification report (after the sync, not in its wall time)"
STEP_GROUPS = (  # per-asset split, in graph order
    ("raw (apideck/employees)", lambda key: key == "apideck__employees"),
    ("org model (employees, teams, units, roles, lines)", lambda key: key == "org_model"),
    ("teammeter (write)", lambda key: key == "teammeter_sync"),
    (REPORT_STEP, lambda key: "review_report" in key),
    ("checks", lambda key: True),  # every other step is an asset check
)


def group_steps(steps: dict[str, float], combine=sum) -> dict[str, float]:
    grouped: dict[str, float] = {}
    rest = dict(steps)
    for label, belongs in STEP_GROUPS:
        grouped[label] = combine([rest.pop(key) for key in [k for k in rest if belongs(k)]] or [0.0])
    return grouped


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(size: int, kind: str, sandboxes: dict[str, SandboxProcess], workdir: Path,
            admin_url: str | None, with_dlt: bool) -> dict[str, Any]:
    """One repetition for one size and database: baseline, dlt, first sync, no-op re-sync, 1 % re-sync."""
    company = consumer_id(size)
    day0, day1 = sandboxes["day0"], sandboxes["day1"]
    out: dict[str, Any] = {}
    with fresh_database(kind, workdir, f"base-{size}", admin_url) as url:
        day0.reset()
        out["baseline"] = run_child("baseline.py", dict(workdir=workdir, base_url=day0.url, company=company,
                                                        database_url=url))
        out["baseline"]["requests"] = day0.requests(company)
    if with_dlt:
        dlt_dir = workdir / f"dlt-{size}-{kind}"
        with fresh_database(kind, workdir, f"dlt-{size}", admin_url) as url:
            day0.reset()
            out["dlt"] = run_child("dlt_rest_api.py", dict(workdir=workdir, base_url=day0.url, company=company,
                                                           database_url=url, work_dir=dlt_dir))
            out["dlt"]["requests"] = day0.requests(company)
        shutil.rmtree(dlt_dir, ignore_errors=True)
        log(f"  {size:>7} {kind:<8} dlt   {out['dlt']['wall_seconds']:7.2f} s  {out['dlt']['peak_rss_mb']:6.0f} MB")
    data_dir = workdir / f"data-{size}-{kind}"
    with fresh_database(kind, workdir, f"sync-{size}", admin_url) as url:
        register_company(url, company)
        common = dict(workdir=workdir, company=company, database_url=url, data_dir=data_dir)
        for phase, sandbox in (("first", day0), ("noop", day0), ("churn", day1)):
            sandbox.reset()
            run = run_child("pipeline_sync.py", dict(common, base_url=sandbox.url))
            if not run["success"]:
                raise RuntimeError(f"{phase} sync of {company} on {kind} failed: {run['failures']}")
            run["requests"] = sandbox.requests(company)
            out[phase] = run
            log(f"  {size:>7} {kind:<8} {phase:<5} {run['wall_seconds']:7.2f} s  {run['peak_rss_mb']:6.0f} MB  "
                f"{run['requests']} requests, {run['rows_written']} rows written")
    shutil.rmtree(data_dir, ignore_errors=True)
    log(f"  {size:>7} {kind:<8} base  {out['baseline']['wall_seconds']:7.2f} s")
    return out


def profile_first_sync(size: int, kind: str, sandbox: SandboxProcess, workdir: Path, admin_url: str | None) -> Path:
    """An extra first sync under pyinstrument (it slows the run ~2x, so it is not in the table)."""
    company, stem = consumer_id(size), BENCH / f"profile-{size}-{kind}"
    with fresh_database(kind, workdir, f"profile-{size}", admin_url) as url:
        register_company(url, company)
        sandbox.reset()
        run = run_child("pipeline_sync.py", dict(workdir=workdir, company=company, database_url=url,
                                                 data_dir=workdir / "profile-data", base_url=sandbox.url,
                                                 profile=stem))
    shutil.rmtree(workdir / "profile-data", ignore_errors=True)
    log(f"  profile of the {size:,} first sync on {kind}: {stem}.txt / .flat.txt / .html "
        f"({run['wall_seconds']:.1f} s under the profiler)")
    return stem


def summarise(profile: str, size: int, kind: str, reps: list[dict[str, Any]]) -> dict[str, Any]:
    def med(phase: str, key: str) -> float:
        return median([rep[phase][key] for rep in reps if phase in rep])

    first, baseline = med("first", "wall_seconds"), med("baseline", "wall_seconds")
    steps = {
        phase: {label: median([group_steps(rep[phase]["steps"])[label] for rep in reps])
                for label in group_steps(reps[0][phase]["steps"])}
        for phase in ("first", "noop", "churn")
    }
    for phase in steps:
        steps[phase]["dagster overhead (wall - steps)"] = max(
            0.0, med(phase, "wall_seconds") - sum(v for k, v in steps[phase].items() if k != REPORT_STEP))
    return {
        "profile": profile,
        "size": size,
        "db": kind,
        "dlt": med("dlt", "wall_seconds"),
        "dlt_rss": med("dlt", "peak_rss_mb"),
        "dlt_rows": reps[0].get("dlt", {}).get("rows", {}),
        "repeats": len(reps),
        "requests": sorted({rep["first"]["requests"] for rep in reps}),
        "expected_requests": expected_requests(size),
        "baseline_requests": sorted({rep["baseline"]["requests"] for rep in reps}),
        "first": first,
        "first_spread": (min(r["first"]["wall_seconds"] for r in reps), max(r["first"]["wall_seconds"] for r in reps)),
        "baseline": baseline,
        "baseline_fetch": med("baseline", "fetch_seconds"),
        "baseline_insert": med("baseline", "insert_seconds"),
        "baseline_rss": med("baseline", "peak_rss_mb"),
        "ratio": first / baseline,
        "noop_ratio": med("noop", "wall_seconds") / baseline,
        "rss": max(rep["first"]["peak_rss_mb"] for rep in reps),
        "rss_noop": max(rep["noop"]["peak_rss_mb"] for rep in reps),
        "first_rows_written": reps[0]["first"]["rows_written"],
        "noop": med("noop", "wall_seconds"),
        "noop_rows_written": max(rep["noop"]["rows_written"] for rep in reps),
        "churn": med("churn", "wall_seconds"),
        "churn_rows_written": reps[0]["churn"]["rows_written"],
        "churn_changes": reps[0]["churn"]["changes"],
        "import_seconds": med("first", "import_seconds"),
        "step_rss": {label: max(group_steps(rep["first"]["step_peak_rss_mb"], max)[label] for rep in reps)
                     for label, _ in STEP_GROUPS},
        "rss_before": max(rep["first"]["rss_before_mb"] or 0 for rep in reps),
        "steps": steps,
    }


def _seconds(value: float) -> str:
    return "–" if value != value else f"{value:.2f}"  # NaN: not measured


def results_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| profile | size | db | requests | minimal script s | dlt rest_api s | first sync s | ratio | "
        "no-op resync s | no-op ratio | peak RSS MB | rows written on no-op | 1% change s | rows written on 1% |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        requests = "/".join(map(str, r["requests"]))
        mark = "" if r["requests"] == [r["expected_requests"]] else f" (expected {r['expected_requests']})"
        lines.append(
            f"| {r['profile']} | {r['size']:,} | {r['db']} | {requests}{mark} | {r['baseline']:.2f} | "
            f"{_seconds(r['dlt'])} | {r['first']:.2f} | {r['ratio']:.1f}× | {r['noop']:.2f} | "
            f"{r['noop_ratio']:.1f}× | {r['rss']:.0f} | {r['noop_rows_written']} | "
            f"{r['churn']:.2f} | {r['churn_rows_written']:,} |"
        )
    return "\n".join(lines)


def target_values(r: dict[str, Any]) -> dict[str, float]:
    return {
        "first sync ÷ minimal script": r["ratio"],
        "no-op re-sync ÷ minimal script": r["noop_ratio"],
        "peak RSS MB": r["rss"],
        "org model s": r["steps"]["first"]["org model (employees, teams, units, roles, lines)"],
    }


def targets_table(rows: list[dict[str, Any]]) -> str:
    """The targets at 100,000 people on the diverse profile, met or not."""
    measured = [r for r in rows if r["size"] == 100_000 and r["profile"] == "diverse"]
    if not measured:
        return ""
    lines = ["| target (100,000, diverse) | limit | " + " | ".join(r["db"] for r in measured) + " |",
             "| --- | ---: |" + " ---: |" * len(measured)]
    for name, limit in TARGETS.items():
        cells = []
        for r in measured:
            value = target_values(r)[name]
            cells.append(f"{value:.2f} {'met' if value <= limit else '**not met**'}")
        lines.append(f"| {name} | {limit:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def split_table(rows: list[dict[str, Any]]) -> str:
    labels = list(dict.fromkeys(label for r in rows for phase in r["steps"].values() for label in phase))
    lines = ["| profile | size | db | sync | " + " | ".join(labels) + " |",
             "| --- | ---: | --- | --- |" + " ---: |" * len(labels)]
    for r in rows:
        for phase, name in (("first", "first"), ("noop", "no-op"), ("churn", "1%")):
            cells = [f"{r['steps'][phase].get(label, 0.0):.2f}" for label in labels]
            lines.append(f"| {r['profile']} | {r['size']:,} | {r['db']} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rss_table(rows: list[dict[str, Any]]) -> str:
    labels = [label for label, _ in STEP_GROUPS]
    lines = ["| profile | size | db | before the run | " + " | ".join(labels) + " |",
             "| --- | ---: | --- | ---: |" + " ---: |" * len(labels)]
    for r in rows:
        lines.append(f"| {r['profile']} | {r['size']:,} | {r['db']} | {r['rss_before']:.0f} | "
                     + " | ".join(f"{r['step_rss'][label]:.0f}" for label in labels) + " |")
    return "\n".join(lines)


def baseline_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| profile | size | db | baseline fetch s | baseline insert s | baseline peak RSS MB | "
             "dlt peak RSS MB | dlt rows (tables) | sync interpreter + imports s |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        dlt_rows = ", ".join(f"{table} {count:,}" for table, count in r["dlt_rows"].items()) or "–"
        lines.append(f"| {r['profile']} | {r['size']:,} | {r['db']} | {r['baseline_fetch']:.2f} | "
                     f"{r['baseline_insert']:.2f} | {r['baseline_rss']:.0f} | {_seconds(r['dlt_rss']).split('.')[0]} | "
                     f"{dlt_rows} | {r['import_seconds']:.2f} |")
    return "\n".join(lines)


def run_schedule(spec: str, kind: str, workdir: Path, admin_url: str | None) -> dict[str, Any]:
    """N companies of M people, one sync each, one after the other on one instance."""
    count, size = (int(part) for part in spec.lower().split("x"))
    prefix = "daily"
    sandbox = SandboxProcess({}, default_size=size)
    try:
        with fresh_database(kind, workdir, "schedule", admin_url) as url:
            register_company(url, f"{prefix}-0")
            from personio_pipeline.companies import registry
            from personio_pipeline.store.db import create_engine

            engine = create_engine(url)
            with engine.begin() as conn:
                for number in range(1, count):
                    registry.register(conn, f"{prefix}-{number}", f"Daily {number}")
            engine.dispose()
            sandbox.reset()
            result = run_child("many_companies.py", dict(workdir=workdir, base_url=sandbox.url, database_url=url,
                                                         data_dir=workdir / "schedule-data", companies=count,
                                                         prefix=prefix), timeout=3600)
    finally:
        sandbox.stop()
    result.update(count=count, size=size, db=kind, job_runs_count=min(3, count))
    return result


def schedule_text(s: dict[str, Any]) -> str:
    steps = sorted(s["steps_median"].items(), key=lambda item: -item[1])
    return "\n".join([
        f"{s['count']} companies × {s['size']} employees on {s['db']}, one `dg.materialize` per company, "
        f"sequential in one process ({s['instance']} Dagster instance):",
        "",
        f"- total {s['total_seconds']:.1f} s for {s['succeeded']}/{s['count']} successful syncs, "
        f"{s['requests']} API requests",
        f"- per company: median {s['per_company_median']:.2f} s (p90 {s['per_company_p90']:.2f} s, "
        f"first {s['first_company_seconds']:.2f} s; median of the first tenth {s['first_tenth_median']:.2f} s, "
        f"of the last tenth {s['last_tenth_median']:.2f} s); of the median, steps "
        f"{s['steps_total_median']:.2f} s, Dagster orchestration and event log {s['overhead_median']:.2f} s",
        f"- slowest steps (median per company): " + ", ".join(f"{k} {v:.3f} s" for k, v in steps[:5]),
        f"- CPU time of the process {s['cpu_seconds']:.0f} s of {s['total_seconds']:.0f} s wall; peak RSS after "
        f"{s['count']} runs: {s['peak_rss_mb']:.0f} MB",
        f"- a run in its own process (the default run launcher) also pays interpreter start + loading the "
        f"code location: {s['process_start_seconds']:.2f} s measured here",
        f"- the deployed `sync_company` job (`execute_job`, re-sync, median of {s['job_runs_count']}): "
        + ", ".join(f"{seconds:.1f} s per run with its {executor} executor" for executor, seconds in s["job_runs"].items()),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated company sizes")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--quick", action="store_true", help="sizes 1,000 and 10,000 only")
    parser.add_argument("--profiles", default="diverse,standard", help="sandbox profiles: diverse, standard or both")
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt's rest_api source (needs the bench extra)")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions per size and database; medians reported")
    parser.add_argument("--profile", action="store_true",
                        help="profile the largest first sync with pyinstrument (bench/profile-<size>-<db>.txt/.html)")
    parser.add_argument("--schedule", metavar="NxM", help="also run N companies of M employees one after the other")
    parser.add_argument("--schedule-only", action="store_true", help="run only --schedule")
    parser.add_argument("--postgres-url", help="admin URL of the PostgreSQL server (default: postgres@/root@ 127.0.0.1)")
    parser.add_argument("--results", default=str(BENCH / "results.md"), help="markdown output")
    args = parser.parse_args()

    sizes = [1000, 10000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    unknown = set(kinds) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown databases {sorted(unknown)}")
    admin_url = postgres_admin_url(args.postgres_url) if "postgres" in kinds else None
    if "postgres" in kinds and admin_url is None:
        parser.error("PostgreSQL is not reachable; pass --postgres-url or --databases sqlite")
    profiles_wanted = [p.strip() for p in args.profiles.split(",") if p.strip()]
    if set(profiles_wanted) - {"diverse", "standard"}:
        parser.error(f"unknown profiles {sorted(set(profiles_wanted) - {'diverse', 'standard'})}")
    with_dlt = not args.no_dlt
    if with_dlt:
        try:
            import dlt  # noqa: F401
        except ImportError:
            parser.error("dlt is not installed: .venv/bin/pip install -e '.[bench]' (or pass --no-dlt)")
    if args.profile:
        try:
            import pyinstrument  # noqa: F401
        except ImportError:
            parser.error("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
    info = machine()
    log(f"machine: {info}")
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    schedule: dict[str, Any] | None = None
    profiles: list[Path] = []
    workdir = Path(tempfile.mkdtemp(prefix="personio-bench-"))
    try:
        for sandbox_profile in ([] if args.schedule_only else profiles_wanted):
            companies = {consumer_id(size): size for size in sizes}
            sandboxes = {"day0": SandboxProcess(companies, profile=sandbox_profile),
                         "day1": SandboxProcess(companies, day=CHURN_DAY, profile=sandbox_profile)}
            try:
                for size in sizes:
                    log(f"{sandbox_profile} profile, size {size:,}: warming the sandboxes "
                        "(generation and encoding are not timed)")
                    for sandbox in sandboxes.values():
                        sandbox.warm(consumer_id(size), fields_param())
                    for kind in kinds:
                        reps = [measure(size, kind, sandboxes, workdir, admin_url, with_dlt)
                                for _ in range(args.repeat)]
                        rows.append(summarise(sandbox_profile, size, kind, reps))
                        if args.profile and size == max(sizes) and sandbox_profile == profiles_wanted[0]:
                            profiles.append(profile_first_sync(size, kind, sandboxes["day0"], workdir, admin_url))
            finally:
                for sandbox in sandboxes.values():
                    sandbox.stop()
        if args.schedule:
            log(f"schedule {args.schedule} on {kinds[0]}")
            schedule = run_schedule(args.schedule, kinds[0], workdir, admin_url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started

    command = "python bench/run.py " + " ".join(sys.argv[1:])
    parts = [
        "# Sync benchmark",
        "",
        f"`{command.strip()}` — {dt.datetime.now().isoformat(timespec='minutes')}, commit {info['commit']}, "
        f"{elapsed / 60:.1f} min in all.",
        f"Machine: {info['nproc']} cores (`nproc`), {info['cpu']}, {info['ram_gb']} GB RAM, Python {info['python']}, "
        f"1-min load at start {info['load_1min']} (the machine is shared: timings are noisy). "
        f"Medians of {args.repeat} repetition(s).",
        "",
    ]
    if rows:
        targets = targets_table(rows)
        parts += ["## Syncs", "", results_table(rows), "",
                  "Times are `dg.materialize` wall seconds (interpreter start and imports excluded: "
                  f"{rows[0]['import_seconds']:.1f} s); minimal script = httpx pages + one executemany into one "
                  "table; dlt = dlt's `rest_api` source on the same pages into the same kind of database "
                  "(`sqlalchemy` destination; its nested lists become child tables), imports excluded. "
                  "Ratios are against the minimal script. Peak RSS is the sync process's VmHWM.", "",
                  *(["## Targets", "", targets, ""] if targets else []),
                  "## Per-asset split (step durations, seconds)", "", split_table(rows), "",
                  "## Peak RSS while each step ran (first sync, MB)", "", rss_table(rows), "",
                  "## Baseline detail", "", baseline_table(rows), ""]
        churn = rows[-1]["churn_changes"]
        parts += [f"1% change = sandbox churn day {CHURN_DAY}; changes per table at {rows[-1]['size']:,} "
                  f"({rows[-1]['profile']} profile): "
                  + ", ".join(f"{k} {v}" for k, v in churn.items()), ""]
    if profiles:
        parts += ["## Profiles", "", *(f"- `{p.relative_to(BENCH.parent)}.txt` (tree), `.flat.txt` (self time), "
                                       "`.html`" for p in profiles), ""]
    if schedule:
        parts += ["## Daily schedule", "", schedule_text(schedule), ""]
    text = "\n".join(parts)
    Path(args.results).write_text(text)
    print(text)
    problems = [f"{r['size']} {r['db']}: requests {r['requests']} != {r['expected_requests']}"
                for r in rows if r["requests"] != [r["expected_requests"]]]
    problems += [f"{r['size']} {r['db']}: no-op re-sync wrote {r['noop_rows_written']} rows"
                 for r in rows if r["noop_rows_written"]]
    if problems:
        log("FAILED: " + "; ".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
