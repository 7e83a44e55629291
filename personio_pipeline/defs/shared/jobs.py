"""Jobs: the company sync (everything but invitations)."""

import dagster as dg

SYNC_JOB_NAME = "sync_company"

sync_company_job = dg.define_asset_job(
    SYNC_JOB_NAME,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("invitations"),
    description="Sync one company from Apideck into Teammeter (no invitations).",
)
