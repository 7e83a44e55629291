"""What accounts Teammeter already has cost a company's sync: the store step (`sync_company`) of a
sandbox company's first and second (no-op, full diff) sync, with no existing accounts and with a
share of its people already holding an account outside HR (to be linked) plus coaches.

    .venv/bin/python bench/existing_accounts.py                      # 10,000 people, SQLite
    .venv/bin/python bench/existing_accounts.py --size 10000 --share 0.5 --coaches 50 --database postgres

Times the store step only (the model is built once, outside the clock), one fresh database per
case; prints one JSON line per case. The sandbox's diverse profile provides the people.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_database, machine, postgres_admin_url  # noqa: E402


def org_model(size: int):
    from personio_pipeline.org.employees import normalise_employees
    from personio_pipeline.org.structure import derive_reporting_lines, derive_roles, derive_teams, derive_units
    from personio_pipeline.sandbox.generator import generate_company
    from personio_pipeline.store.diff import OrgModel

    employees = normalise_employees(generate_company("bench-accounts", size), today=date(2026, 1, 20)).table
    return OrgModel(employees, derive_teams(employees), derive_units(employees), derive_roles(employees),
                    derive_reporting_lines(employees).lines)


def run_case(url: str, model, share: float, coaches: int) -> dict:
    import sqlalchemy as sa

    from personio_pipeline.companies import registry
    from personio_pipeline.store import hand_edits
    from personio_pipeline.store.db import company_transaction, create_engine, migrate
    from personio_pipeline.store.schema import users
    from personio_pipeline.store.sync import sync_company

    engine = create_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        registry.register(conn, "bench-accounts", "Bench GmbH")
    active = model.employees[(model.employees["status"] == "active") & model.employees["email"].notna()]
    existing = active.sample(frac=share, random_state=7) if share else active.iloc[:0]
    with company_transaction(engine) as conn:
        for name, email in zip(existing["display_name"], existing["email"]):
            local, _, domain = email.rpartition("@")  # the same address as Teammeter might hold it
            hand_edits.create_user(conn, "bench-accounts", name, f" {local}@{domain.upper()} ", registered=True)
        for n in range(coaches):
            hand_edits.create_user(conn, "bench-accounts", f"Coach {n}", f"coach{n}@coaching-partner.de")
    timings = {}
    for label, full in (("first", False), ("second_full_diff", True)):
        started = time.perf_counter()
        sync_company(engine, "bench-accounts", model, run_id=label, full_sync=full, today=date(2026, 1, 20))
        timings[label + "_s"] = round(time.perf_counter() - started, 2)
    with engine.connect() as conn:
        linked = conn.execute(sa.select(sa.func.count()).where(users.c.linked_by.is_not(None))).scalar()
        total = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar()
    engine.dispose()
    return {"existing_accounts": len(existing), "coaches": coaches, "linked": linked, "accounts": total, **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--share", type=float, default=0.5, help="share of active people with an existing account")
    parser.add_argument("--coaches", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    print(json.dumps({"machine": machine()}))
    model = org_model(args.size)
    admin = postgres_admin_url() if args.database == "postgres" else None
    with tempfile.TemporaryDirectory() as workdir:
        for share, coaches in ((0.0, 0), (args.share, args.coaches)):
            with fresh_database(args.database, Path(workdir), f"accounts-{share}", admin) as url:
                case = run_case(url, model, share, coaches)
            print(json.dumps({"database": args.database, "people": len(model.employees), **case}))


if __name__ == "__main__":
    main()
