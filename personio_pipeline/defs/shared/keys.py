"""The names operators and the Dagster UI know the pipeline by: asset keys, groups, check names, job
names, run tags and the step keys of the sync. They are its interface and the UI's history: keep
them as they are. Constants only (no project imports), so the CLI, the run helpers and the logs
can name a job or read a tag without loading the definitions.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import PARTITION_NAME_TAG

# -- partitions and tags -------------------------------------------------------------------------
COMPANY_PARTITIONS = "companies"  # one dynamic partition per company, keyed by its Apideck consumer id
PARTITION_TAG = PARTITION_NAME_TAG  # "dagster/partition", Dagster's tag of a partitioned run: the company
TRIGGER_TAG = "personio_pipeline/trigger"  # who started a run: daily_sync, webhooks or cli
WEBHOOK_BATCH_TAG = "personio_pipeline/webhook_batch"  # the run key of a webhook-driven sync

# -- jobs ----------------------------------------------------------------------------------------
SYNC_JOB = "sync_company"
INVITE_JOB = "invite_company"
RETENTION_JOB = "change_log_retention"

# -- asset groups --------------------------------------------------------------------------------
APIDECK_GROUP = "apideck"
ORG_GROUP = "organisation"
TEAMMETER_GROUP = "teammeter"
INVITATIONS_GROUP = "invitations"


# -- asset keys by layer: apideck/ (raw), org/ (model), teammeter/ (store) -----------------------
def org(table: str) -> dg.AssetKey:
    return dg.AssetKey(["org", table])


def teammeter(table: str) -> dg.AssetKey:
    return dg.AssetKey(["teammeter", table])


RAW_EMPLOYEES = dg.AssetKey(["apideck", "employees"])
ORG_EMPLOYEES = org("employees")
ORG_REPORTING_LINES = org("reporting_lines")
TEAMMETER_USERS = teammeter("users")
INVITATIONS = teammeter("invitations")
REVIEW_REPORT = teammeter("review_report")

# -- asset checks --------------------------------------------------------------------------------
MISSING_EMAILS = "missing_emails"
HELD_BACK = "records_held_back"
INVITATIONS_DELIVERED = "invitations_delivered"

# -- steps of the sync graph ---------------------------------------------------------------------
# apideck__employees, org_model (employees, teams, units, roles, reporting lines), then the
# Teammeter write.
ORG_MODEL_STEP = "org_model"
SYNC_WRITE_STEP = "teammeter_sync"
SYNC_STEP_PREFIXES = ("apideck__", "org__", ORG_MODEL_STEP)
SYNC_LAYERS = ("apideck", "org", "teammeter")  # first part of every asset key a sync writes
