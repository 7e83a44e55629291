"""Column contracts of the org model tables (pandas DataFrames, one set per company).

The model layer produces them from raw Apideck records; the Teammeter store consumes them.
Keys identify things within one company: employees by the HR employee id, teams/units/roles by
the keys below. Never by email or name.

Every text column holds cleaned text (no control characters, NFC, trimmed; see `sanitise.py`):
names are at most 255 characters (longer ones end in "…"), ids and keys at most 255 (longer
ones end in "~" and a hash of the whole), so whatever HR serves fits the Teammeter store.
"""

from __future__ import annotations

# org/employees — one row per Apideck employee id (deduplicated; latest updated_at wins).
EMPLOYEE_COLUMNS: dict[str, str] = {
    "employee_id": "HR employee id (Apideck `id`), string, unique",
    "employee_number": "Personio employee number, or None",
    "first_name": "first name, or None",
    "last_name": "last name, or None",
    "display_name": "name to show: display_name, else 'first last', else preferred name, else employee number/id",
    "email": "normalised (trimmed, lowercased, syntax-checked) address to use, or None",
    "email_type": "Apideck type of the chosen address (work/primary/...), or None",
    "email_problem": "None, 'missing' (no address at all) or 'invalid: <reason>'",
    "status": "'active' | 'inactive' | 'terminated' | 'unknown' (other, missing or a new value; see PRESENT_STATUSES)",
    "raw_status": "Apideck employment_status as served (may be None/other/unknown)",
    "team_key": "stable key of the team (Personio team id, else 'name:<normalised name>'), or None",
    "team_name": "team name as served (cleaned), or None",
    "unit_key": "stable key of the department (department id, else 'name:<normalised name>'), or None",
    "unit_name": "department name, or None",
    "role_key": "normalised position title (casefolded, whitespace collapsed), or None",
    "role_name": "position title as served, or None",
    "manager_id": "HR employee id of the manager as served, or None",
    "start_date": "employment start (datetime64, NaT if unknown)",
    "end_date": "employment end (datetime64, NaT if none)",
    "updated_at": "Apideck updated_at (datetime64 UTC, NaT if unknown)",
}

# employees.attrs[MODEL_KEY_ATTR]: the key the org model step built the table for (its listing,
# the company's date, the code; defs/org/unchanged.py), stored with it. Absent on a table made
# otherwise (tests); then the Teammeter write and the report hash the rows instead.
MODEL_KEY_ATTR = "model_key"

# People who are part of the organisation as HR lists it: their teams, roles and reporting lines
# are derived. An 'unknown' status (Apideck's `other`, e.g. Personio's leave) stays in the
# organisation; whether the account keeps access is the company's policy, applied by the store
# (store/statuses.py).
PRESENT_STATUSES = ("active", "unknown")

# org/teams — one row per team_key that has at least one employee.
TEAM_COLUMNS: dict[str, str] = {
    "team_key": "as in employees",
    "name": "nicest spelling of the team name; 'Team <key>' when no record names it (names_present warns)",
    "unit_key": "unit of the team when all its active members share one department, else None",
    "member_count": "active members",
}

# org/units — one row per department.
UNIT_COLUMNS: dict[str, str] = {
    "unit_key": "as in employees",
    "name": "nicest spelling of the department name; 'Unit <key>' when no record names it (names_present warns)",
    "member_count": "active members",
}

# org/roles — one row per distinct position, matched case- and whitespace-insensitively.
ROLE_COLUMNS: dict[str, str] = {
    "role_key": "as in employees",
    "name": "the nicest spelling among the variants",
    "holder_count": "active holders",
}

# org/reporting_lines — valid manager lines between active people.
REPORTING_LINE_COLUMNS: dict[str, str] = {
    "employee_id": "the report",
    "manager_id": "the manager (active, known, not the report, no cycle)",
}

# Problems found while deriving reporting lines (active people only); their lines are dropped.
REPORTING_PROBLEM_COLUMNS: dict[str, str] = {
    "employee_id": "the report",
    "manager_id": "the manager as served",
    "problem": "'unknown_manager' | 'inactive_manager' | 'self_managed' | 'cycle'",
    "cycle": "for 'cycle': the people in reporting order from the lowest id, e.g. '12 → 15 → 12' (12 reports "
    "to 15; past 20 people the rest is summarised as '… N more'); else None",
}

# Employee ids served more than once across pages (normalisation keeps one copy each).
DUPLICATE_ID_COLUMNS: dict[str, str] = {
    "employee_id": "the id served more than once",
    "copies": "how many records carried it",
    "kept_updated_at": "updated_at of the kept copy (datetime64 UTC, NaT if unknown)",
}
