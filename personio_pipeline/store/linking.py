"""Linking HR people to the accounts Teammeter already has (pure: frames in, decisions out).

Most companies used Teammeter before they connected Personio: their people have accounts, made in
Teammeter, without an HR id (`users.employee_id` NULL, migration 0012). On every sync, an HR person
the store does not know yet is linked to the one account outside HR whose address equals theirs in
the address policy's normal form (case, surrounding whitespace, the domain's IDNA form): the account
keeps its id, its Teammeter-side edits and its registered state, and from then on follows HR.

A rehire under a new HR id (HR made a new profile) gets their old account back: a new HR person
whose address *and* name equal those of a deactivated account linked to a former HR id is linked
to it (`rehire`), so their history stays one account. The same address with another name is a
recycled address: a new account, the old one stays as it was (`Recycled`, reported).

No guess is ever made: when several accounts outside HR have the person's address, or the address
already belongs to an active account linked to another HR id, the person is not linked and gets no
access (`Refusal`, reported with what to fix) — linking on a doubtful match would hand one person's
history and login to another.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from personio_pipeline.org import addresses
from personio_pipeline.org.employees import name_key

LINKED_BY_ADDRESS = "address"
LINKED_BY_REHIRE = "rehire"
SEVERAL_ACCOUNTS = "several_accounts_with_address"
ADDRESS_OF_LINKED_ACCOUNT = "address_of_another_hr_account"
REMEDIES = {
    SEVERAL_ACCOUNTS: "Several Teammeter accounts outside Personio have this person's address: keep one "
                      "(remove or re-address the others in Teammeter); the next sync links it.",
    ADDRESS_OF_LINKED_ACCOUNT: "The address is already the login of another Personio person's account: "
                               "correct the address in Personio (or in Teammeter for the other person).",
}


class Link(NamedTuple):
    """Account `account_id` becomes HR person `employee_id`'s account (`linked_by`: address | rehire)."""

    account_id: int
    employee_id: str
    linked_by: str = LINKED_BY_ADDRESS


class Recycled(NamedTuple):
    """New HR person `employee_id` has the address of deactivated account `account_id` (a former
    HR id) under another name: a new account is made; the old one stays as it was."""

    employee_id: str
    account_id: int


class Refusal(NamedTuple):
    """HR person `employee_id` is not linked (`problem`, see REMEDIES); `accounts` are the
    account ids involved."""

    employee_id: str
    problem: str
    accounts: tuple[int, ...]


def address_key(address: object) -> str | None:
    """An address in the policy's normal form, domain as IDNA (ASCII), for comparing: None when
    empty or invalid. `Zoë@MÜLLER.de `, `zoë@xn--mller-kva.de` and `zoë@müller.de` share one key."""
    if not isinstance(address, str) or not address.strip():
        return None
    verdict = addresses.check(address.strip().lower())
    if not verdict.valid:
        return None
    local = verdict.normalized.rsplit("@", 1)[0]
    return f"{local}@{(verdict.ascii_domain or verdict.normalized.rsplit('@', 1)[1]).lower()}"


def plan_links(
    new_people: pd.DataFrame, outside: pd.DataFrame, linked: pd.DataFrame, former_ids: set[str] = frozenset(),
) -> tuple[list[Link], list[Refusal], list[Recycled]]:
    """Links for HR people the store does not know yet.

    `new_people`: employee_id, email (HR's address), display_name of active people without an account.
    `outside`: id, email of the company's active accounts without an HR id.
    `linked`: id, employee_id, email, display_name, active of its accounts linked to an HR id.
    `former_ids`: HR ids no longer active in HR (their deactivated accounts can be a rehire's).
    """
    if new_people.empty or (outside.empty and linked.empty):
        return [], [], []
    outside_by_key = _by_key(outside["id"], outside["email"])
    people = [(str(employee_id), address_key(email), name) for employee_id, email, name
              in zip(new_people["employee_id"], new_people["email"], new_people["display_name"])]
    # Only a person with a candidate outside HR needs the other HR accounts' addresses: a daily sync
    # of a large company with a few hires and no accounts outside HR reads none of them.
    active = linked[linked["active"].astype(bool)]
    needed = any(key in outside_by_key for _, key, _ in people)
    active_by_key = _by_key(active["id"], active["email"]) if needed else {}
    former = linked[~linked["active"].astype(bool) & linked["employee_id"].astype(str).isin(set(former_ids))]
    former_by_key = _by_key(former["id"], former["email"])
    former_names = dict(zip(former["id"].astype(int), former["display_name"].map(_name_key)))
    links: list[Link] = []
    refusals: list[Refusal] = []
    recycled: list[Recycled] = []
    claimed: set[str] = set()  # keys linked in this run (two new people with one address are held back anyway)
    for employee_id, key, name in people:
        if key is None or key in claimed:
            continue
        candidates = outside_by_key.get(key, [])
        if candidates:
            if key in active_by_key:
                refusals.append(Refusal(employee_id, ADDRESS_OF_LINKED_ACCOUNT, tuple(active_by_key[key])))
            elif len(candidates) > 1:
                refusals.append(Refusal(employee_id, SEVERAL_ACCOUNTS, tuple(candidates)))
            else:
                claimed.add(key)
                links.append(Link(candidates[0], employee_id, LINKED_BY_ADDRESS))
            continue
        earlier = former_by_key.get(key, [])
        same_person = [account for account in earlier if former_names[account] == _name_key(name)]
        if len(same_person) == 1:
            claimed.add(key)
            links.append(Link(same_person[0], employee_id, LINKED_BY_REHIRE))
        else:
            recycled += [Recycled(employee_id, account) for account in earlier if account not in same_person]
    return links, refusals, recycled


def _by_key(ids: pd.Series, emails: pd.Series) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for account_id, email in zip(ids.tolist(), emails.tolist()):
        key = address_key(email)
        if key is not None:
            found.setdefault(key, []).append(int(account_id))
    return found


def _name_key(name: object) -> str:
    return name_key(name) if isinstance(name, str) else ""
