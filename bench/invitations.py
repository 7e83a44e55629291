"""Invitation throughput: one run of the invitation asset (`dg.materialize` of
`teammeter/invitations` for one verified company) sending N invitations through a local aiosmtpd
relay (SMTPUTF8 on, its own process: `bench/smtp_relay.py`), on SQLite and PostgreSQL.

    .venv/bin/python bench/invitations.py                      # 2,000 people, SQLite and PostgreSQL
    .venv/bin/python bench/invitations.py --size 2000 --databases sqlite --repeat 3

The people are `bench/international.py`'s (about half with a non-ASCII local part, a few IDN
domains), synced into a fresh store through the model and `sync_company`, then verified. Timed:
the `dg.materialize` call (the run) and its invitation step; messages/s = messages the relay
accepted ÷ run wall time. The script fails unless every person was invited exactly once in that
one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_database, machine, postgres_admin_url, register_company  # noqa: E402
from international import records, shares  # noqa: E402

COMPANY = "bench-invitations"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(database_url: str, size: int) -> None:
    """A verified company of `size` international people, as a first sync leaves it."""
    from personio_pipeline.org.employees import normalise_employees
    from personio_pipeline.org.structure import (
        derive_reporting_lines,
        derive_roles,
        derive_teams,
        derive_units,
    )
    from personio_pipeline.store import hand_edits
    from personio_pipeline.store.db import company_transaction, create_engine
    from personio_pipeline.store.diff import OrgModel
    from personio_pipeline.store.sync import sync_company

    register_company(database_url, COMPANY)
    employees = normalise_employees(records(size), date(2026, 1, 6)).table
    model = OrgModel(
        employees=employees, teams=derive_teams(employees), units=derive_units(employees),
        roles=derive_roles(employees), reporting_lines=derive_reporting_lines(employees).lines,
    )
    engine = create_engine(database_url)
    sync_company(engine, COMPANY, model, run_id="bench-first-sync")
    with company_transaction(engine) as conn:
        hand_edits.mark_verified(conn, COMPANY)
    engine.dispose()


def run_once(database_url: str, port: int) -> dict:
    import dagster as dg

    from personio_pipeline.defs.invitations.assets import invitations_delivered, teammeter_invitations
    from personio_pipeline.defs.shared.partitions import companies
    from personio_pipeline.defs.shared.resources import DataTeamAlerts, Mailer, TeammeterDatabase

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    mailer = Mailer(smtp_host="127.0.0.1", smtp_port=port, sender="Teammeter <invite@teammeter.example>")
    started = time.perf_counter()
    result = dg.materialize(
        [teammeter_invitations, invitations_delivered],
        partition_key=COMPANY,
        instance=instance,
        resources={
            "teammeter_db": TeammeterDatabase(url=database_url),
            "mailer": mailer,
            "data_team_alerts": DataTeamAlerts(mailer=mailer),
        },
        raise_on_error=False,
    )
    wall = time.perf_counter() - started
    step = next(
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS
        and e.step_key == "teammeter__invitations"
    )
    (event,) = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    return {
        "success": result.success,
        "run_wall_s": round(wall, 3),
        "step_s": round(step.event_specific_data.duration_ms / 1000, 3),
        "sent": metadata["sent"],
        "errors": metadata["failed_attempts"],
    }


def measure(kind: str, size: int, admin_url: str | None, workdir: Path) -> dict:
    port = free_port()
    log = workdir / f"relay-{kind}-{port}.log"
    relay = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parent / "smtp_relay.py"), "--port", str(port), "--log", str(log)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert relay.stdout.readline().strip() == "ready"
        with fresh_database(kind, workdir, "invitations", admin_url) as url:
            prepare(url, size)
            run = run_once(url, port)
            rerun = run_once(url, port)
    finally:
        relay.terminate()
        relay.wait(30)
    counts = Counter(log.read_text(encoding="utf-8").splitlines())
    run.update(
        database=kind,
        size=size,
        relay_messages=sum(counts.values()),
        distinct_recipients=len(counts),
        messages_per_s=round(sum(counts.values()) / run["run_wall_s"], 1),
        rerun_sent=rerun["sent"],
    )
    if not (run["success"] and run["sent"] == size and len(counts) == size and max(counts.values()) == 1
            and rerun["sent"] == 0):
        raise SystemExit(f"not every person was invited exactly once in one run: {run}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    kinds = args.databases.split(",")
    admin_url = postgres_admin_url(args.postgres_url) if "postgres" in kinds else None
    print(json.dumps({"machine": machine(), **shares(records(args.size))}, ensure_ascii=False))
    with tempfile.TemporaryDirectory(prefix="bench-invitations-") as tmp:
        for kind in kinds:
            runs = [measure(kind, args.size, admin_url, Path(tmp)) for _ in range(args.repeat)]
            for run in runs:
                print(json.dumps(run))
            if len(runs) > 1:
                print(json.dumps({
                    "database": kind,
                    "median_run_wall_s": statistics.median(r["run_wall_s"] for r in runs),
                    "median_messages_per_s": statistics.median(r["messages_per_s"] for r in runs),
                }))


if __name__ == "__main__":
    main()
