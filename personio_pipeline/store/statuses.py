"""What a sync does with an unknown HR status, by the company's policy.

Apideck's `employment_status` is active | inactive | terminated | other, and it publishes no
mapping of Personio's statuses (active, onboarding, leave, inactive) onto it: a parental leave may
well arrive as `other`. The org model calls `other`, missing and unrecognised values `unknown`
(an end date in the past still ends the employment: terminated). The company decides
(`tenants set ID --unknown-status keep|deactivate`):

- `keep` (the default): the person stays in the organisation. An existing account keeps its
  access, teams, roles and reporting lines; a new person, or an account without access, gets an
  account (for the review) without access until HR says `active`.
- `deactivate`: the person counts as inactive: the account is deactivated (the safeguard counts
  it), their teams, roles and lines end.

Pure: the model and the accounts' current access in, the model the diff applies out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from personio_pipeline.store.diff import OrgModel

KEEP, DEACTIVATE = "keep", "deactivate"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class UnknownStatuses:
    """The model as the diff applies it, and who had an unknown status (employee ids, sorted)."""

    model: OrgModel
    people: tuple[str, ...]
    policy: str

    def without_access(self, with_access: set[str]) -> set[str]:
        """Under `keep`, the people who get no access: those whose account has none now (or who
        have no account yet)."""
        return set() if self.policy != KEEP else set(self.people) - with_access

    def counts(self, no_access: set[str] | None = None) -> dict[str, int]:
        """For the run's metadata: how many people had an unknown status, and what became of them."""
        if not self.people:
            return {}
        if self.policy != KEEP:
            return {"deactivated": len(self.people)}
        counts = {"kept": len(self.people)}
        if no_access is not None:
            counts["without_access"] = len(no_access & set(self.people))
        return counts


def apply_policy(model: OrgModel, policy: str) -> UnknownStatuses:
    """The model with every `unknown` status resolved by `policy`: `keep` -> active (their
    `hr_status` column says `unknown`), `deactivate` -> inactive, and the reporting lines that
    name them dropped (only active people have lines)."""
    employees = model.employees
    unknown = (employees["status"] == UNKNOWN).to_numpy()
    people = tuple(sorted(employees.loc[unknown, "employee_id"].astype(str)))
    hr_status = pd.Series("active", index=employees.index, dtype=object).where(~unknown, UNKNOWN)
    if policy == KEEP:
        employees = employees.assign(status=employees["status"].where(~unknown, "active"), hr_status=hr_status)
        return UnknownStatuses(replace(model, employees=employees), people, policy)
    employees = employees.assign(status=employees["status"].where(~unknown, "inactive"), hr_status=hr_status)
    if not people:
        return UnknownStatuses(replace(model, employees=employees), people, policy)
    lines = model.reporting_lines
    named = lines["employee_id"].astype(str).isin(people) | lines["manager_id"].astype(str).isin(people)
    return UnknownStatuses(replace(model, employees=employees, reporting_lines=lines[~named]), people, policy)
