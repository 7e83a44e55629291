"""Which employee records cannot be applied safely, so the sync holds them back.

A problem in one record must not stop the rest of the company: above all, a leaver must be
deactivated whatever someone else's record looks like. So a record that cannot be applied
safely is held back on its own: an existing Teammeter user keeps their previous state, a new
person is created without email and access, and the problem is reported by HR id. Only active
people can be held back, so a deactivation is never held back.

Held back today:
- `duplicate_email` (field `email`): active people sharing one address would share one login;
  every person of the group is held back until HR gives each their own address.
- `management_cycle` (field `manager`): a person managing themselves, directly or round a
  cycle; every person on the cycle is held back until HR fixes a manager.

A structure without a name is not held back: it gets a fallback name (see `structure.py`).
"""

from __future__ import annotations

import pandas as pd

from personio_pipeline.common.tables import listed, natural_order
from personio_pipeline.org.structure import cycles_of

DUPLICATE_EMAIL = "duplicate_email"
MANAGEMENT_CYCLE = "management_cycle"
PROBLEM_FIELDS = {DUPLICATE_EMAIL: "email", MANAGEMENT_CYCLE: "manager"}
NAMED_IN_DETAIL = 20  # other people a detail names before summarising the rest

HELD_BACK_COLUMNS: dict[str, str] = {
    "employee_id": "the person held back",
    "display_name": "their name, as in org/employees",
    "problem": "'duplicate_email' | 'management_cycle'",
    "field": "the HR field to fix: 'email' | 'manager'",
    "detail": "who else is involved, never an address: 'address shared with 12, 15' or the cycle '12 → 15 → 12'",
}


def held_back_records(employees: pd.DataFrame) -> pd.DataFrame:
    """One row per (person, problem), HELD_BACK_COLUMNS, sorted by employee id and problem."""
    names = pd.Series(employees["display_name"].to_numpy(), index=employees["employee_id"].to_numpy())
    frames = [_shared_addresses(employees), _cycles(employees)]
    held = pd.concat([frame for frame in frames if len(frame)], ignore_index=True) if any(map(len, frames)) else None
    if held is None:
        return pd.DataFrame({column: [] for column in HELD_BACK_COLUMNS}, dtype=object)
    held["display_name"] = held["employee_id"].map(names)
    held["field"] = held["problem"].map(PROBLEM_FIELDS)
    order = sorted(range(len(held)), key=lambda i: (natural_order(held["employee_id"].iat[i]), held["problem"].iat[i]))
    return held.iloc[order][list(HELD_BACK_COLUMNS)].reset_index(drop=True).astype(object)


def held_back_ids(held_back: pd.DataFrame) -> list[str]:
    """The distinct people held back, in natural id order."""
    return sorted(set(held_back["employee_id"]), key=natural_order)


def _shared_addresses(employees: pd.DataFrame) -> pd.DataFrame:
    active = employees.loc[(employees["status"] == "active") & employees["email"].notna(), ["employee_id", "email"]]
    shared = active[active["email"].duplicated(keep=False)]
    rows = []
    for _, group in shared.groupby("email", sort=False):
        ids = sorted(group["employee_id"], key=natural_order)
        for employee_id in ids:
            others = [other for other in ids if other != employee_id]
            rows.append({"employee_id": employee_id, "problem": DUPLICATE_EMAIL,
                         "detail": "address shared with " + listed(others, NAMED_IN_DETAIL)})
    return pd.DataFrame(rows, columns=["employee_id", "problem", "detail"], dtype=object)


def _cycles(employees: pd.DataFrame) -> pd.DataFrame:
    """Active people managing themselves or on a cycle of active managers: the same people
    `derive_reporting_lines` reports as 'self_managed' or 'cycle', without building the lines."""
    active = employees.loc[employees["status"] == "active", ["employee_id", "manager_id"]]
    managed = active[active["manager_id"].isin(active["employee_id"])]
    own = managed["employee_id"] == managed["manager_id"]
    cycles = {employee_id: f"{employee_id} → {employee_id}" for employee_id in managed.loc[own, "employee_id"]}
    cycles.update(cycles_of(dict(zip(managed.loc[~own, "employee_id"], managed.loc[~own, "manager_id"]))))
    return pd.DataFrame(
        {"employee_id": list(cycles), "problem": MANAGEMENT_CYCLE, "detail": list(cycles.values())}, dtype=object
    )
