"""Asset checks on the organisation model; the verdicts come from `personio_pipeline.model.checks`.

ERROR checks are blocking: data that would break Teammeter (shared logins, management cycles,
nameless teams) never reaches the store. WARN checks are advisory and feed the data-team alerts.
"""

from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from personio_pipeline.model import checks as verdicts
from personio_pipeline.model.employees import normalise_employees
from personio_pipeline.model.organisation import derive_reporting_lines

MISSING_EMAILS = "missing_emails"


def to_result(outcome: verdicts.CheckOutcome) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {}
    for key, value in outcome.metadata.items():
        if key == "preview_md":
            metadata["preview"] = dg.MetadataValue.md(value)
        elif isinstance(value, (list, dict)):
            metadata[key] = dg.MetadataValue.json(value)
        else:
            metadata[key] = value
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity[outcome.severity],
        description=outcome.description,
        metadata=metadata,
    )


EMPLOYEES = dg.AssetKey(["org", "employees"])
REPORTING_LINES = dg.AssetKey(["org", "reporting_lines"])


@dg.asset_check(asset=EMPLOYEES, name=MISSING_EMAILS)
def missing_emails(employees: pd.DataFrame) -> dg.AssetCheckResult:
    """Active people without a usable email cannot log in or be invited (WARN; alerts the data team)."""
    return to_result(verdicts.missing_emails(employees))


@dg.asset_check(asset=EMPLOYEES, name="duplicate_active_emails", blocking=True)
def duplicate_active_emails(employees: pd.DataFrame) -> dg.AssetCheckResult:
    """Two active people cannot share a login (ERROR, blocks the Teammeter write)."""
    return to_result(verdicts.duplicate_active_emails(employees))


@dg.asset_check(asset=EMPLOYEES, name="unique_employee_ids",
                additional_ins={"raw": dg.AssetIn(["apideck", "employees"])})
def unique_employee_ids(raw: list[dict[str, Any]]) -> dg.AssetCheckResult:
    """Ids served more than once or not at all by Apideck (resolved in the model; reported here)."""
    return to_result(verdicts.unique_employee_ids(normalise_employees(raw, today=date.today())))


@dg.asset_check(asset=REPORTING_LINES, name="unknown_or_inactive_managers",
                additional_ins={"employees": dg.AssetIn(["org", "employees"])})
def unknown_or_inactive_managers(employees: pd.DataFrame) -> dg.AssetCheckResult:
    """Lines to managers Apideck did not return or who left are dropped (WARN, listed)."""
    return to_result(verdicts.unknown_or_inactive_managers(derive_reporting_lines(employees)))


@dg.asset_check(asset=REPORTING_LINES, name="management_cycles", blocking=True,
                additional_ins={"employees": dg.AssetIn(["org", "employees"])})
def management_cycles(employees: pd.DataFrame) -> dg.AssetCheckResult:
    """Self-management and cycles mean the HR data is broken (ERROR, blocking; each cycle named)."""
    return to_result(verdicts.management_cycles(derive_reporting_lines(employees)))


NAMED_TABLES = {"teams": "team_key", "roles": "role_key", "units": "unit_key"}


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("names_present", asset=dg.AssetKey(["org", name]), blocking=True,
                          description=f"Every {name[:-1]} has a non-empty name (ERROR, blocking).")
        for name in NAMED_TABLES
    ],
    ins={name: dg.AssetIn(["org", name]) for name in NAMED_TABLES},
)
def names_present(teams: pd.DataFrame, roles: pd.DataFrame, units: pd.DataFrame):
    """Teammeter shows teams, roles and units by name; each table gets its own verdict."""
    tables = {"teams": teams, "roles": roles, "units": units}
    for name, key_column in NAMED_TABLES.items():
        only_this = {
            other: table if other == name else pd.DataFrame({"name": [], NAMED_TABLES[other]: []})
            for other, table in tables.items()
        }
        result = to_result(verdicts.names_present(**only_this))
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey(["org", name]),
            check_name="names_present",
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
        )


org_checks = [
    missing_emails,
    duplicate_active_emails,
    unique_employee_ids,
    unknown_or_inactive_managers,
    management_cycles,
    names_present,
]
