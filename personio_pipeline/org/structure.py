"""Normalised employees -> teams, units, roles and reporting lines.

Only people present in the organisation (PRESENT_STATUSES: active, or an unknown status such as
a leave) count as members or holders and only they get reporting lines: the organisation in
Teammeter shows who works here now. A team, unit or role no record names gets
a fallback name from its key ("Team 4711", see `sanitise.fallback_name`) instead of stopping
the company; `nameless_structures` says which, for the check that reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from personio_pipeline.common.tables import natural_order
from personio_pipeline.org.columns import (
    PRESENT_STATUSES,
    REPORTING_LINE_COLUMNS,
    REPORTING_PROBLEM_COLUMNS,
    ROLE_COLUMNS,
    TEAM_COLUMNS,
    UNIT_COLUMNS,
)
from personio_pipeline.org.sanitise import fallback_name

_NAMED_IN_CYCLE = 20  # people a cycle description names before summarising the rest


@dataclass(frozen=True)
class ReportingLines:
    """Valid lines (REPORTING_LINE_COLUMNS) and the dropped ones (REPORTING_PROBLEM_COLUMNS)."""

    lines: pd.DataFrame
    problems: pd.DataFrame


def derive_teams(employees: pd.DataFrame) -> pd.DataFrame:
    """One row per team anyone belongs to; a team sits in a unit when all its active members
    share that one department."""
    members = _rows_with(employees, "team_key", ["team_name", "unit_key", "status"])
    teams = _named_groups(members, "team_key", "team_name", "member_count", "Team")
    teams["unit_key"] = _shared_unit(members)
    return _finish(teams, TEAM_COLUMNS)


def derive_units(employees: pd.DataFrame) -> pd.DataFrame:
    """One row per department anyone belongs to."""
    members = _rows_with(employees, "unit_key", ["unit_name", "status"])
    return _finish(_named_groups(members, "unit_key", "unit_name", "member_count", "Unit"), UNIT_COLUMNS)


def derive_roles(employees: pd.DataFrame) -> pd.DataFrame:
    """One row per position title, matched case- and whitespace-insensitively."""
    holders = _rows_with(employees, "role_key", ["role_name", "status"])
    return _finish(_named_groups(holders, "role_key", "role_name", "holder_count", "Role"), ROLE_COLUMNS)


def derive_reporting_lines(employees: pd.DataFrame) -> ReportingLines:
    """Lines from active people to their manager, kept only when the manager is a known,
    active other person and the line is not part of a management cycle."""
    has_manager = employees["status"].isin(PRESENT_STATUSES) & employees["manager_id"].notna()
    reports = employees.loc[has_manager, ["employee_id", "manager_id"]]
    status_by_id = pd.Series(employees["status"].to_numpy(), index=employees["employee_id"])
    problem = line_problem(reports, status_by_id)
    candidates = reports[problem.isna()]
    cycles = cycles_of(dict(zip(candidates["employee_id"], candidates["manager_id"])))
    in_cycle = candidates["employee_id"].isin(cycles.keys())
    problems = pd.concat(
        [
            reports[problem.notna()].assign(problem=problem.dropna(), cycle=None),
            candidates[in_cycle].assign(problem="cycle", cycle=candidates.loc[in_cycle, "employee_id"].map(cycles)),
        ]
    )
    return ReportingLines(
        lines=_sorted(candidates[~in_cycle], REPORTING_LINE_COLUMNS),
        problems=_sorted(problems, REPORTING_PROBLEM_COLUMNS),
    )


def nicest_spelling_rank(spelling: str) -> tuple[int, str]:
    """Tie-break between spellings carried by as many people (smaller is nicer): mixed case
    ('Software Engineer', 'iOS Developer') over all capitals over no capitals, then
    alphabetical so the choice is stable."""
    has_upper = spelling != spelling.lower()
    has_lower = spelling != spelling.upper()
    casing = 0 if has_upper and has_lower else 1 if has_upper else 2
    return casing, spelling


def _named_groups(members: pd.DataFrame, key: str, name_column: str, count_column: str, kind: str) -> pd.DataFrame:
    """One row per key with its nicest name (the fallback name when no record names it) and
    its count of active people."""
    groups = pd.DataFrame(index=pd.Index(sorted(members[key].unique()), name=key))
    groups["name"] = _nicest_spellings(members[key], members[name_column])
    nameless = groups["name"].isna()
    if nameless.any():
        groups.loc[nameless, "name"] = [fallback_name(kind, k) for k in groups.index[nameless]]
    groups[count_column] = _active_counts(members, key)
    return groups


STRUCTURE_KINDS = {"team": ("team_key", "team_name", "Team"), "unit": ("unit_key", "unit_name", "Unit"),
                   "role": ("role_key", "role_name", "Role")}


def nameless_structures(employees: pd.DataFrame) -> pd.DataFrame:
    """Teams, units and roles that no record names, so they carry a fallback name: one row per
    structure with `kind`, `key`, `fallback_name` and the ids of its active people
    (`employee_ids`, comma-separated, sorted)."""
    rows = []
    for kind, (key, name_column, label) in STRUCTURE_KINDS.items():
        members = _rows_with(employees, key, [name_column, "employee_id", "status"])
        named = members.loc[members[name_column].notna(), key].unique()
        for structure_key, group in members[~members[key].isin(named)].groupby(key, sort=True):
            active = group.loc[group["status"].isin(PRESENT_STATUSES), "employee_id"]
            rows.append({"kind": kind, "key": structure_key, "fallback_name": fallback_name(label, structure_key),
                         "employee_ids": ", ".join(sorted(active, key=natural_order))})
    return pd.DataFrame(rows, columns=["kind", "key", "fallback_name", "employee_ids"], dtype=object)


def _rows_with(employees: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """Rows that have `key`, with only the columns needed (copying all of them is what costs)."""
    return employees.loc[employees[key].notna(), [key, *columns]]


def _nicest_spellings(keys: pd.Series, names: pd.Series) -> pd.Series:
    """Per key, the spelling most people carry (active or not: a role nobody active holds still
    needs a name). Whitespace is collapsed first, so variants that differ only in spacing count
    together and the chosen name is single-spaced; ties go by `nicest_spelling_rank`."""
    counts = pd.DataFrame({"key": keys, "name": names}).dropna().value_counts().rename("records").reset_index()
    counts["name"] = counts["name"].map(_collapse_whitespace)
    counts = counts.groupby(["key", "name"], as_index=False)["records"].sum()
    counts["rank"] = counts["name"].map(nicest_spelling_rank)
    best = counts.sort_values(["key", "records", "rank"], ascending=[True, False, True]).drop_duplicates("key")
    return best.set_index("key")["name"]


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def _shared_unit(members: pd.DataFrame) -> pd.Series:
    """Per team, the unit all its active members are in; None if they differ or have none."""
    units = members.loc[members["status"].isin(PRESENT_STATUSES)].groupby("team_key")["unit_key"]
    return units.first().where(units.nunique(dropna=False) == 1)


def _active_counts(members: pd.DataFrame, key: str) -> pd.Series:
    return members.loc[members["status"].isin(PRESENT_STATUSES), key].value_counts()


def _finish(table: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Counts default to 0, missing names and units to None, columns in contract order."""
    count_column = next(column for column in columns if column.endswith("_count"))
    table[count_column] = table[count_column].fillna(0).astype("int64")
    table = table.reset_index().astype({column: object for column in columns if column != count_column})
    return table.where(table.notna(), None)[list(columns)]


def line_problem(reports: pd.DataFrame, status_by_id: pd.Series) -> pd.Series:
    """Why a line cannot be kept (None if it can), before looking for cycles."""
    manager_status = reports["manager_id"].map(status_by_id)
    problem = np.select(
        [
            (reports["manager_id"] == reports["employee_id"]).to_numpy(),
            manager_status.isna().to_numpy(),
            ~manager_status.isin(PRESENT_STATUSES).to_numpy(),
        ],
        ["self_managed", "unknown_manager", "inactive_manager"],
        default=None,
    )
    return pd.Series(problem, index=reports.index, dtype=object)


def cycles_of(manager_of: dict[str, str]) -> dict[str, str]:
    """Everyone on a management cycle -> the cycle, e.g. '12 → 15 → 12'. Each person has at
    most one manager, so walking up from every unvisited person finds every cycle, and each
    person is walked over once (linear time)."""
    visited: set[str] = set()
    cycles: dict[str, str] = {}
    for start in manager_of:
        path: dict[str, int] = {}  # person -> position on the current walk
        person = start
        while person in manager_of and person not in visited:
            visited.add(person)
            path[person] = len(path)
            person = manager_of[person]
        if person in path:  # the walk came back to itself
            cycle = list(path)[path[person] :]
            cycles.update(dict.fromkeys(cycle, _describe_cycle(cycle)))
    return cycles


def _describe_cycle(cycle: list[str]) -> str:
    """Start with the lowest id (numerically when ids are numbers) so the text is stable; a very
    long cycle names its first people and how many more there are."""
    first = cycle.index(min(cycle, key=lambda employee_id: (len(employee_id), employee_id)))
    ordered = cycle[first:] + cycle[:first]
    if len(ordered) > _NAMED_IN_CYCLE:
        ordered = [*ordered[:_NAMED_IN_CYCLE], f"… {len(ordered) - _NAMED_IN_CYCLE} more"]
    return " → ".join([*ordered, ordered[0]])


def _sorted(table: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    return table.sort_values("employee_id")[list(columns)].reset_index(drop=True).astype(object)
