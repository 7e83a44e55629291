"""Fleet benchmark: many companies synced by the production daemon, as a deployment runs them.

    .venv/bin/python bench/fleet.py                              # 200 companies × 200 people
    .venv/bin/python bench/fleet.py --companies 40 --size 200    # a quicker look
    .venv/bin/python bench/fleet.py --py-spy bench/fleet-profile # + py-spy of the daemon and every process it starts

What runs: `dagster-daemon run` on deploy/dagster.yaml (PostgreSQL run/event/schedule storage,
QueuedRunCoordinator, DefaultRunLauncher: one run worker process per run, started by the code
server) and deploy/workspace.yaml; a fresh PostgreSQL database for Dagster and one for Teammeter;
a sandbox process serving N companies of M people. The companies are registered as
`personio-pipeline tenants add` registers them, connected, with their first sync recorded as done (the daily
schedule only takes connected companies), and the
`daily_sync` schedule fires once (DAILY_SYNC_CRON set to one minute ahead): it requests one run
per company, the queue launches them within the limits of deploy/dagster.yaml.

Measured: wall time from the schedule's first run to the last run's end (÷ N = per company);
CPU of the daemon and everything it started (getrusage of reaped children, and /proc samples of
the process group for processes not reaped by the end), CPU of the PostgreSQL backends serving
the two databases (sampled), the machine's load; per run, from the run and event storage: queue
wait, launch (worker process start + code load, until RUN_START), execution, step time and
event count. Writes bench/fleet-results.md (or --results).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from common import (  # noqa: E402
    API_KEY,
    APP_ID,
    BENCH,
    REPO,
    SandboxProcess,
    fresh_database,
    machine,
    postgres_admin_url,
)

BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pg_env(url: str) -> dict[str, str]:
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    return {"DAGSTER_PG_HOST": parsed.host or "127.0.0.1", "DAGSTER_PG_PORT": str(parsed.port or 5432),
            "DAGSTER_PG_USER": parsed.username or "postgres", "DAGSTER_PG_PASSWORD": parsed.password or "",
            "DAGSTER_PG_DB": parsed.database}


def instance_yaml(home: Path, max_runs: int | None, dequeue_interval: int | None,
                  dequeue_threads: int | None = None) -> dict[str, Any]:
    """deploy/dagster.yaml, with the run limit, dequeue interval and launch threads overridden when
    asked (`dequeue_threads` 0: launch one run after the other)."""
    config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    if dequeue_threads is not None:
        settings = config["run_coordinator"]["config"]
        settings.pop("dequeue_num_workers", None)
        settings["dequeue_use_threads"] = dequeue_threads > 0
        if dequeue_threads:
            settings["dequeue_num_workers"] = dequeue_threads
    if max_runs is not None:
        config["concurrency"]["runs"]["max_concurrent_runs"] = max_runs
    if dequeue_interval is not None:
        config["run_coordinator"]["config"]["dequeue_interval_seconds"] = dequeue_interval
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


class CpuSampler:
    """CPU seconds of a process group and of PostgreSQL backends of some databases, from /proc."""

    def __init__(self, group: int, databases: list[str]):
        self.group, self.databases = group, databases
        self.group_cpu: dict[int, float] = {}
        self.postgres_cpu: dict[int, float] = {}
        self.commands: dict[int, str] = {}

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
                pid = int(entry.name)
                if int(fields[2]) == self.group:  # pgrp
                    self.group_cpu[pid] = cpu
                    if pid not in self.commands:
                        self.commands[pid] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
                elif "postgres" in stat[:stat.index(")")]:
                    command = (entry / "cmdline").read_bytes().decode(errors="replace")
                    if any(database in command for database in self.databases):
                        self.postgres_cpu[pid] = cpu
            except (OSError, ValueError, IndexError):
                continue


def postmaster_reaped_cpu() -> float | None:
    """CPU seconds of the PostgreSQL server's ended backends (the postmaster's cutime + cstime):
    Dagster's storage opens a connection per event, so most backends are short-lived. Includes
    every other user of the server."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"bin/postgres\0-D" in (entry / "cmdline").read_bytes():
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        except OSError:
            continue
    return None


def one_shot_cron(lead_seconds: float) -> tuple[str, dt.datetime]:
    """A UTC cron expression for the first whole minute at least `lead_seconds` ahead."""
    at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=lead_seconds + 60)).replace(second=0, microsecond=0)
    return f"{at.minute} {at.hour} * * *", at


def per_run_figures(instance, records) -> dict[str, Any]:
    """Queue wait, launch (until RUN_START), execution and step time per run, from the storage."""
    import dagster as dg

    waits, launches, executions, steps, events, overheads = [], [], [], [], [], []
    kinds: dict[str, int] = {}
    for number, record in enumerate(records):
        run_id = record.dagster_run.run_id
        entries = instance.all_logs(run_id)
        times = {}
        step_total = 0.0
        for entry in entries:
            event = entry.dagster_event
            if event is None:
                continue
            times.setdefault(event.event_type, entry.timestamp)
            if number == 0:
                kinds[event.event_type.value] = kinds.get(event.event_type.value, 0) + 1
            if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                step_total += event.event_specific_data.duration_ms / 1000
        starting = times.get(dg.DagsterEventType.RUN_STARTING)
        started = times.get(dg.DagsterEventType.RUN_START)
        ended = times.get(dg.DagsterEventType.RUN_SUCCESS) or times.get(dg.DagsterEventType.RUN_FAILURE)
        if not (starting and started and ended):
            continue
        waits.append(starting - record.create_timestamp.timestamp())
        launches.append(started - starting)
        executions.append(ended - started)
        steps.append(step_total)
        overheads.append(ended - started - step_total)
        events.append(len(entries))
    median = lambda values: statistics.median(values) if values else float("nan")  # noqa: E731
    return {
        "queue_wait_median": median(waits),
        "launch_median": median(launches),
        "execution_median": median(executions),
        "steps_median": median(steps),
        "execution_overhead_median": median(overheads),
        "events_median": median(events),
        "runs_measured": len(executions),
        "event_kinds_of_one_run": dict(sorted(kinds.items(), key=lambda item: -item[1])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--size", type=int, default=200, help="employees per company")
    parser.add_argument("--profile", default="diverse", choices=["diverse", "standard"], help="sandbox profile")
    parser.add_argument("--max-runs", type=int, help="concurrent runs (default: deploy/dagster.yaml's)")
    parser.add_argument("--dequeue-interval", type=int, help="whole seconds, as Dagster takes them (default: deploy/dagster.yaml's)")
    parser.add_argument("--dequeue-threads", type=int, help="runs launched in parallel by the queue "
                        "(0: one after the other; default: deploy/dagster.yaml's)")
    parser.add_argument("--postgres-url", help="admin URL of the PostgreSQL server")
    parser.add_argument("--py-spy", metavar="STEM", help="record the daemon and its children with py-spy "
                        "(writes STEM.raw.txt, folded stacks per process)")
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--results", default=str(BENCH / "fleet-results.md"))
    args = parser.parse_args()

    admin_url = postgres_admin_url(args.postgres_url)
    if admin_url is None:
        parser.error("PostgreSQL is not reachable; pass --postgres-url")
    info = machine()
    load_before = os.getloadavg()
    log(f"machine: {info}")
    workdir = Path(tempfile.mkdtemp(prefix="personio-fleet-"))
    sandbox = SandboxProcess({}, default_size=args.size, profile=args.profile)
    companies = [f"fleet-{number:04d}" for number in range(args.companies)]
    try:
        with fresh_database("postgres", workdir, "fleet-dagster", admin_url) as dagster_url, \
                fresh_database("postgres", workdir, "fleet-teammeter", admin_url) as teammeter_url:
            result = run_fleet(args, workdir, sandbox, companies, dagster_url, teammeter_url)
    finally:
        sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result["load_before"] = load_before
    result["load_after"] = os.getloadavg()
    text = report(args, info, result)
    Path(args.results).write_text(text)
    print(text)
    if result["succeeded"] != args.companies:
        sys.exit(1)


def run_fleet(args, workdir: Path, sandbox: SandboxProcess, companies: list[str], dagster_url: str,
              teammeter_url: str) -> dict[str, Any]:
    home = workdir / "dagster_home"
    config = instance_yaml(home, args.max_runs, args.dequeue_interval, args.dequeue_threads)
    cron, fires_at = one_shot_cron(lead_seconds=40)
    settings = {
        **pg_env(dagster_url),
        "DAGSTER_HOME": str(home),
        "TEAMMETER_DATABASE_URL": teammeter_url,
        "PERSONIO_PIPELINE_DATA_DIR": str(workdir / "data"),
        "APIDECK_BASE_URL": sandbox.url,
        "APIDECK_API_KEY": API_KEY,
        "APIDECK_APP_ID": APP_ID,
        "DAILY_SYNC_CRON": cron,
        "DAILY_SYNC_TIMEZONE": "UTC",
        "DAILY_SYNC_HOUR": "0",  # every company due at the tick
    }
    os.environ.update(settings)
    import dagster as dg
    import sqlalchemy as sa

    from personio_pipeline.companies import connection_health, registry
    from personio_pipeline.defs.shared.partitions import companies as partitions
    from personio_pipeline.store.db import create_engine, migrate
    from personio_pipeline.store.schema import organisations

    engine = create_engine(teammeter_url)
    migrate(engine)  # the deploy step (`personio-pipeline db upgrade`)
    with engine.begin() as conn:  # what `tenants add` does, connected, with a first sync recorded as done
        for company in companies:
            registry.register(conn, company, company.upper())
        conn.execute(sa.update(organisations).values(
            first_synced_at=sa.func.now(), connection_state=connection_health.CONNECTED,
            connection_changed_at=sa.func.now()))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(partitions.name, companies)
    instance.event_log_storage.set_concurrency_slots("apideck", 4)  # as deploy/README.md sets them
    instance.event_log_storage.set_concurrency_slots("teammeter_write", 2)
    log(f"{len(companies)} companies registered; daily_sync fires at {fires_at:%H:%M} UTC; "
        f"max {config['concurrency']['runs']['max_concurrent_runs']} runs, dequeue every "
        f"{config['run_coordinator']['config']['dequeue_interval_seconds']} s")

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "deploy" / "workspace.yaml")]
    if args.py_spy:
        command = [str(BIN / "py-spy"), "record", "--subprocesses", "--format", "raw", "--rate", "50",
                   "-o", f"{args.py_spy}.raw.txt", "--", *command]
    daemon_log = (workdir / "daemon.log").open("wb")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    postgres_before = postmaster_reaped_cpu()
    daemon = subprocess.Popen(command, env=env, cwd=REPO / "deploy", stdout=daemon_log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    sampler = CpuSampler(daemon.pid, [sa.make_url(dagster_url).database, sa.make_url(teammeter_url).database])
    deadline = time.monotonic() + args.timeout
    try:
        while True:
            sampler.sample()
            runs = instance.get_runs()
            done = [run for run in runs if run.status.value in FINISHED]
            if len(runs) >= len(companies) and len(done) == len(runs):
                break
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon ended early:\n{(workdir / 'daemon.log').read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not finished within {args.timeout:.0f} s: {len(done)}/{len(companies)} runs")
            time.sleep(0.5)
        sampler.sample()
        wall_end = time.time()
    finally:
        os.kill(daemon.pid, signal.SIGINT if args.py_spy else signal.SIGTERM)  # py-spy writes on SIGINT
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        if args.py_spy:  # py-spy stops recording, the daemon under it is still up
            for pid in list(sampler.group_cpu):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        daemon_log.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    postgres_after = postmaster_reaped_cpu()
    records = instance.get_run_records()
    succeeded = sum(1 for record in records if record.dagster_run.status == dg.DagsterRunStatus.SUCCESS)
    first_created = min(record.create_timestamp.timestamp() for record in records)
    last_end = max(record.end_time or wall_end for record in records)
    wall = last_end - first_created
    reaped = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    sampled = sum(sampler.group_cpu.values())
    roles: dict[str, float] = {}
    for pid, cpu in sampler.group_cpu.items():
        command = sampler.commands.get(pid, "")
        role = ("py-spy" if "py-spy" in command.split(" ", 1)[0] else
                "run worker" if "multiprocessing" in command or "execute_run" in command else
                "code server" if "api grpc" in command or "code-server" in command else
                "daemon" if "dagster-daemon" in command else "other")
        roles[role] = roles.get(role, 0.0) + cpu
    figures = per_run_figures(instance, records)
    spans = [(record.start_time, record.end_time) for record in records if record.start_time and record.end_time]
    figures["mean_in_flight"] = sum(end - start for start, end in spans) / wall if wall else float("nan")
    instance.dispose()
    engine.dispose()
    return {
        "companies": len(companies),
        "size": args.size,
        "profile": args.profile,
        "max_runs": config["concurrency"]["runs"]["max_concurrent_runs"],
        "dequeue_interval": config["run_coordinator"]["config"]["dequeue_interval_seconds"],
        "dequeue_threads": (config["run_coordinator"]["config"].get("dequeue_num_workers", "?")
                            if config["run_coordinator"]["config"].get("dequeue_use_threads") else 0),
        "succeeded": succeeded,
        "wall_seconds": wall,
        "per_company_wall": wall / len(companies),
        "cpu_reaped": reaped,
        "cpu_sampled": sampled,
        "cpu_by_role": roles,
        "cpu_postgres": sum(sampler.postgres_cpu.values()),
        "cpu_postgres_reaped": (postgres_after - postgres_before) if postgres_before is not None
        and postgres_after is not None else float("nan"),
        "run_workers_seen": sum(1 for command in sampler.commands.values() if "multiprocessing" in command),
        **figures,
    }


def report(args, info: dict[str, Any], r: dict[str, Any]) -> str:
    command = "python bench/fleet.py " + " ".join(sys.argv[1:])
    cpu = max(r["cpu_reaped"], r["cpu_sampled"])
    roles = ", ".join(f"{role} {seconds:.0f} s" for role, seconds in sorted(r["cpu_by_role"].items(), key=lambda i: -i[1]))
    return "\n".join([
        "# Fleet benchmark",
        "",
        f"`{command.strip()}` — {dt.datetime.now().isoformat(timespec='minutes')}, commit {info['commit']}.",
        f"Machine: {info['nproc']} cores, {info['cpu']}, {info['ram_gb']} GB RAM, Python {info['python']}; "
        f"load average before {r['load_before'][0]:.2f} / {r['load_before'][1]:.2f} / {r['load_before'][2]:.2f}, "
        f"after {r['load_after'][0]:.2f} / {r['load_after'][1]:.2f} / {r['load_after'][2]:.2f} "
        "(1/5/15 min; the machine is shared).",
        "",
        f"{r['companies']} companies × {r['size']} people ({r['profile']} profile) through `dagster-daemon run` on "
        f"deploy/dagster.yaml (PostgreSQL storage, queued runs, max {r['max_runs']} at once, dequeue every "
        f"{r['dequeue_interval']} s, {r['dequeue_threads'] or 'no'} launch threads, DefaultRunLauncher), "
        "Teammeter on PostgreSQL:",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| runs succeeded | {r['succeeded']} / {r['companies']} |",
        f"| wall, first run created → last run ended | {r['wall_seconds']:.0f} s |",
        f"| **wall per company** | **{r['per_company_wall']:.2f} s** |",
        f"| CPU of daemon + code servers + run workers | {cpu:.0f} s ({cpu / r['companies']:.2f} s per company) |",
        f"| CPU by process kind (sampled) | {roles} |",
        f"| CPU of the PostgreSQL backends (sampled) | {r['cpu_postgres']:.0f} s ({r['cpu_postgres'] / r['companies']:.2f} s per company) |",
        f"| CPU of ended PostgreSQL backends (postmaster, incl. other users of the server) | "
        f"{r['cpu_postgres_reaped']:.0f} s ({r['cpu_postgres_reaped'] / r['companies']:.2f} s per company) |",
        f"| runs in flight, mean (sum of run durations ÷ wall) | {r['mean_in_flight']:.1f} |",
        f"| per run, median: queue wait | {r['queue_wait_median']:.1f} s |",
        f"| per run, median: launch (process start + code load, until RUN_START) | {r['launch_median']:.2f} s |",
        f"| per run, median: execution (RUN_START → RUN_SUCCESS) | {r['execution_median']:.2f} s |",
        f"| per run, median: of which steps | {r['steps_median']:.2f} s |",
        f"| per run, median: of which Dagster between steps (events, plan) | {r['execution_overhead_median']:.2f} s |",
        f"| per run, median: events written | {r['events_median']:.0f} |",
        "",
        f"CPU: reaped children {r['cpu_reaped']:.0f} s, /proc samples {r['cpu_sampled']:.0f} s "
        f"({r['run_workers_seen']} run worker processes seen).",
        "",
        "Events of one run by kind: " + ", ".join(f"{kind} {count}" for kind, count in r["event_kinds_of_one_run"].items()),
        "",
    ])


if __name__ == "__main__":
    main()
