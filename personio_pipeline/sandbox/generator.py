"""Deterministic fake Personio companies, shaped like Apideck's unified HRIS `Employee`.

Tests, the demo and benchmarks need the same company for the same consumer id on every machine,
messy in the ways real HR data is (non-ASCII names, missing or oddly typed e-mails, title
spellings, leavers, rehires) and cheap at 100,000 employees. Faker is only used once per process
to fill name pools; people are then drawn from the pools with a seeded RNG.
"""

import itertools
import math
import random
from dataclasses import dataclass
from typing import Any, Iterator

from personio_pipeline.common.memory import cyclic_gc_paused
from personio_pipeline.sandbox import diversity
from personio_pipeline.sandbox.catalogue import (
    BASE_DATE,
    DEFAULT_PROFILE,
    DEPARTMENTS,
    EXECUTIVE_TITLES,
    HOME_LOCALE_SHARE,
    LOCALE_WEIGHTS,
    MAX_SPAN,
    PROFILES,
    REGIONS,
    TEAM_SIZE,
    TITLE_VARIANTS,
    between,
    company_domain,
    pick_one,
    stable_seed,
)
from personio_pipeline.sandbox.churn import Churn
from personio_pipeline.sandbox.people import People
from personio_pipeline.sandbox import history as history_events


@dataclass(slots=True)
class Slot:
    """A position in the org chart, before a person and an id are attached to it."""

    kind: str  # "ceo", "manager" (leads managers), "lead" (leads a team of ICs) or "ic"
    title: str
    manager: int | None  # slot index
    department: tuple[str, str]  # (id, name)
    team: tuple[str, str]  # (id, name) the holder belongs to
    own_team: tuple[str, str] | None  # the team the holder's direct reports belong to
    catalogue: str  # DEPARTMENTS key, for titles


@dataclass(slots=True)
class Team:
    id: str
    name: str
    department: tuple[str, str]
    catalogue: str
    lead: int  # record index


class _Company(People, Churn):
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
        self.founded = BASE_DATE.toordinal() - between(self.rng, 6 * 365, 18 * 365)
        if self.diverse:
            self._init_diverse(consumer_id)
        else:
            mix = [locale for locale, weight in LOCALE_WEIGHTS.items() for _ in range(weight)]
            home = pick_one(self.rng, mix)  # mostly German, like Personio's customers
            self.locales = [home] * round(len(mix) * HOME_LOCALE_SHARE / (1 - HOME_LOCALE_SHARE)) + mix
        self.no_rehire: set[int] = set()  # leavers whose address went to someone else
        self.unit_ids: set[str] = set()
        self.local_parts: dict[str, int] = {}  # work address local part → people using it
        self.personal_addresses: set[str] = set()
        self.slots: list[Slot] = []
        self.records: list[dict[str, Any]] = []
        self.kinds: list[str] = []
        self.canonical_titles: list[str] = []
        self.teams: list[Team] = []
        self.renamed: dict[str, str] = {}  # positions renamed by churn so far
        # A company with history (sandbox/history.py): who had an account, the pre-hires, on leave, leavers.
        self.history_account_ids: list[str] = []
        self.history_pre_hires: list[int] = []
        self.history_on_leave: list[int] = []
        self.history_leavers: list[int] = []
        self.next_id = 1_000_000 + (self.seed % 9_000) * 1_000
        self.next_number = 1
        if size > 0:
            self._plan(size)
            self._staff()

    def _init_diverse(self, consumer_id: str) -> None:
        """Locales, address conventions and the company's several domains (diverse profile)."""
        rng = self.rng
        home = pick_one(rng, diversity.weighted(diversity.HOME_LOCALES.items()))
        mix = diversity.weighted(diversity.LOCALE_WEIGHTS.items())
        share = diversity.HOME_LOCALE_SHARE
        self.locales = [home] * round(len(mix) * share / (1 - share)) + mix
        self.country = diversity.COUNTRY[home]
        self.address_style = pick_one(rng, diversity.weighted(diversity.ADDRESS_STYLES))
        self.umlauts = "ascii-ae" if rng.random() < 0.5 else "ascii"
        slug = self.domain.removesuffix(".example")
        self.idn_domain = f"{pick_one(rng, diversity.IDN_BRANDS)}.example"
        self.holding_domain = f"{slug}-group.example"
        self.region_domains = {region: f"{slug}-{code}.example" for region, code in diversity.REGION_DOMAIN.items()}
        self.mailboxes = [f"{box}@{self.domain}" for box in diversity.ROLE_MAILBOXES]
        self.department_domains: dict[str, str] = {}  # department id → its people's work domain
        self.department_sizes: list[tuple[int, str]] = []  # (headcount, department id)
        self.seniorities = diversity.weighted(diversity.SENIORITY)
        self.work_addresses: dict[str, tuple[int, str]] = {}  # address → (first holder's record index, status)
        self.recycled: set[str] = set()

    def _plan(self, size: int) -> None:
        """CEO, executives when there are more departments than one person can lead, departments."""
        board = (self._unit_id(), "Executive Board")
        management = (self._unit_id(), "Geschäftsführung")
        self.slots.append(Slot("ceo", "CEO", None, management, board, board, "Operations"))  # catalogue unused
        departments = self._departments(size) if size > 1 else []
        executives = []
        if len(departments) > MAX_SPAN:
            for number in range(math.ceil(len(departments) / MAX_SPAN)):
                title = EXECUTIVE_TITLES[number % len(EXECUTIVE_TITLES)]
                self.slots.append(Slot("manager", title, 0, management, board, board, "Operations"))
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
        branching = between(self.rng, *TEAM_SIZE)
        internal = (headcount - 2) // branching + 1  # nodes with at least one report
        first = len(self.slots)
        for i in range(headcount):
            manager = parent if i == 0 else first + (i - 1) // branching
            if i < internal:
                leads_team = branching * (branching * i + 1) + 1 >= headcount  # its first report has none
                own = (self._unit_id(), next(team_names)) if leads_team else leadership
                title = f"Head of {name}" if i == 0 else lead_title if leads_team else f"Director {name}"
                kind = "lead" if leads_team else "manager"
                self.slots.append(Slot(kind, title, manager, department, own, own, catalogue))
            else:
                team = self.slots[manager].own_team
                title = self._ic_title(catalogue, region) if self.diverse else pick_one(self.rng, titles)
                self.slots.append(Slot("ic", title, manager, department, team, None, catalogue))
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
            self.slots.append(Slot("lead", lead_title, manager, department, own, own, catalogue))
            manager = len(self.slots) - 1
            self.slots.append(Slot("ic", self._ic_title(catalogue, region), manager, department, own, None, catalogue))
        own = (self._unit_id(), next(team_names))
        self.slots.append(Slot("lead", lead_title, head, department, own, own, catalogue))
        hub = len(self.slots) - 1
        for _ in range(span):
            self.slots.append(Slot("ic", self._ic_title(catalogue, region), hub, department, own, None, catalogue))

    def _ic_title(self, catalogue: str, region: str | None) -> str:
        """A catalogue title, or one of its long tail: seniority, specialisation, region, local
        language, gender suffix. A 100,000-person company holds thousands of distinct titles."""
        rng = self.rng
        base = pick_one(rng, DEPARTMENTS[catalogue][0])
        if rng.random() < 0.4:
            return base
        local = diversity.LOCAL_TITLES.get(region or "", {})
        if base in local and rng.random() < 0.5:
            return local[base]
        title = pick_one(rng, self.seniorities) + base
        if rng.random() < 0.45:
            speciality = pick_one(rng, diversity.SPECIALISATIONS[catalogue])
            title += pick_one(rng, (f" – {speciality}", f" ({speciality})", f", {speciality}", f" {speciality}"))
        if region and rng.random() < 0.25:
            title += f" {region}"
        if rng.random() < 0.08:
            title += pick_one(rng, diversity.GENDER_SUFFIXES)
        return title

    def _unit_id(self) -> str:
        """Numeric ids for departments and teams, as Personio has them."""
        while True:
            candidate = str(between(self.rng, 100_000, 999_999))
            if candidate not in self.unit_ids:
                self.unit_ids.add(candidate)
                return candidate

    def _staff(self) -> None:
        """Put a person in every slot; ids and employee numbers follow the order of hiring."""
        rng, base = self.rng, BASE_DATE.toordinal()
        hires = []
        for index, slot in enumerate(self.slots):
            status, start, end = "active", self.founded, None
            if slot.kind != "ceo":
                start = between(rng, self.founded + 1, base - 90)
            if slot.kind == "ic":  # managers never leave or pause, so every manager is active
                roll = rng.random()
                status = _status_for(roll)
            if status == "terminated":
                end = between(rng, start + 30, base - 1)
            elif status == "other":  # onboarding: contract signed, not started yet
                start = base + between(rng, 1, 60)
            elif status == "active" and slot.kind == "ic" and rng.random() < 0.01:  # serving notice
                end = base + between(rng, 14, 90)
            hires.append((start, index, status, end))
        hires.sort()
        record_of_slot: dict[int, int] = {}
        for start, index, status, end in hires:
            slot = self.slots[index]
            title = slot.title
            if slot.kind == "ic" and rng.random() < (0.1 if self.diverse else 0.06):
                title = pick_one(rng, diversity.TITLE_VARIANTS if self.diverse else TITLE_VARIANTS)(title)
            created = min(start, base) - between(rng, 3, 40)
            last_change = end if end is not None and end < base else created
            updated = between(rng, last_change, base - 1)
            record_of_slot[index] = len(self.records)
            record = self._person(rng, title, slot.department, slot.team, status, start, end, created, updated,
                                  gaps=slot.kind == "ic")
            self._add(record, slot.kind, slot.title)
        for index, slot in enumerate(self.slots):
            if slot.manager is not None:
                manager_id = self.records[record_of_slot[slot.manager]]["id"]
                self.records[record_of_slot[index]]["manager"] = {"id": manager_id}
            if slot.kind == "lead":
                self.teams.append(Team(*slot.own_team, slot.department, slot.catalogue, record_of_slot[index]))

    def _add(self, record: dict[str, Any], kind: str, canonical_title: str) -> None:
        self.records.append(record)
        self.kinds.append(kind)
        self.canonical_titles.append(canonical_title)


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
    history: bool = False,
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
    mailbox as their only address, so active people share addresses. `history`: the customer used
    Teammeter before (pre-hires, leaves, leavers, a rehire under a new id, a recycled address; see
    `history.py`, whose `existing_accounts` are the accounts Teammeter has before the first sync).
    """
    if size < 0 or day < 0:
        raise ValueError(f"size and day must not be negative, got size={size}, day={day}")
    return build_company(consumer_id, size, day=day, profile=profile, shared_active_addresses=shared_active_addresses,
                         history=history).records


def build_company(consumer_id: str, size: int, *, day: int = 0, profile: str = DEFAULT_PROFILE,
                  shared_active_addresses: bool = False, history: bool = False) -> _Company:
    """`generate_company`'s company itself (its records and what made them)."""
    with cyclic_gc_paused():
        company = _Company(consumer_id, size, profile, shared_active_addresses)
        if history and size > 0:
            history_events.day0(company)
        for churn_day in range(1, day + 1):
            company.churn(churn_day)
            if history:
                history_events.on_day(company, churn_day)
    return company
