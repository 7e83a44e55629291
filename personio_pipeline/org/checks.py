"""Data-quality checks over the org model, as plain outcomes the Dagster asset checks
report. Descriptions may end up in logs and alerts, so they never contain an email address;
metadata names people by HR id and display name only.

None of them stops a company: a shared address or a management cycle holds back the people
concerned (ERROR: HR must fix them; see `held_back.py`), a nameless structure gets a fallback
name (WARN). Company-wide stops are the safeguard's (`store/safeguard.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from personio_pipeline.common.tables import listed, markdown_cell
from personio_pipeline.org.employees import NormalisedEmployees
from personio_pipeline.org.held_back import held_back_ids
from personio_pipeline.org.structure import ReportingLines

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
    """Two active people with one address would share one Teammeter login: each is held back."""
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
            f"(employee ids: {listed(shared['employee_id'])}; field: email). They are held back: existing "
            "users keep their previous state, new ones are created without access, until HR gives each "
            "their own address. The rest of the company is synced."
            if groups
            else "Every active person has an address of their own."
        ),
        metadata={
            "shared_addresses": len(groups),
            "people": len(shared),
            "field": "email",
            "employee_ids": held_back_ids(shared)[:LISTED_ROWS],
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
    """People managing themselves, directly or round a cycle, make the hierarchy meaningless:
    everyone on a cycle is held back."""
    problems = reporting_lines.problems
    self_managed = problems.loc[problems["problem"] == "self_managed", "employee_id"]
    cycles = sorted(problems.loc[problems["problem"] == "cycle", "cycle"].unique())
    named = [f"{employee_id} → {employee_id}" for employee_id in self_managed] + cycles
    on_cycle = problems[problems["problem"].isin(["self_managed", "cycle"])]
    return CheckOutcome(
        passed=not named,
        severity="ERROR",
        description=(
            f"Management cycles (self-managed: {len(self_managed)}, longer: {len(cycles)}; field: manager): "
            f"{listed(named, separator='; ')}. The people on them are held back (existing users keep their "
            "previous state, new ones are created without access) until HR fixes a manager; the rest of the "
            "company is synced."
            if named
            else "No one manages themselves, directly or through others."
        ),
        metadata={
            "self_managed": len(self_managed),
            "cycles": len(cycles),
            "field": "manager",
            "employee_ids": held_back_ids(on_cycle)[:LISTED_ROWS],
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


def names_present(nameless: pd.DataFrame) -> CheckOutcome:
    """Teams, units and roles HR serves without a name (`organisation.nameless_structures`): they
    carry a fallback name ('Team 4711') so their people still have a team; worth a fix in HR."""
    kinds = ("team", "role", "unit")
    rows = _records(nameless, ["kind", "key", "fallback_name", "employee_ids"])
    counts = {kind: sum(row["kind"] == kind for row in rows) for kind in kinds}
    named = [f"{row['kind']} {row['key']} → '{row['fallback_name']}'" for row in rows]
    return CheckOutcome(
        passed=not rows,
        severity="WARN",
        description=(
            f"Without a name in HR (teams: {counts['team']}, roles: {counts['role']}, units: {counts['unit']}), "
            f"given a fallback name: {listed(named, separator='; ')}. Name them in Personio (or rename them "
            "in Teammeter: a fallback name never overwrites a name)."
            if rows
            else "Every team, role and unit has a name."
        ),
        metadata={
            "nameless_teams": counts["team"],
            "nameless_roles": counts["role"],
            "nameless_units": counts["unit"],
            "nameless": rows[:LISTED_ROWS],
            "preview_md": _markdown_table(rows, ["kind", "key", "fallback_name", "employee_ids"]),
        },
    )


def records_held_back(held_back: pd.DataFrame) -> CheckOutcome:
    """What the Teammeter write held back (`held_back.held_back_records`): one entry per
    person and problem, with the HR field to fix. Feeds the data team's alert."""
    columns = ["employee_id", "display_name", "problem", "field", "detail"]
    people = _records(held_back, columns)
    ids = held_back_ids(held_back)
    fields = sorted(set(held_back["field"]))
    return CheckOutcome(
        passed=not people,
        severity="ERROR",
        description=(
            f"{len(ids)} people held back (HR fields: {', '.join(fields)}; employee ids: {listed(ids)}): "
            "existing users keep their previous state, new ones were created without access. Everyone "
            "else was synced. Fix the records in Personio; the next sync releases them."
            if people
            else "No record was held back."
        ),
        metadata={
            "count": len(ids),
            "employee_ids": ids[:LISTED_ROWS],
            "fields": fields,
            "people": people[:LISTED_ROWS],
            "preview_md": _markdown_table(people, columns),
        },
    )


def _records(table: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as plain dicts (None for missing, Python ints, no numpy types)."""
    plain = table[columns].astype(object)
    return plain.where(plain.notna(), None).to_dict("records")


def _iso(timestamps: pd.Series) -> pd.Series:
    return timestamps.map(lambda timestamp: timestamp.isoformat(), na_action="ignore")


def _markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """At most PREVIEW_ROWS rows, saying how many were left out."""
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(markdown_cell(row.get(column)) for column in columns) + " |" for row in rows[:PREVIEW_ROWS]),
    ]
    if len(rows) > PREVIEW_ROWS:
        lines.append(f"\n… and {len(rows) - PREVIEW_ROWS} more")
    return "\n".join(lines)

