"""Data set B of the operator benchmark (bench/operator.py): a company the bench generates itself,
independently of the sandbox's generator, so the figures do not rest on one generator's habits.

What differs from the sandbox's profiles (personio_pipeline/sandbox/generator.py):
- ids are UUIDs (not 7-digit numbers), employee numbers `NL-000123`; department ids are slugs
  (`dep-vertrieb-2`), team ids `T` + number;
- structure: few departments of very different sizes; team sizes heavy-tailed (2 to ~150, a
  Pareto draw), a flat hierarchy CEO → department heads → team leads → members, where large teams
  have sub-leads; ~3 % of team leads report to the head of another department; ~1 % of people
  have no team, ~0.5 % no department (and no team);
- titles from Faker's `job()` in the person's locale (thousands of distinct, partly German,
  French, Polish … titles), with suffixes such as ` (m/w/d)`;
- statuses: ~86 % active, 4 % inactive, 6 % terminated (end date in the past), 2.5 % `other`
  (start in the future), 1.5 % active serving notice (end date ahead); managers are active;
- names from 19 Faker locales (Latin with diacritics, Cyrillic, Greek, Japanese, Chinese,
  Vietnamese, Turkish); `display_name` sometimes "Last, First", sometimes a preferred name;
- addresses on five domains (the company's, two regional ones, a subsidiary subdomain and an IDN
  domain), about 2 % with a non-ASCII local part, 3 % with case noise, 1 % with spaces around,
  20 % with a second, personal address, 1 % with only a personal address, 1.5 % with none, 1 %
  malformed in ways the spec's format still lets through (`a..b@`, `@x..example`, a trailing
  dot), a handful of active people sharing one address (held back by the sync);
- a few managers that do not exist (an id nobody has) and people without a manager.

Deterministic for (size, seed). Every record is validated against Apideck's published HRIS spec
(a `GET /hris/employees` 200 response per page of 200), and the company is cached as JSON under
the system's temp folder (`personio-bench-company-b-<size>-<seed>.json`), so a second run skips
generation. Served through a sandbox process with `PUT /_sandbox/companies/<id>`.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import tempfile
import time
import unicodedata
import uuid
from pathlib import Path
from typing import Any

PAGE = 200
SCHEMA_VERSION = 1  # bump when the generator changes, so old caches are not reused

LOCALES = {  # Faker locale: weight
    "de_DE": 30, "de_AT": 6, "de_CH": 5, "fr_FR": 6, "pl_PL": 6, "cs_CZ": 3, "tr_TR": 5, "es_ES": 4,
    "it_IT": 4, "sv_SE": 2, "nl_NL": 4, "da_DK": 2, "hu_HU": 2, "pt_PT": 2, "ru_RU": 4, "el_GR": 2,
    "ja_JP": 3, "zh_CN": 3, "vi_VN": 2,
}
NON_LATIN = {"ru_RU", "el_GR", "ja_JP", "zh_CN"}
DEPARTMENTS = ("Vertrieb", "Produktion", "Logistik", "Forschung & Entwicklung", "Kundenservice", "Finanzen",
               "Personal", "IT", "Marketing", "Einkauf", "Qualität", "Recht", "Facility Management",
               "Data & Analytics", "Außendienst Süd", "Werk Łódź", "Filiale Zürich", "Atelier Créatif")
TEAM_WORDS = ("Nord", "Süd", "Ost", "West", "Kern", "Plattform", "Schicht A", "Schicht B", "Schicht C", "Backoffice",
              "Key Accounts", "Onboarding", "Wartung", "Labor", "Versand", "Retouren", "Équipe 1", "Zespół 2")
TITLE_SUFFIXES = ("", "", "", "", " (m/w/d)", " (w/m/d)", " – Senior", " II", ", Teilzeit")


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ł", "l").replace("Ł", "L"))
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in "-")).lower()


def generate(size: int, seed: int = 25, company: str = "nordlicht") -> list[dict[str, Any]]:
    """`size` Apideck `Employee` records of the bench's own company (see the module docstring)."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = {}
    for number, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 100 + number)
        fakers[locale] = fake
    latin = Faker("en_US")
    latin.seed_instance(seed)
    locale_pool = [locale for locale, weight in LOCALES.items() for _ in range(weight)]
    titles_of = {locale: [fake.job() for _ in range(400)] for locale, fake in fakers.items()}
    domains = [f"{company}.example", f"{company}-de.example", f"{company}-at.example",
               f"labs.{company}.example", "nordlicht-bäckerei.example"]
    domain_weights = [60, 15, 10, 10, 5]
    today = dt.date(2026, 6, 1)
    ids: set[str] = set()

    def new_id() -> str:
        while True:
            value = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if value not in ids:
                ids.add(value)
                return value

    # -- structure: departments of very different sizes, heavy-tailed team sizes -----------------
    n_departments = max(1, min(len(DEPARTMENTS), round(size ** 0.5 / 12)))
    weights = [rng.paretovariate(1.2) for _ in range(n_departments)]
    department_ids = [f"dep-{_ascii(name.split()[0])}-{number}" for number, name in enumerate(DEPARTMENTS[:n_departments])]
    people: list[dict[str, Any]] = []  # position: kind, department index, team (id, name) or None, manager position
    people.append({"kind": "ceo", "department": None, "team": None, "manager": None})
    heads = []
    for index in range(n_departments):
        people.append({"kind": "head", "department": index, "team": None, "manager": 0})
        heads.append(len(people) - 1)
    remaining = size - len(people)
    team_number = 0
    while remaining > 0:
        department = rng.choices(range(n_departments), weights)[0]
        team_size = min(remaining, max(2, min(150, int(rng.paretovariate(1.1) * 4))))
        team_number += 1
        team = (f"T{1000 + team_number}", f"{DEPARTMENTS[department]} {rng.choice(TEAM_WORDS)} {team_number}")
        lead_manager = heads[department]
        if rng.random() < 0.03 and n_departments > 1:  # reports to another department's head
            lead_manager = heads[rng.randrange(n_departments)]
        people.append({"kind": "lead", "department": department, "team": team, "manager": lead_manager})
        lead = len(people) - 1
        sub_leads = [lead]
        for member in range(team_size - 1):
            manager = sub_leads[-1] if len(sub_leads) > 1 and member % 2 else rng.choice(sub_leads)
            kind = "sublead" if team_size > 40 and member % 25 == 0 else "member"
            people.append({"kind": kind, "department": department, "team": team, "manager": manager})
            if kind == "sublead":
                sub_leads.append(len(people) - 1)
        remaining = size - len(people)
    people = people[:size]

    # -- people ----------------------------------------------------------------------------------
    for position in people:
        position["id"] = new_id()
    taken: dict[str, int] = {}
    records = []
    shared_address = f"schichtleitung@{domains[0]}"
    shared_left = 4 if size >= 1000 else 0
    for number, position in enumerate(people):
        locale = rng.choice(locale_pool)
        fake = fakers[locale]
        female = rng.random() < 0.5
        first = fake.first_name_female() if female else fake.first_name_male()
        last = fake.last_name()
        manager_kind = position["kind"] != "member"
        roll = rng.random()
        status, end = "active", None
        start = today - dt.timedelta(days=rng.randint(30, 9000))
        if not manager_kind:
            if roll < 0.04:
                status = "inactive"
            elif roll < 0.10:
                status = "terminated"
                end = start + dt.timedelta(days=rng.randint(30, max(31, (today - start).days - 1)))
            elif roll < 0.125:
                status, start = "other", today + dt.timedelta(days=rng.randint(1, 90))
            elif roll < 0.14:
                end = today + dt.timedelta(days=rng.randint(10, 120))
        # addresses
        if locale in NON_LATIN:
            base_first, base_last = _ascii(latin.first_name()), _ascii(latin.last_name())
        else:
            base_first, base_last = _ascii(first) or "x", _ascii(last) or "y"
        domain = rng.choices(domains, domain_weights)[0]
        local = f"{base_first}.{base_last}"
        if rng.random() < 0.02 and locale not in NON_LATIN:
            local = f"{first}.{last}".lower().replace(" ", "")  # non-ASCII local part
        taken[local + domain] = taken.get(local + domain, 0) + 1
        if taken[local + domain] > 1:
            local += str(taken[local + domain])
        work = f"{local}@{domain}"
        noise = rng.random()
        if noise < 0.03:
            work = work.title() if noise < 0.015 else work.upper()
        elif noise < 0.04:
            work = f" {work} "
        elif noise < 0.05:  # malformed, though the spec's format lets it through
            work = rng.choice((f"{base_first}..{base_last}@{domain}", f"{local}@{domain.replace('.', '..', 1)}",
                               f"{local}@{domain}."))
        emails: list[dict[str, Any]] | None = [{"email": work, "type": "work"}]
        if status == "active" and shared_left and number % 97 == 5:
            emails, shared_left = [{"email": shared_address, "type": "work"}], shared_left - 1
        extra = rng.random()
        if extra < 0.20:
            emails.append({"email": f"{base_first}{rng.randint(1, 99)}@mail-{rng.randint(1, 3)}.example",
                           "type": "personal"})
        elif extra < 0.21:
            emails = [{"email": f"{base_last}.{base_first}@privat.example", "type": "personal"}]
        elif extra < 0.225 and not manager_kind:
            emails = rng.choice(([], None))  # None: the key is left out
        title = position["kind"] == "ceo" and "Geschäftsführer:in" or (
            f"Leitung {DEPARTMENTS[position['department']]}" if position["kind"] == "head" else
            rng.choice(titles_of[locale]) + rng.choice(TITLE_SUFFIXES))
        if position["kind"] in ("lead", "sublead"):
            title = f"Teamleitung {title}" if rng.random() < 0.5 else f"{title} (Lead)"
        preferred = fake.first_name() if rng.random() < 0.08 else None
        display = f"{last}, {first}" if rng.random() < 0.05 else f"{preferred or first} {last}"
        department = position["department"]
        if department is not None and rng.random() < 0.005 and not manager_kind:
            department = None
        team = position["team"] if department is not None and rng.random() > 0.01 else None
        if position["kind"] == "head":
            team = None
        manager_position = position["manager"]
        manager = {"id": people[manager_position]["id"]} if manager_position is not None else None
        if manager and not manager_kind:
            if rng.random() < 0.003:
                manager = {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}  # nobody has this id
            elif rng.random() < 0.003:
                manager = None
        created = dt.datetime.combine(min(start, today) - dt.timedelta(days=rng.randint(1, 30)),
                                      dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60)))
        updated = created + dt.timedelta(days=rng.randint(0, max(0, (today - created.date()).days - 1)))
        record = {
            "id": position["id"],
            "first_name": first,
            "last_name": last,
            "display_name": display,
            "preferred_name": preferred,
            "title": title,
            "jobs": [{"title": title, "is_primary": True}],
            "employee_number": f"NL-{number + 1:06d}",
            "employment_status": status,
            "employment_start_date": start.isoformat(),
            "employment_end_date": end.isoformat() if end else None,
            "department": DEPARTMENTS[department] if department is not None else None,
            "department_id": department_ids[department] if department is not None else None,
            "department_name": DEPARTMENTS[department] if department is not None else None,
            "team": {"id": team[0], "name": team[1]} if team else None,
            "emails": emails,
            "manager": manager,
            "deleted": False,
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        for key in ("manager", "emails", "team"):  # not nullable in the spec: left out, as Apideck does
            if record[key] is None:
                del record[key]
        records.append(record)
    rng.shuffle(records)  # HR systems do not list people in hiring order
    return records


def validate(records: list[dict[str, Any]]) -> int:
    """Check every record against the HRIS spec, as pages of a `GET /hris/employees` 200 response."""
    from personio_pipeline.sandbox.contract import shared_contract

    contract = shared_contract("hris.yml")
    for start in range(0, len(records), PAGE):
        page = records[start:start + PAGE]
        body = {"status_code": 200, "status": "OK", "service": "personio", "resource": "employees",
                "operation": "all", "data": page,
                "meta": {"items_on_page": len(page), "cursors": {"previous": None, "current": None, "next": None}},
                "links": {"previous": None, "current": "http://x/hris/employees", "next": None}}
        contract.validate_response("/hris/employees", "GET", 200, body)
    return len(records)


def company(size: int, seed: int = 25) -> tuple[list[dict[str, Any]], Path, float]:
    """The records (from the cache when there), the cache file, and the seconds generation and
    validation took (0 from the cache)."""
    cache = Path(tempfile.gettempdir()) / f"personio-bench-company-b-v{SCHEMA_VERSION}-{size}-{seed}.json"
    if cache.exists():
        return json.loads(cache.read_text()), cache, 0.0
    started = time.perf_counter()
    records = generate(size, seed)
    validate(records)
    cache.write_text(json.dumps(records, ensure_ascii=False))
    return records, cache, time.perf_counter() - started


def describe(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts that show what the data set is like (for the results file)."""
    statuses: dict[str, int] = {}
    for record in records:
        statuses[record["employment_status"]] = statuses.get(record["employment_status"], 0) + 1
    emails = [e["email"] for r in records for e in (r.get("emails") or [])]
    return {
        "people": len(records),
        "statuses": statuses,
        "departments": len({r["department_id"] for r in records if r["department_id"]}),
        "teams": len({r["team"]["id"] for r in records if r.get("team")}),
        "titles": len({r["title"] for r in records}),
        "without_address": sum(1 for r in records if not r.get("emails")),
        "non_ascii_names": sum(1 for r in records if not (r["first_name"] + r["last_name"]).isascii()),
        "non_ascii_addresses": sum(1 for e in emails if not e.isascii()),
        "domains": len({e.strip().rsplit("@", 1)[-1].lower() for e in emails}),
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Generate, validate and describe data set B.")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=25)
    args = parser.parse_args()
    records, cache, seconds = company(args.size, args.seed)
    print(json.dumps({"cache": str(cache), "seconds": round(seconds, 1), **describe(records)}, ensure_ascii=False,
                     indent=1))
