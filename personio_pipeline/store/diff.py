"""The pure core of the sync: the company's current store rows + its org model -> a plan.

No database access here, so the rules can be tested in milliseconds: `sync.py` loads a
`Snapshot`, asks `plan_sync` for a `SyncPlan`, checks the safeguard and applies the plan.
Plans speak in HR keys (employee id, unit/team/role key); `sync.py` turns keys into row ids.
Only rows with source 'hr' are ever planned (see `ownership.py`).

People held back (`org/held_back.py`) are left out of the plan: an existing user keeps their
row and open links exactly as they are (and so do the teams, units and roles those point to),
a new person is created without email or access. Everyone else is planned as usual, leavers
included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

import numpy as np
import pandas as pd

from personio_pipeline.org.sanitise import fallback_name
from personio_pipeline.store.ownership import CONFLICT_KEPT_TEAMMETER, HR, resolve_email

ACTIVE_STATUS = "active"
STATUSES = ("active", "inactive", "terminated")
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "employees": (
        "employee_id",
        "display_name",
        "first_name",
        "last_name",
        "email",
        "status",
        "team_key",
        "unit_key",
        "role_key",
    ),
    "teams": ("team_key", "name", "unit_key"),
    "units": ("unit_key", "name"),
    "roles": ("role_key", "name"),
    "reporting_lines": ("employee_id", "manager_id"),
}
KEY_COLUMNS = ("employee_id", "team_key", "unit_key", "role_key", "manager_id")
USER_FIELDS = ("display_name", "first_name", "last_name", "unit_key", "email", "email_source", "hr_email", "has_access",
               "starts_on", "hr_status")
# Employee columns the diff uses when the model has them: the start date (users.starts_on) and the
# HR status as the company's policy read it (users.hr_status: 'active' | 'unknown', statuses.py).
OPTIONAL_EMPLOYEE_COLUMNS = ("start_date", "hr_status")

# Entities in the order they are applied (links need the ids of what they link).
ENTITIES = ("unit", "team", "role", "user", "team_membership", "user_role", "reporting_line")


class ModelError(ValueError):
    """The org model breaks its column contract; the sync refuses it before writing."""


@dataclass(frozen=True)
class OrgModel:
    """One company's org model, columns as in `personio_pipeline.org.columns`."""

    employees: pd.DataFrame
    teams: pd.DataFrame
    units: pd.DataFrame
    roles: pd.DataFrame
    reporting_lines: pd.DataFrame


@dataclass(frozen=True)
class Snapshot:
    """The company's rows in the store: all users/units/teams/roles, open links of any source."""

    users: pd.DataFrame
    units: pd.DataFrame
    teams: pd.DataFrame
    roles: pd.DataFrame
    team_memberships: pd.DataFrame
    user_roles: pd.DataFrame
    reporting_lines: pd.DataFrame

    @property
    def active_users(self) -> int:
        return int(self.users["active"].astype(bool).sum())


class Change(NamedTuple):
    """One change-log entry: what happened to which entity, with the fields that changed."""

    entity: str
    key: str
    action: str
    before: dict | None
    after: dict | None


@dataclass(frozen=True)
class EntityPlan:
    """`inserts`: new rows by key. `updates`: rows to rewrite (by id) with their new values, or
    for links the rows to end. `changes`: one change-log entry per inserted/updated row or
    decision."""

    entity: str
    inserts: pd.DataFrame
    updates: pd.DataFrame
    changes: list[Change]


@dataclass(frozen=True)
class SyncPlan:
    plans: dict[str, EntityPlan]

    def __getitem__(self, entity: str) -> EntityPlan:
        return self.plans[entity]

    def changes(self) -> list[Change]:
        return [change for entity in ENTITIES for change in self.plans[entity].changes]

    def counts(self) -> dict[str, dict[str, int]]:
        """entity -> action -> number of changes, for entities with any."""
        counts: dict[str, dict[str, int]] = {}
        for entity in ENTITIES:
            tally = Counter(change.action for change in self.plans[entity].changes)
            if tally:
                counts[entity] = dict(tally)
        return counts

    def deactivated_users(self) -> list[str]:
        return [c.key for c in self.plans["user"].changes if c.action == "deactivate"]


def validate_model(model: OrgModel) -> None:
    """Refuse a model that breaks its contract, naming what is wrong, before anything is written."""
    for name, columns in REQUIRED_COLUMNS.items():
        missing = [c for c in columns if c not in getattr(model, name).columns]
        if missing:
            raise ModelError(f"org/{name} lacks the columns {missing}; see personio_pipeline/org/schema.py.")
    employees = model.employees
    _require(not employees["employee_id"].isna().any(), "org/employees has rows without employee_id")
    _require_unique(employees, "employee_id", "org/employees")
    _require_unique(model.teams, "team_key", "org/teams")
    _require_unique(model.units, "unit_key", "org/units")
    _require_unique(model.roles, "role_key", "org/roles")
    _require_subset(employees["status"].fillna("None"), STATUSES, "org/employees.status has unknown values")
    active = employees[employees["status"] == ACTIVE_STATUS]
    _require_subset(active["team_key"], model.teams["team_key"], "active employees are in teams missing from org/teams")
    _require_subset(active["role_key"], model.roles["role_key"], "active employees hold roles missing from org/roles")
    units = pd.concat([active["unit_key"], model.teams["unit_key"]])
    _require_subset(units, model.units["unit_key"], "units are referenced but missing from org/units")
    lines = model.reporting_lines
    people = pd.concat([lines["employee_id"], lines["manager_id"]])
    _require_subset(people, active["employee_id"], "org/reporting_lines names people who are not active employees")
    _require(not (lines["employee_id"] == lines["manager_id"]).any(), "org/reporting_lines has self-managers")


def plan_sync(
    snapshot: Snapshot, model: OrgModel, held_back: Collection[str] = (), no_access_yet: Collection[str] = ()
) -> SyncPlan:
    """What the sync must do so that the store's HR rows match the model, leaving out the
    people in `held_back` (employee ids; see the module docstring). People in `no_access_yet`
    (pre-hires) get their account, teams, roles and lines, and their address, but no access."""
    validate_model(model)
    optional = tuple(c for c in OPTIONAL_EMPLOYEE_COLUMNS if c in model.employees)
    employees = _clean(model.employees, REQUIRED_COLUMNS["employees"] + optional)
    employees["display_name"] = employees["display_name"].where(
        employees["display_name"].notna(), employees["employee_id"]
    )
    active = employees[employees["status"] == ACTIVE_STATUS]
    held = set(held_back) & set(active["employee_id"])
    kept = snapshot.users[snapshot.users["employee_id"].isin(held)]  # existing users held back: untouched
    kept_ids = set(kept["employee_id"])
    active = active.assign(email=active["email"].where(~active["employee_id"].isin(held), None))  # new: no access
    applied = active[~active["employee_id"].isin(kept_ids)]

    unit_key_by_id = _by_id(snapshot.units, "unit_key")
    employee_by_id = _by_id(snapshot.users, "employee_id")
    team_key_by_id, role_key_by_id = _by_id(snapshot.teams, "team_key"), _by_id(snapshot.roles, "role_key")
    memberships = _open_hr_links(snapshot.team_memberships, employee_by_id, "team_id", team_key_by_id, "team_key")
    assignments = _open_hr_links(snapshot.user_roles, employee_by_id, "role_id", role_key_by_id, "role_key")
    lines = _open_hr_links(snapshot.reporting_lines, employee_by_id, "manager_user_id", employee_by_id, "manager_id")

    # What the people left untouched still point to must stay active.
    kept_teams = set(memberships.loc[memberships["employee_id"].isin(kept_ids), "team_key"].dropna())
    kept_roles = set(assignments.loc[assignments["employee_id"].isin(kept_ids), "role_key"].dropna())
    kept_unit_ids = pd.concat([kept["unit_id"], snapshot.teams.loc[snapshot.teams["team_key"].isin(kept_teams), "unit_id"]])
    kept_units = set(kept_unit_ids.dropna().map(unit_key_by_id).dropna())

    teams = _clean(model.teams, REQUIRED_COLUMNS["teams"])
    teams = teams[teams["team_key"].isin(applied["team_key"])]
    units = _clean(model.units, REQUIRED_COLUMNS["units"])
    units = units[units["unit_key"].isin(pd.concat([applied["unit_key"], teams["unit_key"]]))]
    roles = _clean(model.roles, REQUIRED_COLUMNS["roles"])
    roles = roles[roles["role_key"].isin(applied["role_key"])]

    current_teams = snapshot.teams.assign(unit_key=snapshot.teams["unit_id"].map(unit_key_by_id))
    current_users = snapshot.users.assign(unit_key=snapshot.users["unit_id"].map(unit_key_by_id))
    current_users = current_users[~current_users["employee_id"].isin(kept_ids)]
    current_units, current_teams, current_roles = _hr(snapshot.units), _hr(current_teams), _hr(snapshot.roles)
    wanted_lines = _clean(model.reporting_lines, REQUIRED_COLUMNS["reporting_lines"])
    inactive_kept = set(kept.loc[~kept["active"].astype(bool), "employee_id"])
    wanted_lines = wanted_lines[~wanted_lines["employee_id"].isin(kept_ids) & ~wanted_lines["manager_id"].isin(inactive_kept)]
    plans = [
        _diff_rows("unit", "unit_key", ("name",), current_units, _given_names(units, current_units, "unit_key", "Unit"),
                   keep=kept_units),
        _diff_rows("team", "team_key", ("name", "unit_key"), current_teams,
                   _given_names(teams, current_teams, "team_key", "Team"), keep=kept_teams),
        _diff_rows("role", "role_key", ("name",), current_roles, _given_names(roles, current_roles, "role_key", "Role"),
                   keep=kept_roles),
        _plan_users(current_users, applied, set(no_access_yet)),
        _diff_links(
            "team_membership",
            "team_key",
            memberships[~memberships["employee_id"].isin(kept_ids)],
            applied[["employee_id", "team_key"]].dropna(),
        ),
        _diff_links(
            "user_role",
            "role_key",
            assignments[~assignments["employee_id"].isin(kept_ids)],
            applied[["employee_id", "role_key"]].dropna(),
        ),
        _diff_links("reporting_line", "manager_id", lines[~lines["employee_id"].isin(kept_ids)], wanted_lines),
    ]
    return SyncPlan({plan.entity: plan for plan in plans})


def _given_names(wanted: pd.DataFrame, current: pd.DataFrame, key: str, kind: str) -> pd.DataFrame:
    """A structure HR serves without a name carries its fallback name ('Team 4711'): that names
    a new row, but never overwrites the name an existing row has (given in Teammeter, or by HR
    before its name went missing)."""
    fallback = wanted["name"] == wanted[key].map(lambda k: fallback_name(kind, k))
    if not fallback.any():
        return wanted
    existing = current.set_index(key)["name"]
    known = fallback & wanted[key].isin(existing.index)
    wanted = wanted.copy()
    wanted.loc[known, "name"] = wanted.loc[known, key].map(existing)
    return wanted


def _plan_users(current: pd.DataFrame, active: pd.DataFrame, no_access_yet: set[str] = frozenset()) -> EntityPlan:
    """Users for active employees; emails follow the ownership rule, conflicts become entries;
    access needs an address and a start date reached (`no_access_yet`: pre-hires)."""
    wanted = active[["employee_id", "display_name", "first_name", "last_name", "unit_key", "email"]].assign(
        starts_on=_dates(active["start_date"]) if "start_date" in active else None,
        hr_status=active["hr_status"] if "hr_status" in active else ACTIVE_STATUS,
    )
    wanted = wanted.rename(columns={"email": "new_hr_email"}).merge(
        current[["employee_id", "email", "email_source", "hr_email"]], on="employee_id", how="left"
    )
    wanted = _none(wanted)
    decisions = [
        resolve_email(*values)
        for values in zip(wanted["email"], wanted["email_source"], wanted["hr_email"], wanted["new_hr_email"])
    ]
    decided = pd.DataFrame(decisions, columns=["email", "email_source", "hr_email", "conflict"], index=wanted.index)
    conflicts = wanted.assign(kept=decided["email"], new_hr=decided["hr_email"])[decided["conflict"]]
    wanted[["email", "email_source", "hr_email"]] = decided[["email", "email_source", "hr_email"]]
    wanted["has_access"] = wanted["email"].notna() & ~wanted["employee_id"].isin(no_access_yet)
    plan = _diff_rows("user", "employee_id", USER_FIELDS, current, wanted, on_deactivate={"has_access": False})
    if conflicts.empty:
        return plan
    conflicted = set(conflicts["employee_id"])
    changes = [_without_hr_email(c) if c.key in conflicted else c for c in plan.changes]
    changes = [c for c in changes if c is not None]
    changes += [
        Change(
            "user",
            row.employee_id,
            CONFLICT_KEPT_TEAMMETER,
            {"email": row.kept, "email_source": "teammeter", "hr_email": row.hr_email},
            {"email": row.kept, "hr_email": row.new_hr},
        )
        for row in conflicts.itertuples(index=False)
    ]
    return EntityPlan(plan.entity, plan.inserts, plan.updates, changes)


def _without_hr_email(change: Change) -> Change | None:
    """The conflict entry reports the new HR address; drop it from the plain update entry."""
    if change.action != "update":
        return change
    before = {k: v for k, v in change.before.items() if k != "hr_email"}
    after = {k: v for k, v in change.after.items() if k != "hr_email"}
    return change._replace(before=before, after=after) if after else None


def _diff_rows(
    entity: str,
    key: str,
    fields: tuple[str, ...],
    current: pd.DataFrame,
    wanted: pd.DataFrame,
    on_deactivate: dict | None = None,
    keep: Collection[str] = (),
) -> EntityPlan:
    """Rows keyed by `key`: wanted rows are active with the wanted fields, others deactivated
    (except those in `keep`, left as they are)."""
    creates = wanted.loc[~wanted[key].isin(current[key]), [key, *fields]].reset_index(drop=True)
    old = current[["id", key, "active", *fields]].merge(
        wanted[[key, *fields]], on=key, how="left", suffixes=("_old", ""), indicator=True
    )
    old = _none(old)
    was_active = old["active"].astype(bool).to_numpy()
    found = (old["_merge"] == "both").to_numpy()
    changed = np.logical_or.reduce([_differs(old[f + "_old"], old[f]).to_numpy() for f in fields])

    reactivate = old[found & ~was_active]
    update = old[found & was_active & changed]
    deactivate = old[~found & was_active & ~old[key].isin(list(keep)).to_numpy()]

    stay = pd.concat([reactivate, update])[["id", key, *fields]].assign(active=True)
    gone = deactivate[["id", key, *(f + "_old" for f in fields)]]
    gone = gone.rename(columns={f + "_old": f for f in fields}).assign(active=False, **(on_deactivate or {}))
    updates = pd.concat([stay, gone], ignore_index=True) if len(gone) else stay.reset_index(drop=True)

    changes = _changes(entity, creates[key], "create", None, _records(creates[list(fields)]))
    changes += [_field_change(entity, key, "reactivate", rec, fields) for rec in _records(reactivate)]
    changes += [_field_change(entity, key, "update", rec, fields) for rec in _records(update)]
    changes += [_deactivation(entity, key, rec, on_deactivate or {}) for rec in _records(deactivate)]
    return EntityPlan(entity, creates, updates, changes)


def _field_change(entity: str, key: str, action: str, rec: dict, fields: tuple[str, ...]) -> Change:
    before = {f: rec[f + "_old"] for f in fields if _scalar_differs(rec[f + "_old"], rec[f])}
    after = {f: rec[f] for f in before}
    if action == "reactivate":
        before, after = {"active": False, **before}, {"active": True, **after}
    return Change(entity, rec[key], action, before, after)


def _deactivation(entity: str, key: str, rec: dict, also: dict) -> Change:
    before = {"active": True, **{f: rec[f + "_old"] for f, value in also.items() if rec[f + "_old"] != value}}
    after = {f: also.get(f, False) for f in before}
    return Change(entity, rec[key], "deactivate", before, after)


def _diff_links(entity: str, other: str, current: pd.DataFrame, wanted: pd.DataFrame) -> EntityPlan:
    """Open HR links follow the model: missing pairs start, pairs no longer wanted end."""
    pair = ["employee_id", other]
    wanted = wanted[pair].drop_duplicates()
    wanted_keys, current_keys = _link_keys(wanted, other), _link_keys(current, other)
    start = ~wanted_keys.isin(current_keys)
    end = ~current_keys.isin(wanted_keys)
    starts = wanted[start].reset_index(drop=True)
    ends = current.loc[end, ["id", *pair]].reset_index(drop=True)
    changes = _changes(entity, wanted_keys[start], "create", None, _records(starts))
    changes += _changes(entity, current_keys[end], "end", _records(ends[pair]), None)
    return EntityPlan(entity, starts, ends, changes)


def _link_keys(links: pd.DataFrame, other: str) -> pd.Series:
    """Change-log key of a link: '<employee id>|<team/role key or manager id>'."""
    return (links["employee_id"] + "|" + links[other]).astype(object)


def _changes(entity: str, keys: pd.Series, action: str, before: list | None, after: list | None) -> list[Change]:
    """Many changes of one kind at once (built with map: first syncs create 100,000s)."""
    count = len(keys)
    return list(
        map(
            Change,
            repeat(entity, count),
            keys.tolist(),
            repeat(action, count),
            before if before is not None else repeat(None, count),
            after if after is not None else repeat(None, count),
        )
    )


def _open_hr_links(
    links: pd.DataFrame, employee_by_id: pd.Series, other_id: str, other_key_by_id: pd.Series, other: str
) -> pd.DataFrame:
    """Open HR links as (id, employee_id, other key) so they compare with the model."""
    hr = _hr(links)
    return pd.DataFrame(
        {"id": hr["id"], "employee_id": hr["user_id"].map(employee_by_id), other: hr[other_id].map(other_key_by_id)},
        dtype=object,
    )


def _by_id(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows.set_index("id")[column]


def _hr(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["source"] == HR]


def _clean(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Only the contract columns, missing values as None, keys as strings."""
    frame = _none(frame[list(columns)].reset_index(drop=True))
    for column in KEY_COLUMNS:
        if column in frame:
            present = frame[column].notna()
            frame.loc[present, column] = frame.loc[present, column].astype(str)
    return frame


def _dates(values: pd.Series) -> pd.Series:
    """Start dates as `datetime.date` (what the store's Date column holds), None when unknown."""
    parsed = pd.to_datetime(values, errors="coerce")
    return pd.Series([None if pd.isna(v) else v.date() for v in parsed], index=values.index, dtype=object)


def _none(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts; column by column, as DataFrame.to_dict boxes every value on its own."""
    columns = list(frame.columns)
    return [dict(zip(columns, row)) for row in zip(*(frame[c].tolist() for c in columns))]


def _differs(old: pd.Series, new: pd.Series) -> pd.Series:
    return ~(old.isna() & new.isna()) & (old != new)


def _scalar_differs(old, new) -> bool:
    return not (old is None and new is None) and old != new


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ModelError(message + ".")


def _require_unique(frame: pd.DataFrame, column: str, name: str) -> None:
    duplicated = frame.loc[frame[column].duplicated() & frame[column].notna(), column]
    _require(duplicated.empty, f"{name} repeats {column} {_sample(duplicated)}")


def _require_subset(values: pd.Series, allowed, message: str) -> None:
    values = values.dropna()
    missing = values[~values.isin(pd.Series(list(allowed), dtype=object))]
    _require(missing.empty, f"{message}: {_sample(missing)}")


def _sample(values: pd.Series, limit: int = 5) -> str:
    unique = list(dict.fromkeys(values.astype(str)))
    more = f" and {len(unique) - limit} more" if len(unique) > limit else ""
    return ", ".join(unique[:limit]) + more
