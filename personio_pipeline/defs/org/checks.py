"""Asset checks on the org model; the outcomes come from `personio_pipeline.org.checks`.

All checks are evaluated inside the steps that build the tables, which already hold the data
(separate check steps would load it again from storage).
None blocks the company: ERROR checks name records the Teammeter write holds back (shared
logins, management cycles), WARN checks are advisory; `records_held_back` on teammeter/users
(`defs/store/assets.py`) says what the write held back and feeds the data team's alert. Company-wide
stops (mass deactivation, an empty list, too many records held back at once) are the safeguard's.
"""

import dagster as dg
import pandas as pd

from personio_pipeline.defs.shared.keys import MISSING_EMAILS, ORG_EMPLOYEES, ORG_REPORTING_LINES, org
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.org import checks
from personio_pipeline.org.structure import nameless_structures

EMPLOYEE_CHECKS = [
    dg.AssetCheckSpec(MISSING_EMAILS, asset=ORG_EMPLOYEES, partitions_def=companies,
                      description="Active people without a usable email cannot log in or be invited "
                      "(WARN; alerts the data team)."),
    dg.AssetCheckSpec("duplicate_active_emails", asset=ORG_EMPLOYEES, partitions_def=companies,
                      description="Two active people cannot share a login (ERROR; both are held back, the rest "
                      "of the company is synced)."),
    dg.AssetCheckSpec("unique_employee_ids", asset=ORG_EMPLOYEES, partitions_def=companies,
                      description="Ids served more than once or not at all (resolved in the model; WARN)."),
]
REPORTING_LINE_CHECKS = [
    dg.AssetCheckSpec("unknown_or_inactive_managers", asset=ORG_REPORTING_LINES, partitions_def=companies,
                      description="Lines to managers Apideck did not return or who left are dropped (WARN)."),
    dg.AssetCheckSpec("management_cycles", asset=ORG_REPORTING_LINES, partitions_def=companies,
                      description="Self-management and cycles mean the HR data is broken (ERROR; the people on "
                      "them are held back, the rest of the company is synced)."),
]

NAMED_TABLES = {"teams": "team_key", "roles": "role_key", "units": "unit_key"}
NAME_CHECKS = [
    dg.AssetCheckSpec("names_present", asset=org(name), partitions_def=companies,
                      description=f"Every {name[:-1]} has a name in HR (WARN; a nameless one is called "
                      f"'{name[:-1].capitalize()} <id>' so its people keep it).")
    for name in NAMED_TABLES
]


def names_present_in(name: str, employees: pd.DataFrame) -> checks.CheckOutcome:
    """The names_present verdict for one of teams/roles/units."""
    nameless = nameless_structures(employees)
    return checks.names_present(nameless[nameless["kind"] == name[:-1]])
