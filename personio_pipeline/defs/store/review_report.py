"""The verification report asset: after each sync, one self-contained HTML page per company in the
data folder, for the customer's HR admin (built by `personio_pipeline.reporting.verification`).

The page names people and addresses; its metadata only points at it and counts. A company above
`SUMMARY_FROM` active people gets a summary page and its long lists as CSV files next to it
(`<company>.people.csv`, …), written with the page and skipped with it when nothing changed."""

import json
import os
from pathlib import Path

import dagster as dg

from personio_pipeline.common import settings
from personio_pipeline.companies import registry
from personio_pipeline.companies.files import report_file
from personio_pipeline.defs.org.unchanged import StoredModel
from personio_pipeline.defs.shared.keys import ORG_EMPLOYEES, REVIEW_REPORT, TEAMMETER_GROUP, teammeter
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.defs.shared.retries import retry_transient_errors
from personio_pipeline.defs.store.assets import SYNC_FRESHNESS, TABLES
from personio_pipeline.reporting.verification import make_report, write_report
from personio_pipeline.reporting.verification.lists import list_name
from personio_pipeline.reporting.verification.freshness import patch_last_sync, report_key


@dg.asset(
    key=REVIEW_REPORT,
    # The org model's employees are read only when the page is rebuilt (`_employees`): a no-op
    # sync knows them by the key they were built for, without loading 100,000 rows.
    deps=[*(teammeter(table) for table in TABLES), ORG_EMPLOYEES],
    required_resource_keys={"teammeter_db", "io_manager"},
    partitions_def=companies,
    group_name=TEAMMETER_GROUP,
    kinds={"html"},
    freshness_policy=SYNC_FRESHNESS,
    owners=["team:data"],
)
@retry_transient_errors
def review_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The page the customer's admin checks before anyone is invited: access and what to fix in
    Personio, units and teams, the manager tree, roles, Teammeter-side edits and the latest
    changes. Rebuilt after a sync that changed what it shows (`freshness.py`); after one that did
    not, only its "Last sync" time is updated. The organisation model's employees add why an
    address is unusable and which title spellings were merged."""
    company = context.partition_key
    teammeter_db: TeammeterDatabase = context.resources.teammeter_db
    stored = StoredModel(context.resources.io_manager, company, ["employees"])
    path = report_file(settings.data_dir(), company)
    with teammeter_db.engine().connect() as conn:
        org = registry.get(conn, company)
        model_key = stored.recorded_key()
        employees = None if model_key else stored.load("employees")
        key = report_key(conn, org, employees, model_key=model_key)
        known = _read_sidecar(path)
        if known.get("key") == key and all(p.exists() for p in [path, *_lists_of(path, known)]):
            if patch_last_sync(path, org.last_synced_at):
                context.log.info(f"company '{company}': verification report unchanged (its last sync time updated)")
                return dg.MaterializeResult(metadata={**_metadata(path, known["counts"]), "rebuilt": False})
        if employees is None:
            employees = stored.load("employees")
        report = make_report(conn, company, employees, stem=company)
    write_report(path, report)
    counts = report.content.counts()
    _write_sidecar(path, {"key": key, "counts": counts, "lists": sorted(report.lists)})
    context.log.info(f"company '{company}': verification report written ({path.stat().st_size} bytes"
                     + (f", {len(report.lists)} CSV files next to it" if report.lists else "") + ")")
    return dg.MaterializeResult(metadata={**_metadata(path, counts, len(report.lists)), "rebuilt": True})


def _lists_of(path: Path, known: dict) -> list[Path]:
    return [path.with_name(list_name(path.name.removesuffix(".html"), which)) for which in known.get("lists", [])]


def _metadata(path: Path, counts: dict[str, int], lists: int | None = None) -> dict:
    return {"path": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size,
            "csv_files": len(_lists_of(path, _read_sidecar(path))) if lists is None else lists, **counts}


def _sidecar(path: Path) -> Path:
    """Next to the page: the key it was built for and its counts (numbers only, no names)."""
    return path.with_name(path.name + ".key.json")


def _read_sidecar(path: Path) -> dict:
    try:
        return json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def _write_sidecar(path: Path, known: dict) -> None:
    tmp = _sidecar(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(known), encoding="utf-8")
    os.replace(tmp, _sidecar(path))
