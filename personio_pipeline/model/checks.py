"""Data-quality checks over the organisation model, as plain outcomes the Dagster asset checks
report. Descriptions may end up in logs and alerts, so they never contain an email address;
metadata names people by HR id and display name only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from personio_pipeline.model.employees import NormalisedEmployees
from personio_pipeline.model.organisation import ReportingLines

PREVIEW_ROWS = 50  # rows in a metadata markdown table
LISTED_ROWS = 500  # entries in a metadata list; counts always cover everything


@dataclass(frozen=True)
class CheckOutcome:
    """What an asset check reports; metadata values are JSON-able (`preview_md` is markdown)."""

    passed: bool
    severity: Literal["WARN", "ERROR"]
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def missing_emails(employees: pd.DataFrame) -> CheckOutcome:
    """Active people without a usable address cannot be invited to Teammeter."""
    active = employees[employees["status"] == "active"]
    without = active[active["email"].isna()]
    invalid = int(without["email_problem"].str.startswith("invalid", na=False).sum())
    share = len(without) / len(active) if len(active) else 0.0
    columns = ["employee_id", "display_name", "team_name", "problem"]
    people = _records(without.rename(columns={"email_problem": "problem"}), columns)
    return CheckOutcome(
        passed=without.empty,
        severity="WARN",
        description=(
            f"{len(without)} of {len(active)} active people ({share:.1%}) have no usable email "
            f"({len(without) - invalid} missing, {invalid} invalid) and cannot be invited."
            if len(without)
            else f"All {len(active)} active people have a usable email."
        ),
        metadata={
            "count": len(without),
            "share_of_active": round(share, 4),
            "missing": len(without) - invalid,
            "invalid": invalid,
            "people": people[:LISTED_ROWS],
            "preview_md": _markdown_table(people, columns),
        },
    )


def duplicate_active_emails(employees: pd.DataFrame) -> CheckOutcome:
    """Two active people with one address would share one Teammeter login."""
    active = employees.loc[(employees["status"] == "active") & employees["email"].notna()]
    shared = active[active["email"].duplicated(keep=False)].sort_values(["email", "employee_id"])
    groups = [
        {"employee_ids": ", ".join(group["employee_id"]), "display_names": ", ".join(group["display_name"])}
        for _, group in shared.groupby("email", sort=False)
    ]
    return CheckOutcome(
        passed=not groups,
        severity="ERROR",
        description=(
            f"Addresses shared by active people: {len(groups)} "
            f"(employee ids: {_listed(shared['employee_id'])})."
            if groups
            else "Every active person has an address of their own."
        ),
        metadata={
            "shared_addresses": len(groups),
            "people": len(shared),
            "groups": groups[:LISTED_ROWS],
            "preview_md": _markdown_table(groups, ["employee_ids", "display_names"]),
        },
    )


def unknown_or_inactive_managers(reporting_lines: ReportingLines) -> CheckOutcome:
    """Lines to a manager who is not in the HR data or no longer active are left out."""
    problems = reporting_lines.problems
    dropped = problems[problems["problem"].isin(["unknown_manager", "inactive_manager"])]
    unknown = int((dropped["problem"] == "unknown_manager").sum())
    lines = _records(dropped, ["employee_id", "manager_id", "problem"])
    return CheckOutcome(
        passed=dropped.empty,
        severity="WARN",
        description=(
            f"Reporting lines left out: {len(dropped)} "
            f"(manager unknown: {unknown}, manager not active: {len(dropped) - unknown})."
            if len(dropped)
            else "Every active person's manager is known and active."
        ),
        metadata={
            "count": len(dropped),
            "unknown_manager": unknown,
            "inactive_manager": len(dropped) - unknown,
            "lines": lines[:LISTED_ROWS],
            "preview_md": _markdown_table(lines, ["employee_id", "manager_id", "problem"]),
        },
    )


def management_cycles(reporting_lines: ReportingLines) -> CheckOutcome:
    """People managing themselves, directly or round a cycle, make the hierarchy meaningless."""
    problems = reporting_lines.problems
    self_managed = problems.loc[problems["problem"] == "self_managed", "employee_id"]
    cycles = sorted(problems.loc[problems["problem"] == "cycle", "cycle"].unique())
    named = [f"{employee_id} → {employee_id}" for employee_id in self_managed] + cycles
    return CheckOutcome(
        passed=not named,
        severity="ERROR",
        description=(
            f"Management cycles (self-managed: {len(self_managed)}, longer: {len(cycles)}): "
            f"{_listed(named, separator='; ')}."
            if named
            else "No one manages themselves, directly or through others."
        ),
        metadata={
            "self_managed": len(self_managed),
            "cycles": len(cycles),
            "named": named[:LISTED_ROWS],
            "preview_md": _markdown_table([{"cycle": text} for text in named], ["cycle"]),
        },
    )


def unique_employee_ids(normalised: NormalisedEmployees) -> CheckOutcome:
    """Ids served twice are resolved (latest update wins) and records without an id are left
    out; both are worth a look, neither blocks the sync."""
    duplicates = normalised.duplicates
    columns = ["employee_id", "copies", "kept_updated_at"]
    rows = _records(duplicates.assign(kept_updated_at=_iso(duplicates["kept_updated_at"])), columns)
    passed = duplicates.empty and normalised.without_id == 0
    return CheckOutcome(
        passed=passed,
        severity="WARN",
        description=(
            "Every record has an id of its own."
            if passed
            else f"Employee ids served more than once: {len(duplicates)} (latest update kept); "
            f"records without an id: {normalised.without_id} (left out)."
        ),
        metadata={
            "duplicate_ids": len(duplicates),
            "extra_copies": int(duplicates["copies"].sum() - len(duplicates)),
            "without_id": normalised.without_id,
            "duplicates": rows[:LISTED_ROWS],
            "preview_md": _markdown_table(rows, columns),
        },
    )


def names_present(teams: pd.DataFrame, roles: pd.DataFrame, units: pd.DataFrame) -> CheckOutcome:
    """Teammeter shows teams, roles and units by name; a nameless one must not reach it."""
    tables = {"team": (teams, "team_key"), "role": (roles, "role_key"), "unit": (units, "unit_key")}
    nameless = [
        {"kind": kind, "key": key}
        for kind, (table, key_column) in tables.items()
        for key in table.loc[_blank(table["name"]), key_column]
    ]
    counts = {kind: sum(row["kind"] == kind for row in nameless) for kind in tables}
    named = [f"{row['kind']} {row['key']}" for row in nameless]
    return CheckOutcome(
        passed=not nameless,
        severity="ERROR",
        description=(
            f"Without a name (teams: {counts['team']}, roles: {counts['role']}, units: {counts['unit']}): "
            f"{_listed(named, separator='; ')}."
            if nameless
            else "Every team, role and unit has a name."
        ),
        metadata={
            "nameless_teams": counts["team"],
            "nameless_roles": counts["role"],
            "nameless_units": counts["unit"],
            "nameless": nameless[:LISTED_ROWS],
            "preview_md": _markdown_table(nameless, ["kind", "key"]),
        },
    )


def _records(table: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as plain dicts (None for missing, Python ints, no numpy types)."""
    plain = table[columns].astype(object)
    return plain.where(plain.notna(), None).to_dict("records")


def _iso(timestamps: pd.Series) -> pd.Series:
    return timestamps.map(lambda timestamp: timestamp.isoformat(), na_action="ignore")


def _blank(names: pd.Series) -> pd.Series:
    return names.isna() | (names.astype(str).str.strip() == "")


def _listed(values: Any, separator: str = ", ", limit: int = 20) -> str:
    """The first `limit` values for a description, saying how many more there are."""
    values = [str(value) for value in values]
    more = f"{separator}… {len(values) - limit} more" if len(values) > limit else ""
    return separator.join(values[:limit]) + more


def _markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """At most PREVIEW_ROWS rows, saying how many were left out."""
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(_cell(row.get(column)) for column in columns) + " |" for row in rows[:PREVIEW_ROWS]),
    ]
    if len(rows) > PREVIEW_ROWS:
        lines.append(f"\n… and {len(rows) - PREVIEW_ROWS} more")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """Table-safe text: pipes escaped, line breaks flattened."""
    return "" if value is None else " ".join(str(value).split()).replace("|", "\\|")
