"""End to end, as the operator runs it: `personio-pipeline sync ID --in-process`, first and no-op,
timed as whole commands (process start, imports, the sync, the verification report, exit),
against the minimal script and dlt's `rest_api` on the same pages, and `python -c "import dagster"`.

    PYTHONPATH=. .venv/bin/python bench/operator.py                        # 1,000 and 100,000, data sets A and B, SQLite
    PYTHONPATH=. .venv/bin/python bench/operator.py --sizes 1000 --databases sqlite,postgres
    PYTHONPATH=. .venv/bin/python bench/operator.py --datasets A --no-dlt
    PYTHONPATH=. .venv/bin/python bench/operator.py --repeat 3             # medians of 3 (a shared machine)

Data sets: A = the sandbox's `diverse` profile (`personio-pipeline sandbox --profile diverse`);
B = a company the bench generates itself with Faker (bench/company_b.py: UUID ids, its own
structure, titles, statuses, domains, broken addresses), validated against Apideck's HRIS spec
and served by the same sandbox through `PUT /_sandbox/companies/<id>`.

Per data set, size and database, everything fresh (DAGSTER_HOME, data folder, Teammeter
database), the company registered as the operator does it (`db upgrade`, `tenants add ID --name
NAME`), then, each a separate process started as an operator types it:
  the minimal script (bench/baseline.py), dlt's rest_api (bench/dlt_rest_api.py),
  `python -m personio_pipeline sync ID --in-process` (first), the same again (no-op),
  `python -c "import dagster"` three times (median).
Wall time is the process's, from start to exit; peak RSS and CPU seconds are the process's own
(GNU time's `%M`, `%U` + `%S`; the CPU figures help on a loaded machine). After each sync: exit code 0, the newest run of the instance in that
DAGSTER_HOME succeeded for that partition, its ASSET_MATERIALIZATION events are counted (the
report among them), the report file exists, and the no-op wrote 0 rows. Writes
bench/results-operator.md and prints it; exits 1 if a sync or a check failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402

from common import (  # noqa: E402
    API_KEY,
    APP_ID,
    BENCH,
    REPO,
    SandboxProcess,
    expected_requests,
    fresh_database,
    machine,
    median,
    postgres_admin_url,
)

GOALS = {  # at 100,000 people, data set A (the sandbox's diverse profile)
    "first": ("sync first ÷ minimal", 2.0),
    "noop": ("sync no-op ÷ minimal", 1.5),
    "rss": ("peak RSS MB (first and no-op)", 1024.0),
}
FIXED_COST_GOAL = 2.0  # no-op sync of a 1,000-person company ÷ `python -c "import dagster"`
IMPORT_REPEATS = 3
TIME = "/usr/bin/time"  # GNU time: peak RSS and CPU of the command alone


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def timed(command: list[str], *, env: dict[str, str], cwd: Path, output: Path) -> dict[str, Any]:
    """Run one command as its own process: wall seconds from start to exit, its peak RSS and CPU.

    Started through /usr/bin/time, whose `%M` is the command's own maximum resident set: a child
    forked straight from this driver would count the driver's memory (Linux keeps the pre-exec
    high-water mark in ru_maxrss), and the driver holds whole companies at times."""
    usage_file = output.with_suffix(".time")
    with output.open("w") as out:
        started = time.perf_counter()
        process = subprocess.run([TIME, "-f", "%M %U %S", "-o", str(usage_file), *command], env=env, cwd=cwd,
                                 stdout=out, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
    rss_kb, user, system = usage_file.read_text().split()[-3:]
    return {"wall": wall, "rss_mb": int(rss_kb) / 1024, "exit": process.returncode,
            "cpu": float(user) + float(system), "output": output}


def tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_facts(home: Path, data_dir: Path, company: str) -> dict[str, Any]:
    """The newest run of the instance in `home`: status, partition, materialisations, rows written."""
    import dagster as dg

    from personio_pipeline.companies.files import report_file

    os.environ["DAGSTER_HOME"] = str(home)  # the local event log storage finds its folder through it
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {"ok": False, "problem": "no run in the instance"}
        run = runs[0]
        keys, rows_written = [], None
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            materialization = entry.dagster_event.event_specific_data.materialization
            keys.append(materialization.asset_key.to_user_string())
            if keys[-1] == "teammeter/users":
                value = materialization.metadata.get("company_rows_written")
                rows_written = None if value is None else value.value
        partition = run.tags.get("dagster/partition")
    finally:
        instance.dispose()
        os.environ.pop("DAGSTER_HOME", None)
    report = report_file(data_dir, company)
    problems = []
    if run.status != dg.DagsterRunStatus.SUCCESS:
        problems.append(f"run {run.run_id} {run.status.value}")
    if partition != company:
        problems.append(f"run partition {partition!r}, not {company!r}")
    if not any("review_report" in key for key in keys):
        problems.append("no review_report materialisation")
    if not report.exists():
        problems.append(f"no report file {report}")
    return {"ok": not problems, "problem": "; ".join(problems), "run_id": run.run_id, "job": run.job_name,
            "materializations": len(keys), "assets": sorted(set(keys)), "rows_written": rows_written,
            "report_bytes": report.stat().st_size if report.exists() else 0}


class DataSet:
    """A sandbox process serving one data set's companies, one per size."""

    def __init__(self, name: str, sizes: list[int]):
        self.name = name
        self.companies = {size: f"bench-{name.lower()}-{size}" for size in sizes}
        self.details: dict[int, dict[str, Any]] = {}
        if name == "A":
            self.sandbox = SandboxProcess({company: size for size, company in self.companies.items()},
                                          profile="diverse")
        else:
            import company_b

            self.sandbox = SandboxProcess({}, default_size=1)
            for size, company in self.companies.items():
                records, cache, seconds = company_b.company(size)
                log(f"data set B, {size:,}: {'generated and validated in %.1f s' % seconds if seconds else 'from'} "
                    f"{cache}")
                self.details[size] = company_b.describe(records)
                body = json.dumps({"employees": records}, ensure_ascii=False).encode()
                httpx.put(f"{self.sandbox.url}/_sandbox/companies/{company}", content=body,
                          headers={"Content-Type": "application/json"}, timeout=600).raise_for_status()
                del records, body

    def warm(self, size: int) -> int:
        from personio_pipeline.apideck.fields import fields_param

        return self.sandbox.warm(self.companies[size], fields_param())

    def requests(self, size: int) -> int:
        return self.sandbox.requests(self.companies[size])

    def stop(self) -> None:
        self.sandbox.stop()


def measure(dataset: DataSet, size: int, kind: str, root: Path, admin_url: str | None, with_dlt: bool) -> dict[str, Any]:
    company = dataset.companies[size]
    label = f"{dataset.name} {size:>7,} {kind:<8}"
    work = root / f"{dataset.name}-{size}-{kind}-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    out: dict[str, Any] = {"dataset": dataset.name, "size": size, "db": kind, "company": company}
    python = sys.executable
    base = dict(APIDECK_BASE_URL=dataset.sandbox.url, APIDECK_API_KEY=API_KEY, APIDECK_APP_ID=APP_ID)
    try:
        # -- the minimal script and dlt, each into a fresh database of the same kind ---------------
        with fresh_database(kind, work, "minimal", admin_url) as url:
            before = dataset.requests(size)
            result = work / "minimal.json"
            run = timed([python, str(BENCH / "baseline.py"), "--out", str(result), "--base-url", dataset.sandbox.url,
                         "--company", company, "--database-url", url],
                        env=child_env(), cwd=work, output=work / "minimal.log")
            if run["exit"]:
                raise RuntimeError(f"minimal script failed:\n{tail(run['output'])}")
            run.update(json.loads(result.read_text()), requests=dataset.requests(size) - before)
            out["minimal"] = run
        log(f"{label} minimal  {run['wall']:7.2f} s  {run['rss_mb']:6.0f} MB  ({run['wall_seconds']:.2f} s in the script)")
        if with_dlt:
            with fresh_database(kind, work, "dlt", admin_url) as url:
                result = work / "dlt.json"
                run = timed([python, str(BENCH / "dlt_rest_api.py"), "--out", str(result), "--base-url",
                             dataset.sandbox.url, "--company", company, "--database-url", url,
                             "--work-dir", str(work / "dlt")], env=child_env(), cwd=work, output=work / "dlt.log")
                if run["exit"]:
                    raise RuntimeError(f"dlt failed:\n{tail(run['output'])}")
                run.update(json.loads(result.read_text()))
                out["dlt"] = run
            shutil.rmtree(work / "dlt", ignore_errors=True)
            log(f"{label} dlt      {run['wall']:7.2f} s  {run['rss_mb']:6.0f} MB")
        # -- the operator: fresh DAGSTER_HOME, data folder, Teammeter database ----------------------
        home, data_dir = work / "dagster_home", work / "data"
        data_dir.mkdir()
        with fresh_database(kind, data_dir, "teammeter", admin_url) as url:
            env = child_env(dict(base, DAGSTER_HOME=str(home), PERSONIO_PIPELINE_DATA_DIR=str(data_dir),
                                 TEAMMETER_DATABASE_URL=url))
            cli = [python, "-m", "personio_pipeline"]
            setup = []
            for step, command in (("db upgrade", cli + ["db", "upgrade"]),
                                  ("tenants add", cli + ["tenants", "add", company, "--name", f"Bench {company}"])):
                run = timed(command, env=env, cwd=work, output=work / f"{step.replace(' ', '-')}.log")
                if run["exit"]:
                    raise RuntimeError(f"{step} failed:\n{tail(run['output'])}")
                setup.append(run["wall"])
            out["setup"] = setup
            for phase in ("first", "noop"):
                before = dataset.requests(size)
                run = timed(cli + ["sync", company, "--in-process"], env=env, cwd=work, output=work / f"sync-{phase}.log")
                run["requests"] = dataset.requests(size) - before
                run.update(run_facts(home, data_dir, company))
                if run["exit"] or not run["ok"]:
                    raise RuntimeError(f"sync ({phase}) of {company} on {kind}: exit {run['exit']}, {run['problem']}\n"
                                       f"{tail(run['output'])}")
                out[phase] = run
                log(f"{label} sync {phase:<5} {run['wall']:7.2f} s  {run['rss_mb']:6.0f} MB  {run['requests']} requests, "
                    f"{run['materializations']} materialisations, {run['rows_written']} rows written")
        imports = [timed([python, "-c", "import dagster"], env=child_env(), cwd=work, output=work / "import.log")
                   for _ in range(IMPORT_REPEATS)]
        out["import_dagster"] = median([run["wall"] for run in imports])
        out["import_dagster_cpu"] = median([run["cpu"] for run in imports])
        log(f"{label} import dagster {out['import_dagster']:.2f} s, CPU {out['import_dagster_cpu']:.2f} s "
            f"(median of {', '.join('%.2f' % run['wall'] for run in imports)})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def combine(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Repetitions of one measurement: medians of times, the maximum of peak RSS."""
    out = dict(reps[0], repeats=len(reps))
    for phase in ("minimal", "dlt", "first", "noop"):
        if phase not in reps[0]:
            continue
        out[phase] = dict(reps[0][phase])
        for key in ("wall", "cpu", "wall_seconds", "fetch_seconds", "insert_seconds"):
            if key in reps[0][phase]:
                out[phase][key] = median([rep[phase][key] for rep in reps])
        out[phase]["rss_mb"] = max(rep[phase]["rss_mb"] for rep in reps)
        out[phase]["walls"] = [rep[phase]["wall"] for rep in reps]
    for key in ("import_dagster", "import_dagster_cpu"):
        out[key] = median([rep[key] for rep in reps])
    out["noop"]["rows_written"] = max(rep["noop"]["rows_written"] or 0 for rep in reps)
    return out


def _met(value: float, limit: float, strict: bool = False) -> str:
    ok = value < limit if strict else value <= limit
    return "met" if ok else "**not met**"


def results_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| data set | size | db | minimal s | dlt s | sync first s (×minimal) | sync no-op s (×minimal) | "
        "peak RSS MB first / no-op | import dagster s | fixed-cost ratio (no-op ÷ import) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        minimal = r["minimal"]["wall"]
        dlt = f"{r['dlt']['wall']:.2f}" if "dlt" in r else "–"
        fixed = f"{r['noop']['wall'] / r['import_dagster']:.2f}×" if r["size"] == 1000 else "–"
        lines.append(
            f"| {r['dataset']} | {r['size']:,} | {r['db']} | {minimal:.2f} | {dlt} | "
            f"{r['first']['wall']:.2f} ({r['first']['wall'] / minimal:.1f}×) | "
            f"{r['noop']['wall']:.2f} ({r['noop']['wall'] / minimal:.1f}×) | "
            f"{r['first']['rss_mb']:.0f} / {r['noop']['rss_mb']:.0f} | {r['import_dagster']:.2f} | {fixed} |")
    lines.append(
        f"| **goal** | | | | | ≤ {GOALS['first'][1]:g}× at 100,000 (A) | ≤ {GOALS['noop'][1]:g}× at 100,000 (A) | "
        f"< {GOALS['rss'][1]:.0f} at 100,000 (A) | | ≤ {FIXED_COST_GOAL:g}× at 1,000 |")
    return "\n".join(lines)


def goals_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| goal | limit | data set | db | measured | |", "| --- | ---: | --- | --- | ---: | --- |"]
    for r in rows:
        minimal = r["minimal"]["wall"]
        if r["size"] == 100_000:
            scope = "" if r["dataset"] == "A" else " (B: not a goal, for comparison)"
            rss = max(r["first"]["rss_mb"], r["noop"]["rss_mb"])
            for name, value in (("first", r["first"]["wall"] / minimal), ("noop", r["noop"]["wall"] / minimal)):
                what, limit = GOALS[name]
                lines.append(f"| {what} at 100,000{scope} | {limit:g}× | {r['dataset']} | {r['db']} | "
                             f"{value:.2f}× | {_met(value, limit)} |")
            lines.append(f"| peak RSS at 100,000{scope} | < {GOALS['rss'][1]:.0f} MB | {r['dataset']} | {r['db']} | "
                         f"{rss:.0f} MB | {_met(rss, GOALS['rss'][1], strict=True)} |")
        if r["size"] == 1000:
            value = r["noop"]["wall"] / r["import_dagster"]
            lines.append(f"| fixed cost: no-op at 1,000 ÷ `import dagster` | {FIXED_COST_GOAL:g}× | {r['dataset']} | "
                         f"{r['db']} | {value:.2f}× ({r['noop']['wall']:.2f} / {r['import_dagster']:.2f} s) | "
                         f"{_met(value, FIXED_COST_GOAL)} |")
            cpu = r["noop"]["cpu"] / r["import_dagster_cpu"]
            lines.append(f"| the same in CPU seconds (load-insensitive, not the goal's measure) | {FIXED_COST_GOAL:g}× | "
                         f"{r['dataset']} | {r['db']} | {cpu:.2f}× ({r['noop']['cpu']:.2f} / "
                         f"{r['import_dagster_cpu']:.2f} s) | {_met(cpu, FIXED_COST_GOAL)} |")
    return "\n".join(lines)


def detail_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| data set | size | db | minimal: in-script s (fetch + insert) | sync first ÷ in-script minimal | "
             "dlt: in-script s | minimal / dlt peak RSS MB | requests sync / minimal (expected) | "
             "materialisations first / no-op | rows written first / no-op | report KB | CPU s minimal / first / no-op | "
             "`db upgrade` + `tenants add` s | sync first / no-op, each repetition s |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        m = r["minimal"]
        dlt_inner = f"{r['dlt']['wall_seconds']:.2f}" if "dlt" in r else "–"
        dlt_rss = f"{r['dlt']['rss_mb']:.0f}" if "dlt" in r else "–"
        lines.append(
            f"| {r['dataset']} | {r['size']:,} | {r['db']} | {m['wall_seconds']:.2f} ({m['fetch_seconds']:.2f} + "
            f"{m['insert_seconds']:.2f}) | {r['first']['wall'] / m['wall_seconds']:.1f}× | {dlt_inner} | "
            f"{m['rss_mb']:.0f} / {dlt_rss} | {r['first']['requests']} / {m['requests']} ({expected_requests(r['size'])}) | "
            f"{r['first']['materializations']} / {r['noop']['materializations']} | "
            f"{r['first']['rows_written']:,} / {r['noop']['rows_written']} | {r['first']['report_bytes'] / 1024:.0f} | "
            f"{m['cpu']:.1f} / {r['first']['cpu']:.1f} / {r['noop']['cpu']:.1f} | {r['setup'][0]:.1f} + {r['setup'][1]:.1f} | "
            f"{', '.join('%.1f' % w for w in r['first']['walls'])} / {', '.join('%.1f' % w for w in r['noop']['walls'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="comma-separated company sizes")
    parser.add_argument("--databases", default="sqlite", help="sqlite, postgres or both")
    parser.add_argument("--datasets", default="A,B", help="A (sandbox diverse), B (bench-generated) or both")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions per measurement (medians; peak RSS: max)")
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt's rest_api (needs the bench extra)")
    parser.add_argument("--postgres-url", help="admin URL of the PostgreSQL server")
    parser.add_argument("--results", default=str(BENCH / "results-operator.md"), help="markdown output")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s]
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    datasets = [d.strip().upper() for d in args.datasets.split(",") if d.strip()]
    if set(kinds) - {"sqlite", "postgres"} or set(datasets) - {"A", "B"}:
        parser.error("--databases takes sqlite,postgres; --datasets takes A,B")
    admin_url = postgres_admin_url(args.postgres_url) if "postgres" in kinds else None
    if "postgres" in kinds and admin_url is None:
        parser.error("PostgreSQL is not reachable; pass --postgres-url or --databases sqlite")
    with_dlt = not args.no_dlt
    if with_dlt:
        try:
            import dlt  # noqa: F401
        except ImportError:
            parser.error("dlt is not installed: .venv/bin/pip install -e '.[bench]' (or pass --no-dlt)")
    info = machine()
    log(f"machine: {info}")
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="personio-operator-"))
    rows: list[dict[str, Any]] = []
    details: dict[str, dict[int, dict[str, Any]]] = {}
    failures: list[str] = []
    try:
        for name in datasets:
            dataset = DataSet(name, sizes)
            details[name] = dataset.details
            try:
                for size in sizes:
                    log(f"data set {name}, {size:,}: warming the sandbox ({dataset.warm(size):,} records listed)")
                    for kind in kinds:
                        try:
                            rows.append(combine([measure(dataset, size, kind, root, admin_url, with_dlt)
                                                 for _ in range(args.repeat)]))
                        except RuntimeError as error:
                            log(f"FAILED: {error}")
                            failures.append(f"{name} {size} {kind}: {str(error).splitlines()[0]}")
            finally:
                dataset.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - started
    load_end = os.getloadavg()

    command = "PYTHONPATH=. .venv/bin/python bench/operator.py " + " ".join(sys.argv[1:])
    parts = [
        "# End to end, as the operator runs it",
        "",
        f"`{command.strip()}` — {dt.datetime.now().isoformat(timespec='minutes')}, commit {info['commit']}, "
        f"{elapsed / 60:.1f} min in all.",
        "",
        f"Machine: {info['nproc']} cores (`nproc`), {info['cpu']}, {info['ram_gb']} GB RAM, Python {info['python']}; "
        f"load average at the start {info['load_1min']} (1 min), at the end "
        f"{load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} (1 / 5 / 15 min). The machine is shared: "
        f"timings are noisy; medians of {args.repeat} repetition(s) (peak RSS: the maximum).",
        "",
        "Every figure is a whole process, start to exit, as typed: `python -m personio_pipeline sync ID --in-process` "
        "(first, then again: no-op; the verification report included), `python bench/baseline.py …` (minimal "
        "script), `python bench/dlt_rest_api.py …` (dlt's `rest_api`), `python -c \"import dagster\"` (median of "
        f"{IMPORT_REPEATS}). Peak RSS is the process's maximum resident set (GNU time `%M`). Ratios are against the minimal script's "
        "process. CPU seconds (user + system) are in the detail: on a loaded machine they show what wall time hides.",
        "",
        results_table(rows),
        "",
        "## Goals",
        "",
        goals_table(rows),
        "",
        "## Detail",
        "",
        detail_table(rows),
        "",
        "Data set A: the sandbox's `diverse` profile. Data set B: generated by `bench/company_b.py` "
        "(Faker, UUID ids, own structure), validated against the HRIS spec, served by the sandbox.",
    ]
    for name, sized in details.items():
        for size, facts in sized.items():
            parts.append(f"- B at {size:,}: " + ", ".join(f"{k} {v}" for k, v in facts.items() if k != "people"))
    if failures:
        parts += ["", "## Failures", "", *(f"- {failure}" for failure in failures)]
    text = "\n".join(parts) + "\n"
    Path(args.results).write_text(text)
    print(text)
    problems = failures + [f"{r['dataset']} {r['size']} {r['db']}: no-op wrote {r['noop']['rows_written']} rows"
                           for r in rows if r["noop"]["rows_written"]]
    if problems:
        log("FAILED: " + "; ".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
