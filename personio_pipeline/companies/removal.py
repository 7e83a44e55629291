"""`personio-pipeline tenants remove`: take a company out of the pipeline for good.

In this order, each step safe to repeat (an interrupted removal is finished by running the
command again):
1. Teammeter marks the company removed: schedules and sensors leave it alone, and any write for
   it (a sync already past its Apideck step, an invitation) is refused.
2. Runs of the company still queued or in progress stop the removal (named, with the remedy).
3. The company's dynamic partition is deleted, with its finished runs (event logs, compute logs:
   they hold asset metadata and check results that name people).
4. Its raw extracts, model files, spools and mail files are deleted (`companies/files.py`).
5. Its people are deactivated (rows kept), or with `purge_people` its people data is deleted.
6. The record in `company_offboardings` gets what was done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from personio_pipeline.companies import offboarding
from personio_pipeline.companies.files import delete_files, find_company_files
from personio_pipeline.defs.shared.keys import PARTITION_TAG
from personio_pipeline.defs.shared.partitions import companies

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


class RunsInProgressError(RuntimeError):
    def __init__(self, consumer_id: str, run_ids: list[str]):
        self.run_ids = run_ids
        super().__init__(
            f"Company '{consumer_id}' is marked removed (nothing new starts for it), but {len(run_ids)} of its runs "
            f"are still queued or running: {', '.join(run_ids)}. Remedy: wait for them to end or terminate them "
            f"in the Dagster UI, then run `personio-pipeline tenants remove {consumer_id} --yes` again."
        )


@dataclass(frozen=True)
class Removal:
    record: offboarding.Offboarding
    report: dict[str, Any]


def remove_company(
    engine: sa.Engine,
    instance: dg.DagsterInstance,
    data_dir: Path,
    consumer_id: str,
    *,
    requested_by: str,
    purge_people: bool = False,
    now: datetime | None = None,
) -> Removal:
    """Remove the company from the pipeline (see the module docstring); raises
    `organisations.UnknownCompanyError` or `RunsInProgressError` (after step 1)."""
    now = now or datetime.now(timezone.utc)
    with engine.begin() as conn:
        record = offboarding.begin(
            conn, consumer_id, requested_by=requested_by, purge_people=purge_people, now=now
        )
        addresses = offboarding.company_addresses(conn, consumer_id)
    in_progress = instance.get_run_records(
        filters=dg.RunsFilter(tags={PARTITION_TAG: consumer_id}, statuses=UNFINISHED)
    )
    if in_progress:
        raise RunsInProgressError(consumer_id, [r.dagster_run.run_id for r in in_progress])

    report: dict[str, Any] = {"partition_removed": False, "runs_deleted": 0}
    if instance.has_dynamic_partition(companies.name, consumer_id):
        instance.delete_dynamic_partition(companies.name, consumer_id)
        report["partition_removed"] = True
    for run_record in instance.get_run_records(filters=dg.RunsFilter(tags={PARTITION_TAG: consumer_id})):
        run_id = run_record.dagster_run.run_id
        instance.delete_run(run_id)
        instance.compute_log_manager.delete_logs(prefix=[run_id])
        report["runs_deleted"] += 1

    report["files"] = delete_files(find_company_files(data_dir, consumer_id, addresses))

    with engine.begin() as conn:
        if purge_people:
            report["rows_deleted"] = offboarding.purge_people(conn, consumer_id)
        else:
            report["rows_deactivated"] = offboarding.deactivate_people(
                conn, consumer_id, run_id=f"offboarding-{record.id}", now=now
            )
        record = offboarding.finish(conn, record.id, report, now=datetime.now(timezone.utc))
    return Removal(record, report)


def describe(removal: Removal) -> list[str]:
    """Lines for the operator: what was removed."""
    report, record = removal.report, removal.record
    lines = [
        f"removed company '{record.consumer_id}' (record {record.id}, by {record.requested_by}, "
        f"{record.finished_at.isoformat(timespec='seconds') if record.finished_at else 'unfinished'})",
        f"  partition: {'deleted' if report['partition_removed'] else 'none left'}; "
        f"runs deleted: {report['runs_deleted']}",
    ]
    for kind, done in report["files"].items():
        lines.append(f"  {kind.replace('_', ' ')}: {done['files']} files ({done['bytes']} bytes) deleted")
    if "rows_deleted" in report:
        rows = ", ".join(f"{table} {count}" for table, count in report["rows_deleted"].items())
        lines.append(f"  people data deleted: {rows}")
    else:
        rows = ", ".join(f"{table} {count}" for table, count in report["rows_deactivated"].items())
        lines.append(f"  deactivated (rows kept): {rows}")
    return lines
