"""Deterministic fake Personio companies, shaped like Apideck's unified HRIS `Employee`.

Tests, the demo and benchmarks need the same company for the same consumer id on every machine,
messy in the ways real HR data is (non-ASCII names, missing or oddly typed e-mails, title
spellings, leavers, rehires) and cheap at 100,000 employees. Faker is only used once per process
to fill name pools; people are then drawn from the pools with a seeded RNG.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import math
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from faker import Faker

from personio_pipeline.sandbox import diversity
from personio_pipeline.common.memory import cyclic_gc_paused

PROFILES = ("diverse", "standard")
DEFAULT_PROFILE = "diverse"
# Day 0 of every company: a fixed date, so records never depend on when they are generated.
BASE_DATE = dt.date(2026, 1, 5)
MAX_SPAN = 10
TEAM_SIZE = (5, 9)

# Share of each locale in a company's workforce besides its home locale.
LOCALE_WEIGHTS = {
    "de_DE": 30, "en_GB": 12, "fr_FR": 11, "es_ES": 10, "pl_PL": 10,
    "tr_TR": 9, "it_IT": 8, "nl_NL": 5, "sv_SE": 5,
}
HOME_LOCALE_SHARE = 0.55

# Department → (individual contributor titles, team lead title, team name suffixes).
DEPARTMENTS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "Engineering": (
        ("Software Engineer", "Senior Software Engineer", "Backend Engineer", "Frontend Engineer",
         "QA Engineer", "DevOps Engineer", "Staff Engineer"),
        "Engineering Manager",
        ("Platform", "Payments", "Mobile", "Core", "Search", "Identity", "Integrations", "Growth"),
    ),
    "Product": (
        ("Product Manager", "Senior Product Manager", "Product Designer", "UX Researcher"),
        "Group Product Manager",
        ("Discovery", "Onboarding", "Self-Service", "Insights"),
    ),
    "Sales": (
        ("Account Executive", "Senior Account Executive", "Sales Development Representative",
         "Sales Engineer"),
        "Sales Manager",
        ("Mid-Market", "Enterprise", "SMB", "Inbound", "Partnerships"),
    ),
    "Marketing": (
        ("Marketing Manager", "Content Marketing Manager", "Performance Marketing Manager",
         "Brand Designer"),
        "Marketing Lead",
        ("Brand", "Demand Generation", "Content", "Events"),
    ),
    "Customer Success": (
        ("Customer Success Manager", "Support Specialist", "Onboarding Specialist"),
        "Team Lead Customer Success",
        ("Support 1st Level", "Support 2nd Level", "Onboarding", "Key Accounts"),
    ),
    "Finance": (
        ("Accountant", "Financial Analyst", "Controller", "Payroll Specialist"),
        "Finance Manager",
        ("Accounting", "Controlling", "Payroll", "Treasury"),
    ),
    "People & Culture": (
        ("HR Business Partner", "Recruiter", "People Operations Specialist",
         "Talent Acquisition Specialist"),
        "People Lead",
        ("Recruiting", "People Operations", "Learning & Development"),
    ),
    "Operations": (
        ("Operations Manager", "Office Manager", "Logistics Coordinator", "Procurement Specialist"),
        "Head of Operations Team",
        ("Facilities", "Logistics", "Procurement", "Workplace"),
    ),
    "Data": (
        ("Data Analyst", "Data Engineer", "Data Scientist"),
        "Data Lead",
        ("Analytics", "Data Platform", "Machine Learning"),
    ),
    "IT": (
        ("IT Administrator", "IT Support Specialist", "Security Engineer"),
        "IT Manager",
        ("Workplace IT", "Infrastructure", "Security"),
    ),
    "Qualitätssicherung": (
        ("Qualitätsprüfer", "Qualitätsingenieur", "Prüftechniker"),
        "Teamleiter Qualitätssicherung",
        ("Wareneingang", "Endprüfung", "Labor", "Reklamationen"),
    ),
    "Produktion": (
        ("Produktionsmitarbeiter", "Maschinenführer", "Schichtleiter", "Fachkraft für Lagerlogistik"),
        "Teamleiter Produktion",
        ("Frühschicht", "Spätschicht", "Nachtschicht", "Montage", "Fertigung Süd", "Fertigung Nord"),
    ),
    "Legal": (
        ("Legal Counsel", "Compliance Manager", "Paralegal"),
        "Head of Legal Team",
        ("Contracts", "Compliance", "Privacy"),
    ),
}
# Large companies repeat departments per region.
REGIONS = ("DACH", "France", "Iberia", "Polska", "Türkiye", "UK & Ireland", "Italia", "Nordics", "Benelux")
EXECUTIVE_TITLES = (
    "Chief Technology Officer", "Chief Financial Officer", "Chief Revenue Officer",
    "Chief People Officer", "Chief Operating Officer", "Chief Product Officer",
    "VP Engineering", "VP Sales", "VP Operations", "VP Customer Experience",
)
SIDE_JOBS = ("First Aider", "Works Council Member", "Fire Warden", "Ersthelfer", "Mentor")
# Positions renamed by churn; a rename only happens while its old title is held by someone.
RENAMES = {
    "Customer Success Manager": "Customer Success Partner",
    "Recruiter": "Talent Partner",
    "Sales Development Representative": "Business Development Representative",
    "QA Engineer": "Quality Engineer",
    "Office Manager": "Workplace Manager",
    "Data Analyst": "Analytics Engineer",
    "Support Specialist": "Customer Support Specialist",
    "DevOps Engineer": "Site Reliability Engineer",
    "Paralegal": "Legal Assistant",
    "IT Support Specialist": "IT Service Desk Specialist",
    "Maschinenführer": "Anlagenführer",
    "Qualitätsprüfer": "Qualitätsfachkraft",
    "Controller": "Financial Controller",
    "Brand Designer": "Visual Designer",
    "Product Designer": "Product Design Lead",
    "Logistics Coordinator": "Supply Chain Coordinator",
    "People Operations Specialist": "People Experience Specialist",
    "Account Executive": "Account Manager",
    "Frontend Engineer": "Web Engineer",
    "Backend Engineer": "Server Engineer",
}
# Spellings of one title that a role matcher must still recognise.
TITLE_VARIANTS = (
    lambda title: title.lower().replace(" ", "  ", 1),
    lambda title: title + " ",
    lambda title: f"{title} (m/w/d)",
    lambda title: title.upper(),
)
PERSONAL_DOMAINS = ("mail.example.org", "post.example.net", "inbox.example.com")
LEAVING_REASONS = ("resigned", "resigned", "dismissed", "redundancy", "retired", "other")
_NOT_DECOMPOSABLE = str.maketrans(
    {"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe",
     "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i", "þ": "th", "ð": "d"}
)


def stable_seed(*parts: object) -> int:
    """A seed that is the same in every process (unlike `hash()`, which is salted per run)."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@functools.lru_cache(maxsize=4096)
def ascii_fold(text: str) -> str:
    """Transliterate to ASCII (Jäckel → Jackel, Łukasz → Lukasz) for e-mail local parts."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_NOT_DECOMPOSABLE))
    return decomposed.encode("ascii", "ignore").decode()


@functools.lru_cache(maxsize=8192)
def _local_part(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", ascii_fold(name).lower().replace(" ", "-"))


def company_domain(consumer_id: str) -> str:
    """The company's e-mail domain, under the reserved `.example` TLD so nothing is ever deliverable."""
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_fold(consumer_id).lower()).strip("-")[:50] or "company"
    return f"{slug}.example"


@dataclass(frozen=True)
class _NamePool:
    first: tuple[str, ...]
    last: tuple[str, ...]
    gender: str


@functools.lru_cache(maxsize=None)
def _name_pools() -> dict[str, tuple[_NamePool, _NamePool]]:
    """Names per locale and gender, drawn once from a fixed-seed Faker (about 0.3 s)."""
    pools = {}
    for locale in LOCALE_WEIGHTS:
        fake = Faker(locale)
        fake.seed_instance(0)
        pools[locale] = tuple(
            _NamePool(
                first=_distinct(getattr(fake, f"first_name_{gender}")),
                last=_distinct(getattr(fake, f"last_name_{gender}")),
                gender=gender,
            )
            for gender in ("male", "female")
        )
    return pools


def _distinct(draw: Callable[[], str], draws: int = 300) -> tuple[str, ...]:
    """Sorted distinct names; a few Dutch ones ("Bourgondië, van") hold commas and are left out."""
    return tuple(sorted({name for name in (draw() for _ in range(draws)) if "," not in name}))


@functools.lru_cache(maxsize=8192)
def _iso_date(ordinal: int) -> str:
    return dt.date.fromordinal(ordinal).isoformat()


def _timestamp(ordinal: int, second_of_day: int) -> str:
    hours, rest = divmod(second_of_day, 3600)
    return f"{_iso_date(ordinal)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000Z"


def _between(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint` without its argument checks: ten times faster, just as deterministic."""
    return low + int(rng.random() * (high - low + 1))


def _any(rng: random.Random, items):
    return items[int(rng.random() * len(items))]


def _during_work(rng: random.Random, ordinal: int, *, after_noon: bool) -> str:
    """Mornings for creation and afternoons for updates, so one day's update never precedes its creation."""
    low = 12 * 3600 if after_noon else 7 * 3600
    return _timestamp(ordinal, _between(rng, low, low + 5 * 3600))


@dataclass(slots=True)
class _Slot:
    """A position in the org chart, before a person and an id are attached to it."""

    kind: str  # "ceo", "manager" (leads managers), "lead" (leads a team of ICs) or "ic"
    title: str
    manager: int | None  # slot index
    department: tuple[str, str]  # (id, name)
    team: tuple[str, str]  # (id, name) the holder belongs to
    own_team: tuple[str, str] | None  # the team the holder's direct reports belong to
    catalogue: str  # DEPARTMENTS key, for titles


@dataclass(slots=True)
class _Team:
    id: str
    name: str
    department: tuple[str, str]
    catalogue: str
    lead: int  # record index


class _Company:
    """A company's records plus what churn needs: its teams, and per record a kind and canonical title."""

    def __init__(self, consumer_id: str, size: int, profile: str = DEFAULT_PROFILE,
                 shared_active_addresses: bool = False):
        if profile not in PROFILES:
            raise ValueError(f"unknown sandbox profile {profile!r}; use one of {', '.join(PROFILES)}")
        self.diverse = profile == "diverse"
        self.shared_active_addresses = shared_active_addresses and self.diverse
        self.seed = stable_seed("company", consumer_id)
        self.rng = random.Random(self.seed)
        self.domain = company_domain(consumer_id)
        self.founded = BASE_DATE.toordinal() - _between(self.rng, 6 * 365, 18 * 365)
        if self.diverse:
            self._init_diverse(consumer_id)
        else:
            mix = [locale for locale, weight in LOCALE_WEIGHTS.items() for _ in range(weight)]
            home = _any(self.rng, mix)  # mostly German, like Personio's customers
            self.locales = [home] * round(len(mix) * HOME_LOCALE_SHARE / (1 - HOME_LOCALE_SHARE)) + mix
        self.no_rehire: set[int] = set()  # leavers whose address went to someone else
        self.unit_ids: set[str] = set()
        self.local_parts: dict[str, int] = {}  # work address local part → people using it
        self.personal_addresses: set[str] = set()
        self.slots: list[_Slot] = []
        self.records: list[dict[str, Any]] = []
        self.kinds: list[str] = []
        self.canonical_titles: list[str] = []
        self.teams: list[_Team] = []
        self.renamed: dict[str, str] = {}  # positions renamed by churn so far
        self.next_id = 1_000_000 + (self.seed % 9_000) * 1_000
        self.next_number = 1
        if size > 0:
            self._plan(size)
            self._staff()


    def _init_diverse(self, consumer_id: str) -> None:
        """Locales, address conventions and the company's several domains (diverse profile)."""
        rng = self.rng
        home = _any(rng, diversity.weighted(diversity.HOME_LOCALES.items()))
        mix = diversity.weighted(diversity.LOCALE_WEIGHTS.items())
        share = diversity.HOME_LOCALE_SHARE
        self.locales = [home] * round(len(mix) * share / (1 - share)) + mix
        self.country = diversity.COUNTRY[home]
        self.address_style = _any(rng, diversity.weighted(diversity.ADDRESS_STYLES))
        self.umlauts = "ascii-ae" if rng.random() < 0.5 else "ascii"
        slug = self.domain.removesuffix(".example")
        self.idn_domain = f"{_any(rng, diversity.IDN_BRANDS)}.example"
        self.holding_domain = f"{slug}-group.example"
        self.region_domains = {region: f"{slug}-{code}.example" for region, code in diversity.REGION_DOMAIN.items()}
        self.mailboxes = [f"{box}@{self.domain}" for box in diversity.ROLE_MAILBOXES]
        self.department_domains: dict[str, str] = {}  # department id → its people's work domain
        self.department_sizes: list[tuple[int, str]] = []  # (headcount, department id)
        self.seniorities = diversity.weighted(diversity.SENIORITY)
        self.work_addresses: dict[str, tuple[int, str]] = {}  # address → (first holder's record index, status)
        self.recycled: set[str] = set()

    # -- day 0: the org chart -------------------------------------------------------------------

    def _plan(self, size: int) -> None:
        """CEO, executives when there are more departments than one person can lead, departments."""
        board = (self._unit_id(), "Executive Board")
        management = (self._unit_id(), "Geschäftsführung")
        self.slots.append(_Slot("ceo", "CEO", None, management, board, board, "Operations"))  # catalogue unused
        departments = self._departments(size) if size > 1 else []
        executives = []
        if len(departments) > MAX_SPAN:
            for number in range(math.ceil(len(departments) / MAX_SPAN)):
                title = EXECUTIVE_TITLES[number % len(EXECUTIVE_TITLES)]
                self.slots.append(_Slot("manager", title, 0, management, board, board, "Operations"))
                executives.append(len(self.slots) - 1)
        big = ("Engineering", "Produktion", "Sales")
        weights = [self.rng.uniform(0.4, 1.6) * (3 if catalogue in big else 1) for _, catalogue, _ in departments]
        headcounts = _apportion(max(0, size - len(self.slots)), weights)
        special = self._special_structures(size, headcounts) if self.diverse else {}
        for number, (department, headcount) in enumerate(zip(departments, headcounts)):
            if headcount:
                parent = executives[number % len(executives)] if executives else 0
                self._plan_department(parent, *department, headcount, special.get(number))
        if self.diverse and len(self.department_sizes) >= 3:  # a small subsidiary on an IDN domain
            _, smallest = min(self.department_sizes)
            self.department_domains[smallest] = self.idn_domain

    def _special_structures(self, size: int, headcounts: list[int]) -> dict[int, tuple[int, int]]:
        """The biggest department gets a management chain of depth ~√size/5 (60 at 100,000) and a
        team lead with ~0.7·√size direct reports (221 at 100,000), as real HR data has them."""
        depth, span = min(60, int(math.sqrt(size) / 5)), int(0.7 * math.sqrt(size))
        if not headcounts or depth < 2:
            return {}
        biggest = max(range(len(headcounts)), key=headcounts.__getitem__)
        if headcounts[biggest] < 2 * depth + span + 3:
            return {}
        return {biggest: (depth, span)}

    def _departments(self, size: int) -> list[tuple[str, str, str | None]]:
        """(name, catalogue key, region); the count grows with the square root of the headcount."""
        names = list(DEPARTMENTS)
        self.rng.shuffle(names)
        wanted = min(MAX_SPAN * MAX_SPAN, max(1, round(math.sqrt(size) / 1.6)))  # ≤ 10 executives
        plain = [(name, name, None) for name in names]
        regional = [(f"{name} {region}", name, region) for region in REGIONS for name in names]
        return (plain + regional)[:wanted]

    def _plan_department(self, parent: int, name: str, catalogue: str, region: str | None, headcount: int,
                         special: tuple[int, int] | None = None) -> None:
        """A complete tree below the department head with a branching of 5–9, so spans stay small;
        `special` = (chain depth, wide span) adds the deep chain and the wide team below the head."""
        titles, lead_title, suffixes = DEPARTMENTS[catalogue]
        department = (self._unit_id(), name)
        leadership = (self._unit_id(), f"{name} Leadership")
        team_names = _team_names(suffixes, region)
        if self.diverse:
            self.department_sizes.append((headcount, department[0]))
            self.department_domains[department[0]] = self.region_domains.get(region, self.domain)
        if special:
            headcount -= 2 * special[0] + special[1] + 1
        branching = _between(self.rng, *TEAM_SIZE)
        internal = (headcount - 2) // branching + 1  # nodes with at least one report
        first = len(self.slots)
        for i in range(headcount):
            manager = parent if i == 0 else first + (i - 1) // branching
            if i < internal:
                leads_team = branching * (branching * i + 1) + 1 >= headcount  # its first report has none
                own = (self._unit_id(), next(team_names)) if leads_team else leadership
                title = f"Head of {name}" if i == 0 else lead_title if leads_team else f"Director {name}"
                kind = "lead" if leads_team else "manager"
                self.slots.append(_Slot(kind, title, manager, department, own, own, catalogue))
            else:
                team = self.slots[manager].own_team
                title = self._ic_title(catalogue, region) if self.diverse else _any(self.rng, titles)
                self.slots.append(_Slot("ic", title, manager, department, team, None, catalogue))
        if special:
            self._plan_chain_and_wide_team(first, department, catalogue, region, team_names, *special)

    def _plan_chain_and_wide_team(self, head: int, department: tuple[str, str], catalogue: str, region: str | None,
                                  team_names: Iterator[str], depth: int, span: int) -> None:
        """`depth` team leads each reporting to the one before (one report of their own each), and
        one team lead with `span` reports: people at depth ≥ `depth` and spans ≥ `span`."""
        lead_title = DEPARTMENTS[catalogue][1]
        manager = head
        for _ in range(depth):
            own = (self._unit_id(), next(team_names))
            self.slots.append(_Slot("lead", lead_title, manager, department, own, own, catalogue))
            manager = len(self.slots) - 1
            self.slots.append(_Slot("ic", self._ic_title(catalogue, region), manager, department, own, None, catalogue))
        own = (self._unit_id(), next(team_names))
        self.slots.append(_Slot("lead", lead_title, head, department, own, own, catalogue))
        hub = len(self.slots) - 1
        for _ in range(span):
            self.slots.append(_Slot("ic", self._ic_title(catalogue, region), hub, department, own, None, catalogue))

    def _ic_title(self, catalogue: str, region: str | None) -> str:
        """A catalogue title, or one of its long tail: seniority, specialisation, region, local
        language, gender suffix. A 100,000-person company holds thousands of distinct titles."""
        rng = self.rng
        base = _any(rng, DEPARTMENTS[catalogue][0])
        if rng.random() < 0.4:
            return base
        local = diversity.LOCAL_TITLES.get(region or "", {})
        if base in local and rng.random() < 0.5:
            return local[base]
        title = _any(rng, self.seniorities) + base
        if rng.random() < 0.45:
            speciality = _any(rng, diversity.SPECIALISATIONS[catalogue])
            title += _any(rng, (f" – {speciality}", f" ({speciality})", f", {speciality}", f" {speciality}"))
        if region and rng.random() < 0.25:
            title += f" {region}"
        if rng.random() < 0.08:
            title += _any(rng, diversity.GENDER_SUFFIXES)
        return title

    def _unit_id(self) -> str:
        """Numeric ids for departments and teams, as Personio has them."""
        while True:
            candidate = str(_between(self.rng, 100_000, 999_999))
            if candidate not in self.unit_ids:
                self.unit_ids.add(candidate)
                return candidate

    # -- day 0: people ----------------------------------------------------------------------------

    def _staff(self) -> None:
        """Put a person in every slot; ids and employee numbers follow the order of hiring."""
        rng, base = self.rng, BASE_DATE.toordinal()
        hires = []
        for index, slot in enumerate(self.slots):
            status, start, end = "active", self.founded, None
            if slot.kind != "ceo":
                start = _between(rng, self.founded + 1, base - 90)
            if slot.kind == "ic":  # managers never leave or pause, so every manager is active
                roll = rng.random()
                status = _status_for(roll)
            if status == "terminated":
                end = _between(rng, start + 30, base - 1)
            elif status == "other":  # onboarding: contract signed, not started yet
                start = base + _between(rng, 1, 60)
            elif status == "active" and slot.kind == "ic" and rng.random() < 0.01:  # serving notice
                end = base + _between(rng, 14, 90)
            hires.append((start, index, status, end))
        hires.sort()
        record_of_slot: dict[int, int] = {}
        for start, index, status, end in hires:
            slot = self.slots[index]
            title = slot.title
            if slot.kind == "ic" and rng.random() < (0.1 if self.diverse else 0.06):
                title = _any(rng, diversity.TITLE_VARIANTS if self.diverse else TITLE_VARIANTS)(title)
            created = min(start, base) - _between(rng, 3, 40)
            last_change = end if end is not None and end < base else created
            updated = _between(rng, last_change, base - 1)
            record_of_slot[index] = len(self.records)
            record = self._person(rng, title, slot.department, slot.team, status, start, end, created, updated,
                                  gaps=slot.kind == "ic")
            self._add(record, slot.kind, slot.title)
        for index, slot in enumerate(self.slots):
            if slot.manager is not None:
                manager_id = self.records[record_of_slot[slot.manager]]["id"]
                self.records[record_of_slot[index]]["manager"] = {"id": manager_id}
            if slot.kind == "lead":
                self.teams.append(_Team(*slot.own_team, slot.department, slot.catalogue, record_of_slot[index]))

    def _add(self, record: dict[str, Any], kind: str, canonical_title: str) -> None:
        self.records.append(record)
        self.kinds.append(kind)
        self.canonical_titles.append(canonical_title)

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
            locale = _any(rng, self.locales)
            first_names, last_names, gender = diversity.name_pools()[locale][rng.random() < 0.5]
            pool = _NamePool(first_names, last_names, gender)
        else:
            pool = _name_pools()[_any(rng, self.locales)][rng.random() < 0.5]
        first, last = _any(rng, pool.first), _any(rng, pool.last)
        preferred = re.split(r"[- ]", first)[0] if ("-" in first or " " in first) else None
        jobs = [{"title": title, "is_primary": True}]
        if rng.random() < 0.02:
            jobs.insert(_between(rng, 0, 1), {"title": _any(rng, SIDE_JOBS), "is_primary": False})
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
            "employment_start_date": _iso_date(start),
            "employment_end_date": _iso_date(end) if end else None,
            "department": department[1],
            "department_id": department[0],
            "department_name": department[1],
            "team": {"id": team[0], "name": team[1]},
            "emails": (self._diverse_emails(rng, first, last, department[0], team[0], status) if self.diverse
                       else self._emails(rng, first, last)),
            "gender": pool.gender,
            "birthday": _iso_date(BASE_DATE.toordinal() - _between(rng, 19 * 365, 64 * 365)),
            "employment_role": {"type": "employee", "sub_type": "full_time" if rng.random() < 0.85 else "part_time"},
            "deleted": False,
            "created_at": _during_work(rng, created, after_noon=False),
            "updated_at": _during_work(rng, updated, after_noon=True),
        }
        if status == "terminated":  # a nullable enum without null in it: absent rather than null
            record["leaving_reason"] = _any(rng, LEAVING_REASONS)
        if self.diverse:
            self._diversify(rng, record, locale, gaps)
        self.next_id += _between(rng, 1, 3)  # Personio ids have gaps
        self.next_number += 1
        return record

    def _emails(self, rng: random.Random, first: str, last: str) -> list[dict[str, str]]:
        """A work address at the company domain, with the gaps and mess of real HR data."""
        given, family = _local_part(first), _local_part(last)
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
            emails.insert(_between(rng, 0, 1), self._personal_email(rng, base))
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
        own_type = _any(rng, _OWN_ADDRESS_TYPES)
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
            emails.insert(_between(rng, 0, 1), self._personal_email(rng, ascii_base))
        if rng.random() < 0.08:
            alias = self._unique_address(ascii_base, self.holding_domain)
            emails.append({"email": alias, "type": "secondary"})
        if rng.random() < 0.03 and not typo and own_type in ("work", "primary"):  # never the chosen one
            emails.append({"email": _any(rng, self.mailboxes), "type": "other"})
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
        record["employment_role"]["type"] = _any(rng, _EMPLOYMENT_TYPES)
        record["middle_name"] = _any(rng, ("Maria", "Johannes", "Anna", "José", "Ali")) if rng.random() < 0.04 else None
        record["nationalities"] = [country] + (["DE"] if country != "DE" and rng.random() < 0.1 else [])
        record["languages"] = sorted({diversity.LANGUAGE[locale], "EN"})
        record["timezone"] = diversity.TIMEZONES.get(office, "Europe/Berlin")
        record["works_remote"] = rng.random() < 0.2
        record["company_name"] = self.domain.removesuffix(".example")
        record["phone_numbers"] = (
            [{"number": f"+{_between(rng, 30, 49)} {_between(rng, 100, 999)} {_between(rng, 100000, 9999999)}",
              "type": _any(rng, ("work", "mobile", "direct-dial-in"))}]
            if rng.random() < 0.7 else []
        )
        record["addresses"] = [{
            "type": "work",
            "city": _any(rng, diversity.CITIES.get(office, ("Berlin",))),
            "country": office,
        }]
        record["custom_fields"] = [
            {"id": "cost_center", "name": "Kostenstelle", "value": _any(rng, diversity.COST_CENTRES)},
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
        number, domain = _between(rng, 1, 99), _any(rng, domains)
        while f"{base}{number}@{domain}" in self.personal_addresses:
            number += 1
        self.personal_addresses.add(f"{base}{number}@{domain}")
        return {"email": f"{base}{number}@{domain}", "type": "personal"}

    # -- churn ------------------------------------------------------------------------------------

    def churn(self, day: int) -> None:
        """One day of HR changes; everyone changed gets that day's `updated_at`."""
        if not self.teams:
            return
        rng = random.Random(stable_seed("churn", self.seed, day))
        today = BASE_DATE.toordinal() + day

        def touch(index: int) -> dict[str, Any]:
            self.records[index]["updated_at"] = _during_work(rng, today, after_noon=True)
            return self.records[index]

        for _ in range(_between(rng, 1, 3)):
            self._hire(rng, today)
        for _ in range(_between(rng, 1, 2)):
            if (leaver := self._pick(rng, "active")) is not None:
                touch(leaver).update(
                    employment_status="terminated",
                    employment_end_date=_iso_date(today - 1),
                    leaving_reason=_any(rng, LEAVING_REASONS),
                )
        if (mover := self._pick(rng, "active")) is not None:
            self._join(rng, touch(mover), mover, _any(rng, self.teams))
        if (reassigned := self._pick(rng, "active")) is not None:
            self._change_manager(rng, touch(reassigned))
        if rng.random() < 0.3 and (returning := self._pick(rng, "terminated")) is not None:
            record = touch(returning)
            record.update(employment_status="active", employment_start_date=_iso_date(today), employment_end_date=None)
            record.pop("leaving_reason", None)
            self._join(rng, record, returning, _any(rng, self.teams))
        self._rename_position(rng, touch)

    def _pick(self, rng: random.Random, status: str) -> int | None:
        """A random individual contributor with `status`; only they leave, so managers stay active."""
        for _ in range(1_000):
            index = int(rng.random() * len(self.records))
            if (self.kinds[index] == "ic" and self.records[index]["employment_status"] == status
                    and index not in self.no_rehire):
                return index
        return None

    def _hire(self, rng: random.Random, today: int) -> None:
        team = _any(rng, self.teams)
        title = self._catalogue_title(rng, team.catalogue)
        created = today - _between(rng, 3, 30)
        record = self._person(rng, title, team.department, (team.id, team.name), "active", today, None, created, today)
        record["manager"] = {"id": self.records[team.lead]["id"]}
        self._add(record, "ic", title)

    def _join(self, rng: random.Random, record: dict[str, Any], index: int, team: _Team) -> None:
        """Move someone into `team`: team, department and manager change; a new department brings a new title."""
        if record.get("department_id") != team.department[0]:
            title = self.canonical_titles[index] = self._catalogue_title(rng, team.catalogue)
            record.update(title=title, jobs=[{"title": title, "is_primary": True}])
        record.update(
            department=team.department[1],
            department_id=team.department[0],
            department_name=team.department[1],
            team={"id": team.id, "name": team.name},
            manager={"id": self.records[team.lead]["id"]},
        )

    def _change_manager(self, rng: random.Random, record: dict[str, Any]) -> None:
        """Report to another team lead, of the same department when it has one, staying in the same team."""
        leads = [self.records[team.lead]["id"] for team in self.teams]
        local = [self.records[team.lead]["id"] for team in self.teams if team.department[0] == record.get("department_id")]
        candidates = [lead for lead in local if lead != record["manager"]["id"]] or [
            lead for lead in leads if lead != record["manager"]["id"]
        ]
        if candidates:
            record["manager"] = {"id": _any(rng, candidates)}

    def _catalogue_title(self, rng: random.Random, catalogue: str) -> str:
        title = _any(rng, DEPARTMENTS[catalogue][0])
        return self.renamed.get(title, title)

    def _rename_position(self, rng: random.Random, touch) -> None:
        """Rename one position for everyone holding it (any spelling); new hires get the new name."""
        held = sorted({title for title in self.canonical_titles if title in RENAMES})
        if not held:
            return
        old = _any(rng, held)
        new = self.renamed[old] = RENAMES[old]
        for index, title in enumerate(self.canonical_titles):
            if title == old:
                record = touch(index)
                record["title"] = self.canonical_titles[index] = new
                for job in record["jobs"]:
                    if job["is_primary"]:
                        job["title"] = new


_OWN_ADDRESS_TYPES = diversity.weighted((("work", 72), ("primary", 25), (None, 3)))
_EMPLOYMENT_TYPES = diversity.weighted(diversity.EMPLOYMENT_TYPES)


def _status_for(roll: float) -> str:
    """About 3 % inactive (leave, sabbatical), 3 % terminated, 1.5 % onboarding ("other")."""
    if roll < 0.03:
        return "inactive"
    if roll < 0.06:
        return "terminated"
    return "other" if roll < 0.075 else "active"


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights`, exactly."""
    if not weights:
        return []
    scale = total / sum(weights)
    counts = [int(weight * scale) for weight in weights]
    for i in range(total - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def _team_names(suffixes: tuple[str, ...], region: str | None) -> Iterator[str]:
    """Team names inside one department: unique there, though other departments may reuse them."""
    for round_ in itertools.count(1):
        for suffix in suffixes:
            name = suffix if round_ == 1 else f"{suffix} {round_}"
            yield f"{name} {region}" if region else name


def generate_company(
    consumer_id: str,
    size: int,
    *,
    day: int = 0,
    profile: str = DEFAULT_PROFILE,
    shared_active_addresses: bool = False,
) -> list[dict[str, Any]]:
    """`size` employees of the company behind `consumer_id`, as served on day `day`.

    Same arguments, same records, in every process. Day k applies days 1..k of churn on top of
    day 0: hires, leavers, a team move, a manager change, a renamed position, sometimes a rehire.

    `profile` "diverse" (the default) is as varied as real HR data: names from ~40 locales (Latin
    with diacritics, Cyrillic, Greek, Japanese, Chinese), addresses built from them (some with
    non-ASCII local parts), several domains (regional, an IDN one, a group domain), several
    addresses per person, case/whitespace noise and typos, addresses recycled from leavers, a
    management chain ≥ 50 deep and a span ≥ 200 at 100,000, thousands of distinct titles, people
    without team or department, and the attributes a connector serves when it ignores `fields`.
    "standard" is the earlier, tidier company (10 locales, ASCII addresses on one domain, spans
    ≤ 10, ~60 titles). `shared_active_addresses` (diverse only) gives ~1 % of people their team's
    mailbox as their only address, so active people share addresses.
    """
    if size < 0 or day < 0:
        raise ValueError(f"size and day must not be negative, got size={size}, day={day}")
    with cyclic_gc_paused():
        company = _Company(consumer_id, size, profile, shared_active_addresses)
        for churn_day in range(1, day + 1):
            company.churn(churn_day)
    return company.records
