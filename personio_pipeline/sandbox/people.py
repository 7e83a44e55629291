"""A person of a sandbox company: names from the locale's pool, status and dates, jobs, and the
e-mail addresses (work, personal, shared mailboxes, the diverse profile's noise). A mixin of the
generator's company (`generator.py`), whose state it reads and extends: records, the addresses
already given out, the next id.
"""

from __future__ import annotations

import random
import re
import unicodedata
from typing import Any

from personio_pipeline.sandbox import diversity
from personio_pipeline.sandbox.catalogue import (
    BASE_DATE,
    LEAVING_REASONS,
    PERSONAL_DOMAINS,
    SIDE_JOBS,
    NamePool,
    between,
    during_work,
    iso_date,
    local_part,
    name_pools,
    pick_one,
)

OWN_ADDRESS_TYPES = diversity.weighted((("work", 72), ("primary", 25), (None, 3)))
EMPLOYMENT_TYPES = diversity.weighted(diversity.EMPLOYMENT_TYPES)


class People:
    """Making people: `_person` builds one employee record and its addresses."""

    def _person(
        self,
        rng: random.Random,
        title: str,
        department: tuple[str, str],
        team: tuple[str, str],
        status: str,
        start: int,
        end: int | None,
        created: int,
        updated: int,
        gaps: bool = False,
    ) -> dict[str, Any]:
        """One employee record (dates as ordinals); the manager is linked by the caller. `gaps`:
        this person may lack a team or department (diverse profile, individual contributors)."""
        if self.diverse:
            locale = pick_one(rng, self.locales)
            first_names, last_names, gender = diversity.name_pools()[locale][rng.random() < 0.5]
            pool = NamePool(first_names, last_names, gender)
        else:
            pool = name_pools()[pick_one(rng, self.locales)][rng.random() < 0.5]
        first, last = pick_one(rng, pool.first), pick_one(rng, pool.last)
        preferred = re.split(r"[- ]", first)[0] if ("-" in first or " " in first) else None
        jobs = [{"title": title, "is_primary": True}]
        if rng.random() < 0.02:
            jobs.insert(between(rng, 0, 1), {"title": pick_one(rng, SIDE_JOBS), "is_primary": False})
        record = {
            "id": str(self.next_id),
            "first_name": first,
            "last_name": last,
            "display_name": f"{preferred or first} {last}",
            "preferred_name": preferred,
            "title": title,
            "jobs": jobs,
            "employee_number": str(self.next_number),
            "employment_status": status,
            "employment_start_date": iso_date(start),
            "employment_end_date": iso_date(end) if end else None,
            "department": department[1],
            "department_id": department[0],
            "department_name": department[1],
            "team": {"id": team[0], "name": team[1]},
            "emails": (self._diverse_emails(rng, first, last, department[0], team[0], status) if self.diverse
                       else self._emails(rng, first, last)),
            "gender": pool.gender,
            "birthday": iso_date(BASE_DATE.toordinal() - between(rng, 19 * 365, 64 * 365)),
            "employment_role": {"type": "employee", "sub_type": "full_time" if rng.random() < 0.85 else "part_time"},
            "deleted": False,
            "created_at": during_work(rng, created, after_noon=False),
            "updated_at": during_work(rng, updated, after_noon=True),
        }
        if status == "terminated":  # a nullable enum without null in it: absent rather than null
            record["leaving_reason"] = pick_one(rng, LEAVING_REASONS)
        if self.diverse:
            self._diversify(rng, record, locale, gaps)
        self.next_id += between(rng, 1, 3)  # Personio ids have gaps
        self.next_number += 1
        return record

    def _emails(self, rng: random.Random, first: str, last: str) -> list[dict[str, str]]:
        """A work address at the company domain, with the gaps and mess of real HR data."""
        given, family = local_part(first), local_part(last)
        base = f"{given}.{family}" if given and family else given or family or "employee"
        roll = rng.random()
        if roll < 0.03:
            return []
        if roll < 0.07:
            return [self._personal_email(rng, base)]
        seen = self.local_parts[base] = self.local_parts.get(base, 0) + 1
        address = f"{base}{seen if seen > 1 else ''}@{self.domain}"
        mess = rng.random()
        if mess < 0.02:
            address = address.title()
        elif mess < 0.035:
            address = f" {address} "
        emails = [{"email": address, "type": "primary" if rng.random() < 0.25 else "work"}]
        if rng.random() < 0.2:
            emails.insert(between(rng, 0, 1), self._personal_email(rng, base))
        return emails

    def _diverse_emails(self, rng: random.Random, first: str, last: str, department_id: str, team_id: str,
                        status: str) -> list[dict[str, Any]]:
        """Work addresses as companies issue them: one convention per company, the department's
        domain (regional, IDN), some non-ASCII local parts, case and whitespace noise, typos, a
        few recycled from leavers; often a personal, group-domain or shared role mailbox beside."""
        roll, shared_team_mailbox = rng.random(), rng.random() < 0.01
        if roll < 0.025:
            return []
        given_source = diversity.romanised().get(first, first)
        family_source = diversity.romanised().get(last, last)
        non_ascii = not (given_source + family_source).isascii()
        keep = non_ascii and rng.random() < (0.03 if diversity.non_latin(given_source + family_source) else 0.15)
        spelling = "unicode" if keep else self.umlauts
        given = diversity.address_name(given_source, spelling)
        family = diversity.address_name(family_source, spelling)
        base = (
            self.address_style.format(first=given, last=family, f=given[:1])
            if given and family else given or family or "mitarbeiter"
        )
        ascii_base = diversity.ascii_local_part(base) or "mitarbeiter"
        if roll < 0.06:
            return [self._personal_email(rng, ascii_base)]
        if self.shared_active_addresses and shared_team_mailbox and team_id:
            return [{"email": f"team-{team_id}@{self.domain}", "type": "work"}]
        domain = self.department_domains.get(department_id, self.domain)
        address = self._work_address(rng, base, domain, status)
        own_type = pick_one(rng, OWN_ADDRESS_TYPES)
        mess = rng.random()
        local, _, host = address.rpartition("@")
        typo = mess >= 0.994
        if mess < 0.02:
            address = address.title()
        elif mess < 0.03:
            address = address.upper()
        elif mess < 0.045:
            address = f" {address} "
        elif mess < 0.05:
            address = address + "\u00a0"
        elif mess < 0.055:
            address = "\t" + address
        elif typo:
            address = f"{local}.@{host}" if "." not in local else f"{local.replace('.', '..', 1)}@{host}"
        if rng.random() < 0.004:
            address = unicodedata.normalize("NFD", address)
        emails = [{"email": address, "type": own_type} if own_type else {"email": address}]
        if rng.random() < 0.2:
            emails.insert(between(rng, 0, 1), self._personal_email(rng, ascii_base))
        if rng.random() < 0.08:
            alias = self._unique_address(ascii_base, self.holding_domain)
            emails.append({"email": alias, "type": "secondary"})
        if rng.random() < 0.03 and not typo and own_type in ("work", "primary"):  # never the chosen one
            emails.append({"email": pick_one(rng, self.mailboxes), "type": "other"})
        return emails

    def _work_address(self, rng: random.Random, base: str, domain: str, status: str) -> str:
        """`base@domain`, numbered when taken; half the time a leaver's address goes to the new
        namesake instead (that leaver is then never rehired, so no two active people share it)."""
        wanted = f"{base}@{domain}"
        holder = self.work_addresses.get(wanted)
        if holder is not None and holder[1] == "terminated" and wanted not in self.recycled and rng.random() < 0.5:
            self.recycled.add(wanted)
            self.no_rehire.add(holder[0])
            return wanted
        address = self._unique_address(base, domain)
        self.work_addresses[address] = (len(self.records), status)
        return address

    def _unique_address(self, base: str, domain: str) -> str:
        key = f"{base}@{domain}"
        seen = self.local_parts[key] = self.local_parts.get(key, 0) + 1
        return f"{base}{seen if seen > 1 else ''}@{domain}"

    def _diversify(self, rng: random.Random, record: dict[str, Any], locale: str, gaps: bool) -> None:
        """Attributes a connector that ignores `fields` serves, gaps in team and department, and
        names as some systems store them (decomposed Unicode)."""
        country = diversity.COUNTRY[locale]
        office = self.country
        record["employment_role"]["type"] = pick_one(rng, EMPLOYMENT_TYPES)
        record["middle_name"] = pick_one(rng, ("Maria", "Johannes", "Anna", "José", "Ali")) if rng.random() < 0.04 else None
        record["nationalities"] = [country] + (["DE"] if country != "DE" and rng.random() < 0.1 else [])
        record["languages"] = sorted({diversity.LANGUAGE[locale], "EN"})
        record["timezone"] = diversity.TIMEZONES.get(office, "Europe/Berlin")
        record["works_remote"] = rng.random() < 0.2
        record["company_name"] = self.domain.removesuffix(".example")
        record["phone_numbers"] = (
            [{"number": f"+{between(rng, 30, 49)} {between(rng, 100, 999)} {between(rng, 100000, 9999999)}",
              "type": pick_one(rng, ("work", "mobile", "direct-dial-in"))}]
            if rng.random() < 0.7 else []
        )
        record["addresses"] = [{
            "type": "work",
            "city": pick_one(rng, diversity.CITIES.get(office, ("Berlin",))),
            "country": office,
        }]
        record["custom_fields"] = [
            {"id": "cost_center", "name": "Kostenstelle", "value": pick_one(rng, diversity.COST_CENTRES)},
            {"id": "probation_passed", "name": "Probezeit bestanden", "value": rng.random() < 0.9},
        ]
        gap = rng.random()
        if gaps and gap < 0.02:  # no team (yet)
            if gap < 0.01:
                del record["team"]
            else:
                record["team"] = None
        elif gaps and gap < 0.028:  # working students, freelancers: neither team nor department
            for key in ("team", "department", "department_id", "department_name"):
                if gap < 0.024:
                    record.pop(key)
                else:
                    record[key] = None
        if rng.random() < 0.004:
            for key in ("first_name", "last_name", "display_name"):
                record[key] = unicodedata.normalize("NFD", record[key])

    def _personal_email(self, rng: random.Random, base: str) -> dict[str, str]:
        domains = diversity.PERSONAL_DOMAINS if self.diverse else PERSONAL_DOMAINS
        number, domain = between(rng, 1, 99), pick_one(rng, domains)
        while f"{base}{number}@{domain}" in self.personal_addresses:
            number += 1
        self.personal_addresses.add(f"{base}{number}@{domain}")
        return {"email": f"{base}{number}@{domain}", "type": "personal"}
