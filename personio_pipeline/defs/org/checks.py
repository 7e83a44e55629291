"""Asset checks on the organisation model; the outcomes come from `personio_pipeline.org.checks`.

All checks are evaluated inside the steps that build the tables, which already hold the data
(separate check steps would load it again from storage).
None blocks the company: ERROR checks name records the Teammeter write holds back (shared
logins, management cycles), WARN checks are advisory; `records_held_back` on teammeter/users
says what the write held back and feeds the data team's alert. Company-wide stops (mass
deactivation, an empty list, too many records held back at once) are the safeguard's.
"""

import warnings
from typing import Any

import dagster as dg
import pandas as pd

from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.org import checks
from personio_pipeline.org.structure import nameless_structures

EMPLOYEES = dg.AssetKey(["org", "employees"])
REPORTING_LINES = dg.AssetKey(["org", "reporting_lines"])
MISSING_EMAILS = "missing_emails"

# Checks partitioned by company are a Dagster preview that the project relies on knowingly
# (personio_pipeline_tests/defs/test_check_partitions.py): no warning on every CLI call.
warnings.filterwarnings("ignore", "Specifying a partitions_def on an AssetCheckSpec", dg.PreviewWarning)

EMPLOYEE_CHECKS = [
    dg.AssetCheckSpec(MISSING_EMAILS, asset=EMPLOYEES, partitions_def=companies,
                      description="Active people without a usable email cannot log in or be invited "
                      "(WARN; alerts the data team)."),
    dg.AssetCheckSpec("duplicate_active_emails", asset=EMPLOYEES, partitions_def=companies,
                      description="Two active people cannot share a login (ERROR; both are held back, the rest "
                      "of the company is synced)."),
    dg.AssetCheckSpec("unique_employee_ids", asset=EMPLOYEES, partitions_def=companies,
                      description="Ids served more than once or not at all (resolved in the model; WARN)."),
]
REPORTING_LINE_CHECKS = [
    dg.AssetCheckSpec("unknown_or_inactive_managers", asset=REPORTING_LINES, partitions_def=companies,
                      description="Lines to managers Apideck did not return or who left are dropped (WARN)."),
    dg.AssetCheckSpec("management_cycles", asset=REPORTING_LINES, partitions_def=companies,
                      description="Self-management and cycles mean the HR data is broken (ERROR; the people on "
                      "them are held back, the rest of the company is synced)."),
]


def to_result(check_name: str, outcome: checks.CheckOutcome, asset_key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """The Dagster result of a verdict, naming the company (the running step's partition) so a
    result read on its own, in an alert or a plot, still says whose it is."""
    metadata: dict[str, Any] = {"company": dg.AssetExecutionContext.get().partition_key}
    for key, value in outcome.metadata.items():
        if key == "preview_md":
            metadata["preview"] = dg.MetadataValue.md(value)
        elif isinstance(value, (list, dict)):
            metadata[key] = dg.MetadataValue.json(value)
        else:
            metadata[key] = value
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity[outcome.severity],
        description=outcome.description,
        metadata=metadata,
    )


NAMED_TABLES = {"teams": "team_key", "roles": "role_key", "units": "unit_key"}
NAME_CHECKS = [
    dg.AssetCheckSpec("names_present", asset=dg.AssetKey(["org", name]), partitions_def=companies,
                      description=f"Every {name[:-1]} has a name in HR (WARN; a nameless one is called "
                      f"'{name[:-1].capitalize()} <id>' so its people keep it).")
    for name in NAMED_TABLES
]

HELD_BACK = "records_held_back"
USERS = dg.AssetKey(["teammeter", "users"])
HELD_BACK_CHECK = dg.AssetCheckSpec(
    HELD_BACK, asset=USERS, partitions_def=companies,
    description="People the Teammeter write held back (shared address, management cycle): existing users keep "
    "their previous state, new ones have no access (ERROR; alerts the data team; the rest is synced).",
)


def names_present_in(name: str, employees: pd.DataFrame) -> checks.CheckOutcome:
    """The names_present verdict for one of teams/roles/units."""
    nameless = nameless_structures(employees)
    return checks.names_present(nameless[nameless["kind"] == name[:-1]])
