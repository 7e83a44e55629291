"""Org model layer: thin wiring around the pure transforms in `personio_pipeline.org`.

One step builds the five model tables (employees, then teams, units, roles and reporting lines
from them) and evaluates their checks: the employees table is passed on in memory, not written
and read back. When the listing is byte for byte the one the stored tables were built from, on
the same company date and with the same code, the step keeps the stored tables and repeats
their metadata and check results (`defs/org/unchanged.py`) instead of rebuilding them: at
100,000 people a daily sync where HR changed nothing skips seconds of work, and the UI shows the
same materializations and checks as before.
"""

from typing import Any

import dagster as dg
import pandas as pd

from personio_pipeline.apideck.extract import RawExtract
from personio_pipeline.companies import clock, registry
from personio_pipeline.defs.org.checks import (
    EMPLOYEE_CHECKS,
    NAME_CHECKS,
    NAMED_TABLES,
    REPORTING_LINE_CHECKS,
    names_present_in,
)
from personio_pipeline.defs.org import unchanged
from personio_pipeline.defs.shared.check_results import to_result
from personio_pipeline.defs.shared.keys import (
    MISSING_EMAILS,
    ORG_EMPLOYEES,
    ORG_GROUP,
    ORG_REPORTING_LINES,
    ORG_MODEL_STEP,
    RAW_EMPLOYEES,
    org,
)
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.defs.shared.types import RawEmployeeRecords
from personio_pipeline.org import checks
from personio_pipeline.org.columns import (
    EMPLOYEE_COLUMNS,
    MODEL_KEY_ATTR,
    REPORTING_LINE_COLUMNS,
    ROLE_COLUMNS,
    TEAM_COLUMNS,
    UNIT_COLUMNS,
)
from personio_pipeline.org.employees_columnar import normalise_extract
from personio_pipeline.org.structure import derive_reporting_lines, derive_roles, derive_teams, derive_units

ORG = dict(partitions_def=companies, group_name=ORG_GROUP, owners=["team:data"])


def column_schema(columns: dict[str, str], frame: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, str(frame[name].dtype) if name in frame else "object", description=text)
            for name, text in columns.items()
        ]
    )


def table_metadata(frame: pd.DataFrame, columns: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": column_schema(columns, frame),
        **extra,
    }


def counts_md(series: pd.Series, label: str) -> dg.MetadataValue:
    counts = series.fillna("—").value_counts().rename_axis(label).reset_index(name="people")
    return dg.MetadataValue.md(counts.head(50).to_markdown(index=False))


EMPLOYEES_DESCRIPTION = (
    "One row per HR employee id: names, the email to use, status (active / inactive / terminated / "
    "unknown), team, department, position and manager. Duplicate ids across pages are resolved (latest "
    "`updated_at` wins) and reported. An employment ends by the company's own calendar (its time zone)."
)
STRUCTURE = {
    "teams": "Teams from Personio teams, with their active member count and unit when unambiguous "
    "(a team without a name in HR is called 'Team <id>').",
    "units": "Units (Teammeter's name for Personio departments) with their active member count "
    "(a unit without a name in HR is called 'Unit <id>').",
    "roles": "Roles from Personio positions: one per distinct title, matched case- and "
    "whitespace-insensitively, keeping the nicest spelling.",
    "reporting_lines": "Manager → report lines between active people. Lines to unknown or inactive "
    "managers, self-management and cycles are left out here and reported by the checks.",
}
OUTPUTS = {"employees": (ORG_EMPLOYEES, EMPLOYEES_DESCRIPTION),
           **{name: (org(name), text) for name, text in STRUCTURE.items()}}


@dg.multi_asset(
    name=ORG_MODEL_STEP,
    outs={
        name: dg.AssetOut(key=key, description=text, kinds={"pandas"}, group_name=ORG_GROUP, owners=["team:data"])
        for name, (key, text) in OUTPUTS.items()
    },
    ins={"raw": dg.AssetIn(RAW_EMPLOYEES, dagster_type=RawEmployeeRecords)},
    # Lineage as the data flows: the listing -> employees -> teams, units, roles and reporting lines.
    internal_asset_deps={"employees": {RAW_EMPLOYEES},
                         **{name: {ORG_EMPLOYEES} for name in STRUCTURE}},
    check_specs=[*EMPLOYEE_CHECKS, *NAME_CHECKS, *REPORTING_LINE_CHECKS],
    partitions_def=companies,
    # The IO manager says where the stored tables are (kept when the listing is unchanged).
    required_resource_keys={"io_manager", "teammeter_db"},
)
def org_model(context: dg.AssetExecutionContext, raw: RawExtract):
    """The company's org model from its listing: employees, teams, units, roles and reporting
    lines, with their checks (see the module docstring for when the stored tables are kept)."""
    teammeter_db: TeammeterDatabase = context.resources.teammeter_db
    with teammeter_db.engine().connect() as conn:
        company = registry.get(conn, context.partition_key)
    today = clock.company_today(company.timezone)
    store = unchanged.StoredModel(context.resources.io_manager, context.partition_key, list(OUTPUTS))
    key = unchanged.model_key(raw.sha256, today)
    kept = store.kept_for(key)
    if kept is not None:
        context.log.info(f"company '{context.partition_key}': listing unchanged since the stored model; kept it")
        for name, metadata in kept.outputs.items():
            yield dg.Output(None, output_name=name, metadata={**metadata, "rebuilt": False})
        for check in kept.checks:
            yield to_result(check.name, check.outcome, check.asset_key)
        return
    store.forget()
    built = unchanged.Recorder()
    for result in _build(context, raw, today, key):
        yield built.record(result)
    store.remember(key, built)


def _build(context: dg.AssetExecutionContext, raw: RawExtract, today, key: str):
    """Build the five tables and their check results (each yielded as it is ready). The employees
    table carries the key it was built for (stored with it): the Teammeter write and the report
    know the model by it without hashing its rows."""
    normalised = normalise_extract(raw, today=today)
    table = normalised.table
    table.attrs[MODEL_KEY_ATTR] = key
    if len(normalised.duplicates):
        context.log.warning(f"{len(normalised.duplicates)} employee ids were served more than once; kept the latest")
    yield dg.Output(
        table,
        output_name="employees",
        metadata=table_metadata(
            table,
            EMPLOYEE_COLUMNS,
            active=int((table["status"] == "active").sum()),
            unknown_status=int((table["status"] == "unknown").sum()),
            without_email=int(table["email"].isna().sum()),
            duplicate_ids=len(normalised.duplicates),
            records_without_id=normalised.without_id,
            reader=normalised.reader,
            status_counts=counts_md(table["status"], "status"),
        ),
    )
    yield (MISSING_EMAILS, ORG_EMPLOYEES, checks.missing_emails(table))
    yield ("duplicate_active_emails", ORG_EMPLOYEES, checks.duplicate_active_emails(table))
    yield ("unique_employee_ids", ORG_EMPLOYEES, checks.unique_employee_ids(normalised))

    employees = table
    tables = {"teams": derive_teams(employees), "units": derive_units(employees), "roles": derive_roles(employees)}
    active = employees[employees["status"] == "active"]
    yield dg.Output(
        tables["teams"],
        output_name="teams",
        metadata=table_metadata(tables["teams"], TEAM_COLUMNS,
                                members_per_team=counts_md(active["team_name"], "team")),
    )
    yield dg.Output(tables["units"], output_name="units", metadata=table_metadata(tables["units"], UNIT_COLUMNS))
    yield dg.Output(tables["roles"], output_name="roles", metadata=table_metadata(tables["roles"], ROLE_COLUMNS))
    for name in NAMED_TABLES:
        yield ("names_present", org(name), names_present_in(name, employees))

    result = derive_reporting_lines(employees)
    problems = result.problems
    yield dg.Output(
        result.lines,
        output_name="reporting_lines",
        metadata=table_metadata(
            result.lines,
            REPORTING_LINE_COLUMNS,
            dropped_lines=len(problems),
            problems=counts_md(problems["problem"], "problem") if len(problems) else dg.MetadataValue.md("none"),
        ),
    )
    yield ("unknown_or_inactive_managers", ORG_REPORTING_LINES, checks.unknown_or_inactive_managers(result))
    yield ("management_cycles", ORG_REPORTING_LINES, checks.management_cycles(result))


org_assets = [org_model]
