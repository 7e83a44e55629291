"""A sandbox company with history: the customer used Teammeter before connecting Personio.

HR side (what the sandbox serves), on top of the generated company:
- day 0: a few active people start in 2027 (pre-hires), a few are on leave (`other`, as Apideck
  probably serves Personio's leave);
- day 1: two of the people who had accounts leave (terminated);
- day 2: the first comes back under a new HR id (HR made a new profile: same name and address, a
  rehire), and a new person gets the second's address (a recycled address: another name).

Teammeter side (`existing_accounts`): accounts made before the connection for about a third of
the active people of day 0, half of them signed in already, with their address as people typed it
(case, spaces), and two coaches whom HR will never list.

Deterministic: the same company id and day give the same records and accounts in every process.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, NamedTuple

from personio_pipeline.sandbox.catalogue import BASE_DATE, between, during_work, iso_date, stable_seed

if TYPE_CHECKING:
    from personio_pipeline.sandbox.generator import _Company

PRE_HIRES, ON_LEAVE = 3, 3
EXISTING_SHARE = 3  # every third active person of day 0 has an account already
FIRST_START_IN_2027 = 400  # days after BASE_DATE (2026-01-05): starts in February-April 2027
REHIRE_DAY, LEAVERS_DAY = 2, 1


class SeedAccount(NamedTuple):
    """An account Teammeter has before the first sync."""

    name: str
    email: str
    registered: bool


COACHES = (
    SeedAccount("Clara Coaching", "clara@coaching-partner.de", True),
    SeedAccount("Ruben O'Neill-Brandt", "ruben@coaching-partner.de", False),
)


def day0(company: _Company) -> None:
    """Choose who has a Teammeter account already; then pre-hires (active, start date in 2027) and
    people on leave (status `other`) among the others."""
    company.history_account_ids = [r["id"] for r in _account_holders(company.records)]
    rng = random.Random(stable_seed("history", company.seed, 0))
    holders = set(company.history_account_ids)
    for n, index in enumerate(_pick(company, rng, PRE_HIRES + ON_LEAVE, avoid=holders)):
        record = company.records[index]
        if n < PRE_HIRES:
            record["employment_start_date"] = iso_date(BASE_DATE.toordinal() + FIRST_START_IN_2027 + between(rng, 0, 60))
            company.history_pre_hires.append(index)
        else:
            record["employment_status"] = "other"  # on leave
            company.history_on_leave.append(index)


def on_day(company: _Company, day: int) -> None:
    """Day 1: two people with accounts leave. Day 2: the first is rehired under a new HR id, the
    second's address goes to a new person."""
    if day not in (LEAVERS_DAY, REHIRE_DAY) or len(company.records) < 20:
        return
    rng = random.Random(stable_seed("history", company.seed, day))
    leavers = company.history_leavers
    today = BASE_DATE.toordinal() + day
    if day == LEAVERS_DAY:
        for index in _with_accounts(company)[:2]:
            company.records[index].update(employment_status="terminated", employment_end_date=iso_date(today - 1),
                                          updated_at=during_work(rng, today, after_noon=True))
            leavers.append(index)
            company.no_rehire.add(index)  # churn never brings them back under the old id
        return
    if len(leavers) < 2:
        return
    former, recycled = company.records[leavers[0]], company.records[leavers[1]]
    team = company.teams[0]
    rehire = company._person(rng, former["title"], team.department, (team.id, team.name), "active", today, None,
                             today - 3, today)
    rehire.update({key: former[key] for key in ("first_name", "last_name", "display_name", "preferred_name", "emails")})
    rehire["manager"] = {"id": company.records[team.lead]["id"]}
    company._add(rehire, "ic", former["title"])
    newcomer = company._person(rng, recycled["title"], team.department, (team.id, team.name), "active", today, None,
                               today - 3, today)
    newcomer["emails"] = [entry for entry in recycled["emails"] if entry.get("type") in ("work", "primary")][:1]
    newcomer["manager"] = {"id": company.records[team.lead]["id"]}
    company._add(newcomer, "ic", recycled["title"])


def existing_accounts(company: _Company) -> list[SeedAccount]:
    """The accounts Teammeter had before the connection (chosen by `day0`), each address as its
    person typed it (capitals, spaces), every other one signed in already; then the coaches."""
    by_id = {record["id"]: record for record in company.records}
    accounts = []
    for n, employee_id in enumerate(company.history_account_ids):
        record = by_id[employee_id]
        address = _work_address(record)
        typed = address.capitalize() if n % 3 == 0 else (f" {address} " if n % 3 == 1 else address.upper())
        accounts.append(SeedAccount(record["display_name"], typed, registered=n % 2 == 0))
    return accounts + list(COACHES)


def _account_holders(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    active = [r for r in records if r.get("employment_status") == "active" and _usable(_work_address(r))]
    seen: set[str] = set()
    holders = []
    for record in active[::EXISTING_SHARE]:
        address = _work_address(record).strip().casefold()
        if address not in seen:  # one account per address (Teammeter refuses a second)
            seen.add(address)
            holders.append(record)
    return holders


def _usable(address: str | None) -> bool:
    """An ASCII address Teammeter accepts as a login (its own address policy); typos are left out."""
    from personio_pipeline.org.employees import check_email  # the Teammeter side: its address policy

    return bool(address) and address.isascii() and check_email(address)[0] is not None


def _work_address(record: dict[str, Any]) -> str | None:
    for entry in record.get("emails") or []:
        if entry.get("type") in ("work", "primary") and entry.get("email"):
            return entry["email"].strip()
    return None


def _with_accounts(company: _Company) -> list[int]:
    """Active individual contributors who had an account before the connection."""
    ids = set(company.history_account_ids)
    return [i for i, r in enumerate(company.records)
            if r["id"] in ids and company.kinds[i] == "ic" and r["employment_status"] == "active"]


def _pick(company: _Company, rng: random.Random, count: int, avoid: set[int]) -> list[int]:
    candidates = [i for i, r in enumerate(company.records)
                  if company.kinds[i] == "ic" and r["employment_status"] == "active" and i not in avoid]
    rng.shuffle(candidates)
    return sorted(candidates[:count])
