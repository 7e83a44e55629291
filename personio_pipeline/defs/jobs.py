"""Jobs: the company sync (everything but invitations)."""

import dagster as dg

from personio_pipeline.defs.partitions import companies

SYNC_JOB_NAME = "sync_company"

sync_company_job = dg.define_asset_job(
    SYNC_JOB_NAME,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("invitations"),
    partitions_def=companies,
    description="Sync one company from Apideck into Teammeter (no invitations).",
)
