"""Stops a sync that would deactivate an implausible share of a company's people.

A broken Personio connection or a bad filter in Apideck looks exactly like mass leavers; once
users are deactivated their logins stop working. So a run that would deactivate more than a
share of the active users writes nothing and says how to approve it, and an empty employee
list is refused outright.
"""

from __future__ import annotations

from personio_pipeline.teammeter.organisations import Organisation

DEFAULT_MAX_DEACTIVATION_SHARE = 0.20
SHOWN_EMPLOYEES = 10


class SafeguardError(RuntimeError):
    """The run was stopped before writing anything; the message says why and how to go on."""


def limit_for(organisation: Organisation, run_share: float | None) -> tuple[float, str]:
    """The share that applies, and where it comes from: the run, the company, or the default."""
    if run_share is not None:
        share, origin = run_share, "run config `max_deactivation_share`"
    elif organisation.max_deactivation_share is not None:
        share, origin = organisation.max_deactivation_share, "company setting `max_deactivation_share`"
    else:
        share, origin = DEFAULT_MAX_DEACTIVATION_SHARE, "default"
    if not 0 <= share <= 1:
        raise ValueError(f"max_deactivation_share must be between 0 and 1, got {share} ({origin}).")
    return share, origin


def refuse_empty(organisation: Organisation, employee_count: int) -> None:
    """An empty employee list is never applied, approved or not."""
    if employee_count == 0:
        raise SafeguardError(
            f"Company '{organisation.consumer_id}' ({organisation.name}): Apideck returned no employees at "
            "all. That looks like a broken or re-authorised Personio connection, not a company without "
            "people, so nothing was written and nobody was deactivated (approval does not override this). "
            "Check the connection in Apideck Vault and run the sync again."
        )


def check_deactivations(
    organisation: Organisation,
    *,
    active_users: int,
    deactivations: list[str],
    run_share: float | None = None,
    approved: bool = False,
) -> None:
    """Refuse when more than the allowed share of active users would be deactivated."""
    share_limit, origin = limit_for(organisation, run_share)
    if approved or not deactivations:
        return
    share = len(deactivations) / active_users
    if share <= share_limit:
        return
    shown = ", ".join(deactivations[:SHOWN_EMPLOYEES])
    if len(deactivations) > SHOWN_EMPLOYEES:
        shown += f" and {len(deactivations) - SHOWN_EMPLOYEES} more"
    raise SafeguardError(
        f"Company '{organisation.consumer_id}' ({organisation.name}): this run would deactivate "
        f"{len(deactivations)} of {active_users} active users ({share:.1%}), more than the allowed "
        f"{share_limit:.1%} ({origin}). Nothing was written. Employee ids: {shown}. "
        "If these people really left, approve by re-running with run config "
        f"`approve_deactivations: true`, or allow a higher share with run config "
        f"`max_deactivation_share: {_round_up(share)}` (or per company in organisations.max_deactivation_share)."
    )


def _round_up(share: float) -> float:
    """The smallest two-decimal share that lets this run pass."""
    hundredths = int(share * 100)
    return hundredths / 100 if hundredths / 100 >= share else (hundredths + 1) / 100
