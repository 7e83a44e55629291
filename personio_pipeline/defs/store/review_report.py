"""The verification report asset: after each sync, one self-contained HTML page per company in the
data folder, for the customer's HR admin (built by `personio_pipeline.reporting.verification`).

The page names people and addresses; its metadata only points at it and counts."""

import os
from pathlib import Path

import dagster as dg
import pandas as pd

from personio_pipeline.common import settings
from personio_pipeline.companies.files import report_file
from personio_pipeline.defs.shared.keys import ORG_EMPLOYEES, REVIEW_REPORT, TEAMMETER_GROUP, teammeter
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.defs.shared.retries import retry_transient_errors
from personio_pipeline.defs.store.assets import SYNC_FRESHNESS, TABLES
from personio_pipeline.reporting.verification import build_report


@dg.asset(
    key=REVIEW_REPORT,
    deps=[teammeter(table) for table in TABLES],
    ins={"employees": dg.AssetIn(ORG_EMPLOYEES)},
    partitions_def=companies,
    group_name=TEAMMETER_GROUP,
    kinds={"html"},
    freshness_policy=SYNC_FRESHNESS,
    owners=["team:data"],
)
@retry_transient_errors
def review_report(
    context: dg.AssetExecutionContext, teammeter_db: TeammeterDatabase, employees: pd.DataFrame
) -> dg.MaterializeResult:
    """The page the customer's admin checks before anyone is invited: access and what to fix in
    Personio, units and teams, the manager tree, roles, Teammeter-side edits and the last sync's
    changes. Rebuilt after each sync; the organisation model's employees add why an address is
    unusable and which title spellings were merged."""
    with teammeter_db.engine().connect() as conn:
        content, page = build_report(conn, context.partition_key, employees)
    path = write_report(report_file(settings.data_dir(), context.partition_key), page)
    context.log.info(f"company '{context.partition_key}': verification report written ({len(page.encode())} bytes)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "bytes": path.stat().st_size,
            **content.counts(),
        }
    )


def write_report(path: Path, page: str) -> Path:
    """Write atomically (temp file, then rename): a reader never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
