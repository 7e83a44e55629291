"""Child process: the baseline a sync is compared with.

The same pages the pipeline reads (httpx, limit=200, the same `fields=`), flattened into one
table and inserted with one plain SQLAlchemy executemany (no COPY) into the same kind of
database. No Dagster, no model, no diff, no change log: what "fetch and store" costs at least.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from common import API_KEY, APP_ID, PAGE_SIZE, peak_rss_mb  # noqa: E402
from personio_pipeline.apideck.fields import fields_param  # noqa: E402

metadata = sa.MetaData()
employees = sa.Table(
    "baseline_employees",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.String(64), nullable=False),
    sa.Column("first_name", sa.String(255)),
    sa.Column("last_name", sa.String(255)),
    sa.Column("display_name", sa.String(255)),
    sa.Column("email", sa.String(320)),
    sa.Column("status", sa.String(32)),
    sa.Column("title", sa.String(255)),
    sa.Column("team_id", sa.String(64)),
    sa.Column("team_name", sa.String(255)),
    sa.Column("department_id", sa.String(64)),
    sa.Column("department_name", sa.String(255)),
    sa.Column("manager_id", sa.String(64)),
    sa.Column("updated_at", sa.String(40)),
)


def row(record: dict) -> dict:
    emails = record.get("emails") or [{}]
    team = record.get("team") or {}
    return {
        "employee_id": record["id"],
        "first_name": record.get("first_name"),
        "last_name": record.get("last_name"),
        "display_name": record.get("display_name"),
        "email": emails[0].get("email"),
        "status": record.get("employment_status"),
        "title": record.get("title"),
        "team_id": team.get("id"),
        "team_name": team.get("name"),
        "department_id": record.get("department_id"),
        "department_name": record.get("department_name"),
        "manager_id": (record.get("manager") or {}).get("id"),
        "updated_at": record.get("updated_at"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--company", required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()

    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    metadata.create_all(engine)

    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {API_KEY}", "x-apideck-app-id": APP_ID,
               "x-apideck-consumer-id": args.company, "x-apideck-service-id": "personio"}
    records, cursor, requests = [], None, 0
    with httpx.Client(base_url=args.base_url, headers=headers, timeout=60) as client:
        while True:
            params = {"limit": PAGE_SIZE, "fields": fields_param(), **({"cursor": cursor} if cursor else {})}
            body = client.get("/hris/employees", params=params).raise_for_status().json()
            requests += 1
            records.extend(body["data"])
            cursor = body["meta"]["cursors"]["next"]
            if not cursor:
                break
    fetched = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(employees.insert(), [row(record) for record in records])
    wall = time.perf_counter() - started
    engine.dispose()
    Path(args.out).write_text(json.dumps({
        "wall_seconds": wall, "fetch_seconds": fetched, "insert_seconds": wall - fetched,
        "rows": len(records), "requests": requests, "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
