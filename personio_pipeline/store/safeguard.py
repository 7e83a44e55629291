"""Company-wide stops: what looks like a broken connection, not like a few bad records.

A broken Personio connection or a bad filter in Apideck looks exactly like mass leavers; once
users are deactivated their logins stop working. So a run that would deactivate more than a
share of the active users writes nothing and says how to approve it, and an empty employee
list is refused outright. Likewise a run that would newly hold back more than a share of the
active people (shared addresses, management cycles; see `org/held_back.py`) looks like a
connector bug rather than a few HR typos, and writes nothing. Anything below these limits is
not a stop: bad records are held back one by one and the rest of the company is synced.
"""

from __future__ import annotations

from personio_pipeline.companies.registry import Company

DEFAULT_MAX_DEACTIVATION_SHARE = 0.20
DEFAULT_MAX_HELD_BACK_SHARE = 0.05
# Below this many newly held-back people a run never stops: one copy-pasted address in a
# 12-person company is 17% of it, and holding those two back is exactly what holding back is for.
HELD_BACK_STOP_MINIMUM = 10
SHOWN_EMPLOYEES = 10


class SafeguardError(RuntimeError):
    """The run was stopped before writing anything; the message says why and how to go on.
    `employee_ids` and `fields` name the records concerned, for one-line reports."""

    def __init__(self, message: str, employee_ids: list[str] | None = None, fields: list[str] | None = None):
        super().__init__(message)
        self.employee_ids = employee_ids or []
        self.fields = fields or []


def refuse_empty_scope(company: Company, employee_count: int, scope_text: str) -> None:
    """A scope that leaves nobody in is a mistake in the setting, never a reason to deactivate."""
    if employee_count == 0:
        raise SafeguardError(
            f"Company '{company.consumer_id}' ({company.name}): its scope '{scope_text}' matches none of the "
            "people Apideck returned, so nothing was written and nobody was deactivated. Check the department "
            f"and team names, then `personio-pipeline tenants set {company.consumer_id} --scope …` "
            "('' for everyone)."
        )


def limit_for(company: Company, run_share: float | None) -> tuple[float, str]:
    """The share that applies, and where it comes from: the run, the company, or the default."""
    if run_share is not None:
        share, origin = run_share, "run config `max_deactivation_share`"
    elif company.max_deactivation_share is not None:
        share, origin = company.max_deactivation_share, "company setting `max_deactivation_share`"
    else:
        share, origin = DEFAULT_MAX_DEACTIVATION_SHARE, "default"
    if not 0 <= share <= 1:
        raise ValueError(f"max_deactivation_share must be between 0 and 1, got {share} ({origin}).")
    return share, origin


def refuse_empty(company: Company, employee_count: int) -> None:
    """An empty employee list is never applied, approved or not."""
    if employee_count == 0:
        raise SafeguardError(
            f"Company '{company.consumer_id}' ({company.name}): Apideck returned no employees at "
            "all. That looks like a broken or re-authorised Personio connection, not a company without "
            "people, so nothing was written and nobody was deactivated (approval does not override this). "
            "Check the connection in Apideck Vault and run the sync again."
        )


def check_deactivations(
    company: Company,
    *,
    active_users: int,
    deactivations: list[str],
    run_share: float | None = None,
    approved: bool = False,
) -> None:
    """Refuse when more than the allowed share of active users would be deactivated."""
    share_limit, origin = limit_for(company, run_share)
    if approved or not deactivations:
        return
    share = len(deactivations) / active_users
    if share <= share_limit:
        return
    shown = _shown(deactivations)
    raise SafeguardError(
        f"Company '{company.consumer_id}' ({company.name}): this run would deactivate "
        f"{len(deactivations)} of {active_users} active users ({share:.1%}), more than the allowed "
        f"{share_limit:.1%} ({origin}). Nothing was written. Employee ids: {shown}. "
        "If these people really left, approve by re-running with run config "
        f"`approve_deactivations: true`, or allow a higher share with run config "
        f"`max_deactivation_share: {_round_up(share)}` (or per company in organisations.max_deactivation_share).",
        employee_ids=deactivations,
        fields=["employment_status"],
    )


def held_back_limit(run_share: float | None) -> float:
    share = DEFAULT_MAX_HELD_BACK_SHARE if run_share is None else run_share
    if not 0 <= share <= 1:
        raise ValueError(f"max_held_back_share must be between 0 and 1, got {share} (run config `max_held_back_share`).")
    return share


def check_held_back(
    company: Company,
    *,
    active_people: int,
    newly_held: list[str],
    fields: list[str],
    run_share: float | None = None,
) -> None:
    """Refuse when more than the allowed share of active people (and more than
    HELD_BACK_STOP_MINIMUM) would be held back that were not held back before."""
    share_limit = held_back_limit(run_share)
    if len(newly_held) <= HELD_BACK_STOP_MINIMUM or not active_people:
        return
    share = len(newly_held) / active_people
    if share <= share_limit:
        return
    raise SafeguardError(
        f"Company '{company.consumer_id}' ({company.name}): {len(newly_held)} of {active_people} active "
        f"people ({share:.1%}) would newly be held back (HR fields: {', '.join(fields)}), more than the allowed "
        f"{share_limit:.1%}. So many bad records at once look like a connector problem, not typos in HR, so "
        f"nothing was written. Employee ids: {_shown(newly_held)}. Check the records in Personio and the "
        "connection in Apideck Vault; if the data is really so, re-run with run config "
        f"`max_held_back_share: {_round_up(share)}` (CLI `--max-held-back-share`): those people are then held "
        "back and the rest of the company is synced.",
        employee_ids=newly_held,
        fields=fields,
    )


def _shown(employee_ids: list[str]) -> str:
    shown = ", ".join(employee_ids[:SHOWN_EMPLOYEES])
    if len(employee_ids) > SHOWN_EMPLOYEES:
        shown += f" and {len(employee_ids) - SHOWN_EMPLOYEES} more"
    return shown


def _round_up(share: float) -> float:
    """The smallest two-decimal share that lets this run pass."""
    hundredths = int(share * 100)
    return hundredths / 100 if hundredths / 100 >= share else (hundredths + 1) / 100
