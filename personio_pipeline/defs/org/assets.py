"""Org model layer: thin wiring around the pure transforms in `personio_pipeline.org`."""

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
from personio_pipeline.defs.shared.check_results import to_result
from personio_pipeline.defs.shared.keys import (
    MISSING_EMAILS,
    ORG_EMPLOYEES,
    ORG_GROUP,
    ORG_REPORTING_LINES,
    ORG_STRUCTURE_STEP,
    RAW_EMPLOYEES,
    org,
)
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.defs.shared.types import RawEmployeeRecords
from personio_pipeline.org import checks
from personio_pipeline.org.columns import (
    EMPLOYEE_COLUMNS,
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


@dg.asset(key=ORG_EMPLOYEES, ins={"raw": dg.AssetIn(RAW_EMPLOYEES, dagster_type=RawEmployeeRecords)},
          kinds={"pandas"}, check_specs=EMPLOYEE_CHECKS, **ORG)
def employees(context: dg.AssetExecutionContext, raw: RawExtract, teammeter_db: TeammeterDatabase):
    """One row per HR employee id: names, the email to use, status (active / inactive /
    terminated / unknown), team, department, position and manager. Duplicate ids across pages
    are resolved (latest `updated_at` wins) and reported. An employment ends by the company's
    own calendar (its time zone)."""
    with teammeter_db.engine().connect() as conn:
        company = registry.get(conn, context.partition_key)
    normalised = normalise_extract(raw, today=clock.company_today(company.timezone))
    table = normalised.table
    if len(normalised.duplicates):
        context.log.warning(f"{len(normalised.duplicates)} employee ids were served more than once; kept the latest")
    yield dg.Output(
        table,
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
    yield to_result(MISSING_EMAILS, checks.missing_emails(table))
    yield to_result("duplicate_active_emails", checks.duplicate_active_emails(table))
    yield to_result("unique_employee_ids", checks.unique_employee_ids(normalised))


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


@dg.multi_asset(
    outs={
        name: dg.AssetOut(key=org(name), description=text, kinds={"pandas"}, group_name=ORG_GROUP,
                          owners=["team:data"])
        for name, text in STRUCTURE.items()
    },
    ins={"employees": dg.AssetIn(ORG_EMPLOYEES)},
    check_specs=[*NAME_CHECKS, *REPORTING_LINE_CHECKS],
    partitions_def=companies,
    name=ORG_STRUCTURE_STEP,
)
def org_structure(employees: pd.DataFrame):
    """Teams, units, roles and reporting lines from the employees, in one step: each is a quick
    pass over the same table, and one step reads that table once (four steps read it four times)."""
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
        yield to_result("names_present", names_present_in(name, employees), org(name))

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
    yield to_result("unknown_or_inactive_managers", checks.unknown_or_inactive_managers(result), ORG_REPORTING_LINES)
    yield to_result("management_cycles", checks.management_cycles(result), ORG_REPORTING_LINES)


org_assets = [employees, org_structure]
