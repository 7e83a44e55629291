"""Child process: the same pages through dlt's generic `rest_api` source, for comparison.

What a team would get from an off-the-shelf loader: dlt's `rest_api` source (cursor paginator on
`meta.cursors.next`, `limit=200`, the same `fields=`), its default normalisation (nested lists such
as `emails` and `jobs` become child tables) and its `sqlalchemy` destination into the same kind of
database the sync writes to (`--destination duckdb` for dlt's own favourite). Needs the `bench`
extra (`pip install -e '.[bench]'`). Writes wall time, rows and peak RSS as JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import API_KEY, APP_ID, PAGE_SIZE, peak_rss_mb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--company", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--work-dir", required=True, help="dlt's pipelines folder (and the duckdb file)")
    parser.add_argument("--destination", default="sqlalchemy", choices=["sqlalchemy", "duckdb"])
    args = parser.parse_args()

    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    started = time.perf_counter()
    import dlt
    from dlt.sources.rest_api import rest_api_source

    from personio_pipeline.apideck.fields import fields_param

    import_seconds = time.perf_counter() - started
    source = rest_api_source({
        "client": {
            "base_url": args.base_url,
            "headers": {"Authorization": f"Bearer {API_KEY}", "x-apideck-app-id": APP_ID,
                        "x-apideck-consumer-id": args.company, "x-apideck-service-id": "personio"},
            "paginator": {"type": "cursor", "cursor_path": "meta.cursors.next", "cursor_param": "cursor"},
        },
        "resources": [{
            "name": "employees",
            "endpoint": {"path": "hris/employees", "params": {"limit": PAGE_SIZE, "fields": fields_param()},
                         "data_selector": "data"},
            "write_disposition": "replace",
        }],
    })
    if args.destination == "duckdb":
        destination = dlt.destinations.duckdb(str(Path(args.work_dir) / "dlt.duckdb"))
    else:
        url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        destination = dlt.destinations.sqlalchemy(credentials=url)
    pipeline = dlt.pipeline(pipeline_name=f"bench_{os.getpid()}", destination=destination,
                            dataset_name="dlt_bench", pipelines_dir=str(Path(args.work_dir) / "pipelines"))
    started = time.perf_counter()
    info = pipeline.run(source)
    wall = time.perf_counter() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts if pipeline.last_trace.last_normalize_info else {}
    Path(args.out).write_text(json.dumps({
        "wall_seconds": wall,
        "import_seconds": import_seconds,
        "destination": args.destination,
        "rows": {table: count for table, count in rows.items() if not table.startswith("_dlt")},
        "loads": len(info.loads_ids),
        "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
