"""What the sandbox's fake companies are made of: departments and titles, locales and their
name pools, the renames churn applies, and the seeded helpers every part of the generator draws
with (`between`, `pick_one`: `random.Random` without its argument checks, just as deterministic).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from faker import Faker

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
def local_part(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", ascii_fold(name).lower().replace(" ", "-"))


def company_domain(consumer_id: str) -> str:
    """The company's e-mail domain, under the reserved `.example` TLD so nothing is ever deliverable."""
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_fold(consumer_id).lower()).strip("-")[:50] or "company"
    return f"{slug}.example"


@dataclass(frozen=True)
class NamePool:
    first: tuple[str, ...]
    last: tuple[str, ...]
    gender: str


@functools.lru_cache(maxsize=None)
def name_pools() -> dict[str, tuple[NamePool, NamePool]]:
    """Names per locale and gender, drawn once from a fixed-seed Faker (about 0.3 s)."""
    pools = {}
    for locale in LOCALE_WEIGHTS:
        fake = Faker(locale)
        fake.seed_instance(0)
        pools[locale] = tuple(
            NamePool(
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
def iso_date(ordinal: int) -> str:
    return dt.date.fromordinal(ordinal).isoformat()


def timestamp(ordinal: int, second_of_day: int) -> str:
    hours, rest = divmod(second_of_day, 3600)
    return f"{iso_date(ordinal)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000Z"


def between(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint` without its argument checks: ten times faster, just as deterministic."""
    return low + int(rng.random() * (high - low + 1))


def pick_one(rng: random.Random, items):
    return items[int(rng.random() * len(items))]


def during_work(rng: random.Random, ordinal: int, *, after_noon: bool) -> str:
    """Mornings for creation and afternoons for updates, so one day's update never precedes its creation."""
    low = 12 * 3600 if after_noon else 7 * 3600
    return timestamp(ordinal, between(rng, low, low + 5 * 3600))
