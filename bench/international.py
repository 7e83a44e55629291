"""International people for the address and invitation benchmarks: Apideck `Employee` records
whose work addresses are built from names in many scripts, as HR systems of international
companies hold them. Deterministic per seed; no project import, so the benchmarks can measure
older code from another checkout (PYTHONPATH) on the same data.

Shares (100,000 people, seed 7): about half the addresses have a non-ASCII local part (the name
as written: `zoë.rossi`, `李.雷`, `dmitrij.иванов`), the rest an ASCII-folded one (`zoe.rossi`);
95 % on the company's one domain, 5 % on three subsidiaries' domains, two of them IDN
(`bücher-gruppe.example`, `例え.example`). A 10-ary manager tree.
"""

from __future__ import annotations

import random
import unicodedata

FIRST = [
    "Zoë", "Jürgen", "Ada", "Søren", "Łukasz", "Émile", "Ñandú", "Çağla", "Ørjan", "Åsa", "Björn", "François",
    "José", "Małgorzata", "Dmitrij", "Иван", "Ольга", "Γιώργος", "Ελένη", "李", "王", "陽翔", "さくら", "민준",
    "محمد", "فاطمة", "अर्जुन", "प्रिया", "Nguyễn", "Thảo", "Ana", "Ben", "Chloé", "Mia", "Noah", "Leïla", "Ines",
    "Kwame", "Ayşe", "Siobhán",
]
LAST = [
    "Rossi", "Müller", "Lovelace", "Kierkegaard", "Wałęsa", "Zola", "Peña", "Yılmaz", "Ødegaard", "Ström",
    "Borg", "Dupré", "García", "Kowalska", "Иванов", "Петрова", "Παπαδόπουλος", "雷", "芳", "佐藤", "김",
    "الحسن", "शर्मा", "Trần", "Lê", "Schmidt", "Nowak", "O'Brien", "Ó Súilleabháin", "Dvořák", "Hämäläinen",
    "Smith", "Jones", "Okafor", "Öztürk", "Łabędź",
]
MAIN_DOMAIN = "acme-global.example"
OTHER_DOMAINS = ["bücher-gruppe.example", "例え.example", "acme-labs.example"]
TEAMS = [f"Team {n}" for n in range(1, 400)]
TITLES = ["Engineer", "Senior Engineer", "Manager", "Sales Lead", "Designer", "Analyst", "Recruiter"]


def fold(text: str) -> str:
    """ASCII-folded (accents dropped); letters of other scripts vanish."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii())


def local_part(first: str, last: str, n: int, native: bool) -> str:
    first, last = first.lower().replace(" ", ""), last.lower().replace(" ", "").replace("'", "")
    if not native:
        first, last = fold(first) or "p", fold(last) or "x"
    return f"{first}.{last}.{n}"


def records(size: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    people = []
    for n in range(1, size + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = MAIN_DOMAIN if rng.random() < 0.95 else rng.choice(OTHER_DOMAINS)
        address = f"{local_part(first, last, n, native=rng.random() < 0.5)}@{domain}"
        if rng.random() < 0.1:
            address = f"  {address.upper()} "  # case and whitespace noise as HR data has it
        people.append(
            {
                "id": str(n),
                "first_name": first,
                "last_name": last,
                "display_name": f"{first} {last}",
                "emails": [{"email": address, "type": "work"}],
                "employment_status": "active",
                "team": {"id": f"t{n % len(TEAMS)}", "name": TEAMS[n % len(TEAMS)]},
                "department_name": f"Department {n % 40}",
                "title": TITLES[n % len(TITLES)],
                "manager": {"id": str((n - 2) // 10 + 1)} if n > 1 else None,
                "updated_at": "2026-01-05T08:00:00Z",
            }
        )
    return people


def shares(people: list[dict]) -> dict[str, float]:
    addresses = [p["emails"][0]["email"].strip().lower() for p in people]
    local_non_ascii = sum(not a.rpartition("@")[0].isascii() for a in addresses)
    idn = sum(not a.rpartition("@")[2].isascii() for a in addresses)
    return {
        "non_ascii_local_share": round(local_non_ascii / len(addresses), 3),
        "idn_domain_share": round(idn / len(addresses), 3),
        "distinct_domains": len({a.rpartition("@")[2] for a in addresses}),
    }
