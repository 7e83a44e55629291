"""Teammeter layer: one multi-asset writes a company's users, units, teams, memberships, roles,
role assignments and reporting lines in one transaction, so a failure anywhere leaves Teammeter
as it was. One asset key per table keeps the lineage readable. Records that cannot be applied
safely are held back one by one and reported by the `records_held_back` check."""

from datetime import timedelta

import dagster as dg
import pandas as pd
from pydantic import Field

from personio_pipeline.common import settings
from personio_pipeline.defs.shared.check_results import to_result
from personio_pipeline.defs.shared.keys import (
    HELD_BACK,
    SYNC_WRITE_STEP,
    TEAMMETER_GROUP,
    TEAMMETER_USERS,
    org,
    teammeter,
)
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.defs.shared.retries import retry_transient_errors
from personio_pipeline.org import checks
from personio_pipeline.store.safeguard import SafeguardError
from personio_pipeline.store.sync import OrgModel, sync_company

ORG_INPUTS = ("employees", "teams", "units", "roles", "reporting_lines")

# Teammeter table -> (sync entity in the plan, organisation tables it is built from).
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "users": ("user", ("employees",)),
    "units": ("unit", ("units",)),
    "teams": ("team", ("teams",)),
    "team_memberships": ("team_membership", ("employees", "teams")),
    "roles": ("role", ("roles",)),
    "user_roles": ("user_role", ("employees", "roles")),
    "reporting_lines": ("reporting_line", ("reporting_lines",)),
}

# The daily sync writes every connected company once a day: a Teammeter table whose last
# materialisation is older than 26 hours (a day and a margin for a slow queue) shows as stale in
# the UI. Dagster 1.13 evaluates the policy per asset, on its latest materialisation of any
# company; per company, `personio-pipeline status` and the company_sync_status view say when its
# last sync succeeded.
SYNC_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26))

HELD_BACK_CHECK = dg.AssetCheckSpec(
    HELD_BACK, asset=TEAMMETER_USERS, partitions_def=companies,
    description="People the Teammeter write held back (shared address, management cycle): existing users keep "
    "their previous state, new ones have no access (ERROR; alerts the data team; the rest is synced).",
)


class TeammeterSyncConfig(dg.Config):
    """Run config to approve what the safeguard stopped (see the failure message)."""

    approve_deactivations: bool = Field(
        default=False, description="Write even if more than the allowed share of active users would be deactivated."
    )
    max_deactivation_share: float | None = Field(
        default=None, description="Allowed share of active users deactivated in this run (default 0.2, or the company's own)."
    )
    full_sync: bool = Field(
        default=False,
        description="Diff against the store even if the model and the store are as the last sync left them.",
    )
    max_held_back_share: float | None = Field(
        default=None,
        description="Share of active people that may newly be held back before the run stops as a likely "
        "connector problem (default 0.05; below 10 people it never stops).",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            teammeter(table),
            deps=[org(name) for name in sources],
            description=f"Teammeter {table.replace('_', ' ')} of the company, kept in step with Personio.",
            group_name=TEAMMETER_GROUP,
            kinds={"sqlalchemy", settings.teammeter_database_kind()},
            freshness_policy=SYNC_FRESHNESS,
            owners=["team:data"],
        )
        for table, (_, sources) in TABLES.items()
    ],
    ins={name: dg.AssetIn(org(name)) for name in ORG_INPUTS},
    check_specs=[HELD_BACK_CHECK],
    partitions_def=companies,
    pool="teammeter_write",
    name=SYNC_WRITE_STEP,
)
@retry_transient_errors
def teammeter_sync(
    context: dg.AssetExecutionContext,
    config: TeammeterSyncConfig,
    teammeter_db: TeammeterDatabase,
    employees: pd.DataFrame,
    teams: pd.DataFrame,
    units: pd.DataFrame,
    roles: pd.DataFrame,
    reporting_lines: pd.DataFrame,
):
    """Diff the org model against Teammeter and write only the differences, all or
    nothing; a second run with unchanged data writes zero rows."""
    model = OrgModel(employees=employees, teams=teams, units=units, roles=roles, reporting_lines=reporting_lines)
    try:
        result = sync_company(
            teammeter_db.engine(),
            context.partition_key,
            model,
            run_id=context.run.run_id,
            max_deactivation_share=config.max_deactivation_share,
            approve_deactivations=config.approve_deactivations,
            full_sync=config.full_sync,
            max_held_back_share=config.max_held_back_share,
        )
    except SafeguardError as error:
        # The ids and fields travel as metadata so the CLI can print one line per cause.
        raise dg.Failure(
            description=str(error),
            metadata={"employee_ids": dg.MetadataValue.json(error.employee_ids[:500]),
                      "fields": dg.MetadataValue.json(error.fields)},
        ) from None
    context.log.info(
        f"company '{context.partition_key}': {result.rows_written} rows written"
        + (" (model and store as the last sync left them: diff skipped)" if result.diff_skipped else "")
    )
    for table, (entity, _) in TABLES.items():
        tally = result.counts.get(entity, {})
        metadata = {
            **tally,
            "changes": sum(tally.values()),
            "company_rows_written": result.rows_written,
            "employees_read": len(employees),
            "diff_skipped": result.diff_skipped,
        }
        if table == "users":  # the company-wide change preview, shown once
            metadata["preview"] = dg.MetadataValue.md(result.preview_markdown())
        if table == "users":
            metadata["held_back"] = len(set(result.held_back["employee_id"]))
            if result.outside_scope:  # counted, never stored (companies/scope.py)
                metadata["outside_scope"] = result.outside_scope["people"]
                metadata["managers_outside_scope"] = result.outside_scope["managers"]
            for outcome, people in result.unknown_status.items():  # store/statuses.py: the company's policy
                metadata[f"unknown_status_{outcome}"] = people
        yield dg.MaterializeResult(asset_key=teammeter(table), metadata=metadata)
    if len(result.held_back):
        context.log.warning(
            f"company '{context.partition_key}': {len(set(result.held_back['employee_id']))} people held back "
            f"(fields: {', '.join(sorted(set(result.held_back['field'])))}); see the {HELD_BACK} check"
        )
    yield to_result(HELD_BACK, checks.records_held_back(result.held_back), TEAMMETER_USERS)
