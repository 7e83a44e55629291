"""The asset jobs: the company sync (everything but invitations) and the company's invitations,
both partitioned by company like their assets."""

import dagster as dg

from personio_pipeline.defs.shared.keys import INVITATIONS_GROUP, INVITE_JOB, SYNC_JOB

sync_company_job = dg.define_asset_job(
    SYNC_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(INVITATIONS_GROUP),
    description="Sync one company from Apideck into Teammeter (no invitations).",
)

invite_company_job = dg.define_asset_job(
    INVITE_JOB,
    selection=dg.AssetSelection.groups(INVITATIONS_GROUP),  # partitioned by companies, like its asset
    description="Send a verified company's pending invitations (launched by the invitation sensor).",
)
