"""Change-log retention: how long stripping names and addresses from old change-log entries
takes, on SQLite and PostgreSQL, and what a daily run costs once nothing is due.

The change log of one company whose N people were all created 100 days ago (N `user/create`
entries with the sandbox's names and addresses, 3 N link entries that carry no personal values,
N/10 recent user entries), then `retention.strip_personal_values` with 90 days kept, timed twice:
the first run strips the N old user entries, the second finds nothing (the partial index).

    .venv/bin/python bench/retention.py --sizes 10000,100000 --databases sqlite,postgres
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.common import fresh_database, machine, postgres_admin_url, register_company  # noqa: E402
from personio_pipeline.sandbox.generator import generate_company  # noqa: E402
from personio_pipeline.store import retention  # noqa: E402
from personio_pipeline.store.db import create_engine  # noqa: E402
from personio_pipeline.store.schema import change_log  # noqa: E402

COMPANY = "bench-retention"


def fill(engine: sa.Engine, size: int, now: datetime) -> None:
    people = generate_company(COMPANY, size, day=0)
    old, recent = now - timedelta(days=100), now - timedelta(days=1)
    entry = dict(organisation_id=1, run_id="bench", action="create", before=None)
    users = [
        {**entry, "entity": "user", "entity_key": p["id"], "at": old,
         "after": {"display_name": p["display_name"], "first_name": p["first_name"], "last_name": p["last_name"],
                   "email": (p["emails"] or [{}])[0].get("email"), "email_source": "hr", "has_access": True,
                   "unit_key": f"name:{(p.get('department_name') or '').casefold()}"}}
        for p in people
    ]
    links = [
        {**entry, "entity": entity, "entity_key": f"{p['id']}|x", "at": old, "after": None}
        for p in people for entity in ("team_membership", "user_role", "reporting_line")
    ]
    with engine.begin() as conn:
        for rows in (users, links, [{**row, "at": recent} for row in users[: size // 10]]):
            for start in range(0, len(rows), 10_000):
                conn.execute(sa.insert(change_log), rows[start:start + 10_000])


def measure(kind: str, size: int, admin_url: str | None, workdir: Path) -> dict:
    with fresh_database(kind, workdir, f"retention-{size}", admin_url) as url:
        register_company(url, COMPANY)
        engine = create_engine(url)
        now = datetime.now(timezone.utc)
        fill(engine, size, now)
        cutoff = retention.cutoff(now, 90)
        started = time.perf_counter()
        first = retention.strip_personal_values(engine, cutoff, now=now)
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        second = retention.strip_personal_values(engine, cutoff, now=now)
        second_seconds = time.perf_counter() - started
        engine.dispose()
    if first != size or second != 0:
        raise SystemExit(f"{kind} {size}: stripped {first} then {second}, expected {size} then 0")
    return {"database": kind, "size": size, "first": first_seconds, "again": second_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    admin_url = postgres_admin_url(args.postgres_url)
    info = machine()
    print(f"machine: {info}")
    print("| database | old user entries | first run (strips all) | entries/s | next run (nothing due) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as workdir:
        for kind in args.databases.split(","):
            for size in map(int, args.sizes.split(",")):
                r = measure(kind, size, admin_url, Path(workdir))
                print(f"| {kind} | {size:,} | {r['first']:.1f} s | {size / r['first']:,.0f} | {r['again'] * 1000:.0f} ms |",
                      flush=True)


if __name__ == "__main__":
    main()
