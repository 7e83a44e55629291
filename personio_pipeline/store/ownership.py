"""Who owns which data in Teammeter: the rules the sync follows when HR and Teammeter disagree.

Every unit, team, role, team membership, role assignment and reporting line has `source`
'hr' (made by the sync from Personio) or 'teammeter' (made by hand in Teammeter, see
`hand_edits.py`). Accounts are made by the sync (origin 'hr') or by Teammeter (origin
'teammeter': coaches, people added by hand, accounts from before the connection, with no employee
id until the sync links one, see `linking.py`); their email records its own source.

| data                                  | owner     | what the sync does                                          |
| ------------------------------------- | --------- | ----------------------------------------------------------- |
| user: employee id                     | HR        | the key; never changes                                      |
| user: display/first/last name, unit   | HR        | overwrites on every change (left as they were while the     |
|                                       |           | person is deactivated)                                      |
| user: active                          | HR        | deactivates leavers (inactive, terminated or no longer      |
|                                       |           | returned), reactivates returners; never deletes             |
| user: email set by HR (or none yet)   | HR        | follows HR, including HR removing it                        |
| user: email set in Teammeter          | Teammeter | kept: it is the login and may have been invited. An empty   |
|                                       |           | HR value changes nothing; a different HR address is         |
|                                       |           | recorded in `hr_email` and logged once as                   |
|                                       |           | 'conflict_kept_teammeter'                                   |
| user: has_access                      | derived   | active and has an email                                     |
| unit/team/role with source 'hr'       | HR        | creates, renames, moves a team to its unit; deactivates it  |
|                                       |           | while no active person is in it, reactivates it when one is |
|                                       |           | A fallback name ('Team 4711': HR has none) names a new row  |
|                                       |           | but never overwrites a name the row has                     |
| a person held back                    | -         | nothing of theirs changes; a new one is created without     |
|                                       |           | address or access (see `org/held_back.py`)                  |
| membership/role/line with source 'hr' | HR        | starts new links and ends old ones (`ended_at`); an ended   |
|                                       |           | link is never reopened, so history stays                    |
| anything with source 'teammeter'      | Teammeter | never touched: not renamed, deactivated, ended or deleted,  |
|                                       |           | not even when the person leaves                             |
| an account outside HR (no employee id) | Teammeter | never changed, deactivated or invited; not in the           |
|                                       |           | safeguard's counts; linked to the one HR person with its    |
|                                       |           | address (normal form), who then owns it as above; several   |
|                                       |           | candidates or the address of another HR person's account:  |
|                                       |           | no link, no account, held back with what to fix             |
| deactivated account of a former HR id | HR        | a new HR id with the same address and name gets it back     |
|                                       |           | (rehire); another name: a new account (recycled address)    |
| user: registered                      | Teammeter | kept; a registered account is never invited                 |
| invitations                           | outbox    | never touched                                               |

Every decision the sync takes is written to `change_log`, conflicts included.
"""

from __future__ import annotations

from typing import NamedTuple

HR = "hr"
TEAMMETER = "teammeter"
CONFLICT_KEPT_TEAMMETER = "conflict_kept_teammeter"


class EmailDecision(NamedTuple):
    email: str | None
    email_source: str | None
    hr_email: str | None
    conflict: bool


def resolve_email(
    email: str | None, email_source: str | None, hr_email: str | None, new_hr_email: str | None
) -> EmailDecision:
    """Apply the email rule to one user: current login, its source, last HR value, new HR value.

    A conflict is reported only when HR sends a new, different address, so re-running with the
    same data logs nothing again.
    """
    if email_source != TEAMMETER:
        return EmailDecision(new_hr_email, HR if new_hr_email else None, new_hr_email, False)
    conflict = new_hr_email is not None and new_hr_email != email and new_hr_email != hr_email
    return EmailDecision(email, TEAMMETER, new_hr_email, conflict)
