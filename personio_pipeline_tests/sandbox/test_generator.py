"""The sandbox's company generator: deterministic, realistic where the pipeline is fragile, and fast.

Most tests run on the default (diverse) profile; the standard profile keeps its own tests of what
sets it apart (ASCII addresses on one domain, small spans, nobody sharing an address).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personio_pipeline.sandbox.catalogue import BASE_DATE, RENAMES, company_domain
from personio_pipeline.sandbox.contract import shared_contract
from personio_pipeline.sandbox.generator import generate_company

CONSUMER = "acme-gmbh"
SIZE = 2_000
WORK_DOMAIN = "@acme-gmbh.example"


@pytest.fixture(scope="module")
def company():
    return generate_company(CONSUMER, SIZE)


@pytest.fixture(scope="module")
def standard():
    return generate_company(CONSUMER, SIZE, profile="standard")


def address_key(address: str) -> str:
    """How an address compares once trimmed, lowercased and in composed Unicode."""
    return unicodedata.normalize("NFC", address.strip().lower())


def normalised(title: str) -> str:
    return " ".join(title.replace("(m/w/d)", "").split()).casefold()


RENAMED = {normalised(old): new for old, new in RENAMES.items()}


def by_id(records):
    return {record["id"]: record for record in records}


def assert_org_invariants(records):
    """One root, every manager exists and is active, no cycles, ids unique, records fit the spec."""
    people = by_id(records)
    assert len(people) == len(records), "ids are unique"
    roots = [r for r in records if "manager" not in r]
    assert len(roots) == (1 if records else 0)
    for record in records:
        seen = {record["id"]}
        while "manager" in record:
            manager_id = record["manager"]["id"]
            assert manager_id in people, f"manager {manager_id} exists"
            assert people[manager_id]["employment_status"] == "active", "managers are active"
            assert manager_id not in seen, "no reporting cycle"
            seen.add(manager_id)
            record = people[manager_id]
    contract = shared_contract()
    for record in records:
        contract.validate_schema("Employee", record)


# -- determinism ----------------------------------------------------------------------------------


def test_same_consumer_same_records(company, standard):
    assert generate_company(CONSUMER, SIZE) == company
    assert generate_company(CONSUMER, SIZE, profile="standard") == standard
    assert generate_company(CONSUMER, SIZE, profile="diverse") == company != standard


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown sandbox profile 'messy'"):
        generate_company(CONSUMER, 10, profile="messy")


def test_same_records_in_another_process_with_another_hash_seed(company):
    """The seed comes from a stable hash, not Python's salted `hash()`."""
    script = (
        "import hashlib, json; from personio_pipeline.sandbox.generator import generate_company; "
        f"print(hashlib.sha256(json.dumps(generate_company({CONSUMER!r}, {SIZE})).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == hashlib.sha256(json.dumps(company).encode()).hexdigest()


def test_different_consumers_get_different_companies(company):
    other = generate_company("globex-sa", SIZE)
    names = lambda records: {(r["first_name"], r["last_name"]) for r in records}  # noqa: E731
    assert len(names(company) & names(other)) < SIZE // 10
    assert {r["id"] for r in company} != {r["id"] for r in other}
    assert all(WORK_DOMAIN not in e["email"].lower() for r in other for e in r["emails"])


@pytest.mark.parametrize("profile", ["diverse", "standard"])
@pytest.mark.parametrize("size", [0, 1, 2, 7, 120])
def test_exactly_the_requested_size(size, profile):
    records = generate_company("tiny", size, profile=profile)
    assert len(records) == size
    assert_org_invariants(records)


@pytest.mark.parametrize("profile", ["diverse", "standard"])
def test_one_person_is_a_ceo_without_manager(profile):
    (ceo,) = generate_company("solo", 1, profile=profile)
    assert ceo["title"] == "CEO" and "manager" not in ceo and ceo["employment_status"] == "active"


def test_negative_arguments_are_refused():
    with pytest.raises(ValueError):
        generate_company("x", -1)
    with pytest.raises(ValueError):
        generate_company("x", 10, day=-1)


# -- realism --------------------------------------------------------------------------------------


def test_org_invariants(company):
    assert_org_invariants(company)


def test_spans_of_control_are_reasonable_with_one_wide_team(company):
    """Trees branch 5–9 wide, except one team lead with ~0.7·√N direct reports."""
    spans = collections.Counter(r["manager"]["id"] for r in company if "manager" in r)
    widest, second = sorted(spans.values(), reverse=True)[:2]
    assert widest >= int(0.7 * SIZE**0.5) == 31 and second <= 10
    assert 4 <= statistics.median(spans.values()) <= 10


def test_standard_spans_stay_small(standard):
    spans = collections.Counter(r["manager"]["id"] for r in standard if "manager" in r)
    assert max(spans.values()) <= 10
    assert 4 <= statistics.median(spans.values()) <= 10


def depths(records) -> dict[str, int]:
    """Each person's distance from the top of the hierarchy."""
    people, known = by_id(records), {}

    def depth(employee_id: str) -> int:
        chain = []
        while employee_id not in known and "manager" in people[employee_id]:
            chain.append(employee_id)
            employee_id = people[employee_id]["manager"]["id"]
        base = known.setdefault(employee_id, known.get(employee_id, 0))
        for offset, member in enumerate(reversed(chain), start=1):
            known[member] = base + offset
        return known[chain[0]] if chain else base

    return {employee_id: depth(employee_id) for employee_id in people}


def test_a_deep_management_chain(company, standard):
    assert max(depths(company).values()) >= int(SIZE**0.5 / 5) == 8
    assert max(depths(standard).values()) <= 6


def test_names_from_many_scripts(company):
    names = [r["first_name"] + r["last_name"] for r in company]
    letters = "".join(names)
    assert sum(letter in letters for letter in "üöäéèłśşçğřžåøæőţđ") >= 12, "Latin with diacritics"
    assert any("\u0400" <= letter <= "\u04ff" for letter in letters), "Cyrillic"
    assert any("\u0370" <= letter <= "\u03ff" for letter in letters), "Greek"
    assert any("\u4e00" <= letter <= "\u9fff" for letter in letters), "Japanese kanji"
    assert any(name != unicodedata.normalize("NFC", name) for name in names), "some stored decomposed (NFD)"
    assert 0.1 <= sum(not name.isascii() for name in names) / SIZE <= 0.6


def test_standard_names_are_non_ascii_with_ascii_emails(standard):
    names = "".join(r["first_name"] + r["last_name"] for r in standard)
    assert sum(letter in names for letter in "üöäéèłśşçğ") >= 5
    assert all(e["email"].isascii() for r in standard for e in r["emails"])


def work_addresses(records):
    return [e["email"] for r in records for e in r.get("emails", []) if e.get("type") != "personal"]


def test_addresses_derive_from_names_some_with_non_ascii_local_parts(company):
    work = [address_key(a) for a in work_addresses(company)]
    non_ascii_local = [a for a in work if not a.rsplit("@", 1)[0].isascii()]
    assert 0.005 <= len(non_ascii_local) / len(work) <= 0.08, "a realistic small share"
    assert any(any(letter in a for letter in "äöüëéèçłšž") for a in non_ascii_local)
    own = [r for r in company if r.get("emails") and r["emails"][0].get("type") in ("work", "primary")]
    derived = sum(
        any(part in r["emails"][0]["email"].lower() for part in (r["last_name"].lower()[:3], r["first_name"].lower()[:3]))
        for r in own if r["last_name"].isascii() and r["first_name"].isascii()
    )
    assert derived / len(own) > 0.6, "most local parts are built from the person's name"


def test_several_domains_one_of_them_idn(company):
    domain = company_domain(CONSUMER)
    hosts = collections.Counter(address_key(a).rsplit("@", 1)[1] for a in work_addresses(company))
    own = {host for host in hosts if host.startswith(domain.removesuffix(".example"))}
    assert domain in own and len(own) >= 3, "company domain, regional and group domains"
    idn = {host: count for host, count in hosts.items() if not host.isascii()}
    assert len(idn) == 1 and 0 < sum(idn.values()) / sum(hosts.values()) < 0.1, "one IDN domain, a small share"
    assert all(host in own or host in idn for host in hosts)


def test_email_gaps_and_mess(company):
    emails = [e for r in company for e in r.get("emails", [])]
    without = sum(not r.get("emails") for r in company) / SIZE
    personal_only = [r for r in company if r.get("emails") and {e.get("type") for e in r["emails"]} == {"personal"}]
    assert 0.01 <= without <= 0.06
    assert personal_only
    assert {e.get("type") for e in emails} == {"work", "primary", "personal", "secondary", "other", None}
    assert sum(len(r["emails"]) > 1 for r in company) / SIZE >= 0.2, "many people have several addresses"
    assert sum(len({e.get("type") for e in r["emails"]}) >= 3 for r in company) >= 5, "some of three types"
    work = work_addresses(company)
    assert any(address != address.strip() for address in work), "some with surrounding spaces"
    assert any(address.endswith("\u00a0") or address.startswith("\t") for address in work), "other whitespace"
    assert any(address.strip() != address.strip().lower() for address in work), "some in upper case"
    typos = [a for a in work if ".." in a or ".@" in a]
    assert 0 < len(typos) / len(work) < 0.02, "a few typos"


def test_shared_addresses_never_between_two_active_people(company):
    """Leavers' addresses are recycled and role mailboxes appear beside people's own; two active
    people never share an address that would be chosen over their own (work or primary first)."""
    holders = collections.defaultdict(list)
    for record in company:
        for entry in record.get("emails", []):
            holders[address_key(entry["email"])].append((record, entry.get("type")))
    shared = {address: people for address, people in holders.items() if len(people) > 1}
    recycled = [people for people in shared.values() if {r["employment_status"] for r, _ in people} >= {"terminated"}]
    mailboxes = [people for people in shared.values() if {kind for _, kind in people} == {"other"}]
    assert recycled and mailboxes
    for people in shared.values():
        active = [(record, kind) for record, kind in people if record["employment_status"] == "active"]
        if len(active) > 1:
            assert all(kind == "other" for _, kind in active)
            assert all(any(e.get("type") in ("work", "primary") for e in record["emails"]) for record, _ in active)


def test_shared_active_addresses_only_when_asked():
    def active_sharing(records):
        holders = collections.defaultdict(set)
        for record in records:
            if record["employment_status"] == "active" and len(record.get("emails", [])) == 1:
                holders[address_key(record["emails"][0]["email"])].add(record["id"])
        return {address for address, ids in holders.items() if len(ids) > 1}

    assert not active_sharing(generate_company(CONSUMER, SIZE))
    shared = active_sharing(generate_company(CONSUMER, SIZE, shared_active_addresses=True))
    assert shared and all(address.startswith("team-") for address in shared)


def test_standard_email_gaps_and_mess(standard):
    emails = [e for r in standard for e in r["emails"]]
    assert {e["type"] for e in emails} == {"work", "primary", "personal"}
    work = [e["email"] for e in emails if e["type"] != "personal"]
    assert all(address.strip().lower().endswith(WORK_DOMAIN) for address in work)
    assert any(address != address.strip() for address in work), "some with surrounding spaces"
    assert any(address.strip() != address.strip().lower() for address in work), "some in upper case"
    assert len({e["email"].strip().lower() for e in emails}) == len(emails), "nobody shares an address"


def test_employment_statuses(company):
    statuses = collections.Counter(r["employment_status"] for r in company)
    assert statuses["active"] / SIZE >= 0.85
    assert 0.015 <= statuses["inactive"] / SIZE <= 0.05
    assert 0.015 <= statuses["terminated"] / SIZE <= 0.05
    assert statuses["other"] > 0
    base = BASE_DATE.isoformat()
    for record in company:
        if record["employment_status"] == "terminated":
            assert record["employment_start_date"] < record["employment_end_date"] < base
            assert record["leaving_reason"]
    assert any(r["employment_end_date"] for r in company if r["employment_status"] == "active"), "serving notice"


@pytest.mark.parametrize("profile", ["diverse", "standard"])
def test_departments_and_teams(profile, company, standard):
    records = company if profile == "diverse" else standard
    team_departments = collections.defaultdict(set)
    team_names = collections.defaultdict(set)
    for record in records:
        assert record.get("department") == record.get("department_name")
        if record.get("team"):
            team_departments[record["team"]["id"]].add(record.get("department_id"))
            team_names[record["team"]["id"]].add(record["team"]["name"])
    assert all(len(departments) == 1 for departments in team_departments.values()), "teams sit in one department"
    assert all(len(names) == 1 for names in team_names.values())
    departments = lambda records: {r.get("department_id") for r in records} - {None}  # noqa: E731
    small = generate_company("small", 120, profile=profile)
    assert len(departments(small)) < len(departments(records)) < len(team_departments)


def test_some_people_have_no_team_or_department(company, standard):
    no_team = [r for r in company if not r.get("team")]
    no_department = [r for r in company if not r.get("department_id")]
    assert 0.01 <= len(no_team) / SIZE <= 0.05 and 0.002 <= len(no_department) / SIZE <= 0.02
    assert any("team" not in r for r in no_team) and any("team" in r for r in no_team), "absent and null"
    assert all(r.get("manager") for r in no_team), "they still have a manager"
    assert all(r.get("team") and r.get("department_id") for r in standard)


def test_titles_come_in_spelling_variants_and_jobs_agree(company):
    spellings = collections.defaultdict(set)
    for record in company:
        spellings[normalised(record["title"])].add(record["title"])
        primary = [job for job in record["jobs"] if job["is_primary"]]
        assert [job["title"] for job in primary] == [record["title"]]
    assert any(len(variants) > 1 for variants in spellings.values())
    assert any("  " in record["title"] for record in company)
    assert any("\u00a0" in record["title"] or "\t" in record["title"] for record in company)
    assert len(spellings) >= 300, "a long tail of titles (thousands at 100,000)"


def test_identifiers_and_timestamps(company):
    assert all(r["id"].isdigit() for r in company)
    assert len({r["employee_number"] for r in company}) == SIZE
    for record in company:
        dt.date.fromisoformat(record["employment_start_date"])
        assert record["created_at"].endswith("Z") and record["created_at"] <= record["updated_at"]


# -- churn ----------------------------------------------------------------------------------------


def day_changes(before, after, day):
    """What happened on `day`, read off two consecutive days."""
    old, new = by_id(before), by_id(after)
    today = (BASE_DATE + dt.timedelta(days=day)).isoformat()
    changed = [i for i in new if i in old and new[i] != old[i]]
    status = {i: (old[i]["employment_status"], new[i]["employment_status"]) for i in changed}
    same = lambda i, key: old[i][key] == new[i][key]  # noqa: E731
    return {
        "hired": [i for i in new if i not in old],
        "left": [i for i in changed if status[i] == ("active", "terminated")],
        "rehired": [i for i in changed if status[i] == ("terminated", "active")],
        "moved": [i for i in changed if old[i].get("team") != new[i].get("team")],
        "new_manager": [i for i in changed if old[i].get("team") == new[i].get("team") and not same(i, "manager")],
        "renamed": {
            (normalised(old[i]["title"]), new[i]["title"])
            for i in changed
            if old[i].get("department_id") == new[i].get("department_id") and not same(i, "title")
        },
        "touched_today": all(new[i]["updated_at"].startswith(today) for i in changed),
        "gone": [i for i in old if i not in new],
    }


@pytest.fixture(scope="module")
def days():
    return [generate_company(CONSUMER, SIZE, day=day) for day in range(0, 21)]


def test_each_day_brings_hires_leavers_a_move_a_manager_change_and_a_rename(days):
    for day in range(1, len(days)):
        changes = day_changes(days[day - 1], days[day], day)
        assert 1 <= len(changes["hired"]) <= 3, day
        assert 1 <= len(changes["left"]) <= 2, day
        assert changes["moved"] and changes["new_manager"], day
        ((old, new),) = changes["renamed"]
        assert RENAMED[old] == new, day
        assert changes["touched_today"] and not changes["gone"], day


def test_hires_and_leavers_look_right(days):
    day = 3
    changes = day_changes(days[day - 1], days[day], day)
    people = by_id(days[day])
    today = (BASE_DATE + dt.timedelta(days=day)).isoformat()
    for hire in changes["hired"]:
        assert people[hire]["employment_status"] == "active"
        assert people[hire]["employment_start_date"] == today
    for leaver in changes["left"]:
        assert people[leaver]["employment_end_date"] < today


def test_a_former_employee_is_rehired_under_the_same_id(days):
    rehires = [(day, i) for day in range(1, len(days)) for i in day_changes(days[day - 1], days[day], day)["rehired"]]
    assert rehires
    day, rehired = rehires[0]
    record = by_id(days[day])[rehired]
    assert record["employment_end_date"] is None and "leaving_reason" not in record
    assert record["employment_start_date"] == (BASE_DATE + dt.timedelta(days=day)).isoformat()


def test_a_renamed_position_is_gone_for_good(days):
    ((old, new),) = day_changes(days[0], days[1], 1)["renamed"]
    later = {normalised(r["title"]) for r in days[-1]}
    assert old not in later and normalised(new) in later


def test_churn_is_deterministic_and_keeps_the_invariants(days):
    assert generate_company(CONSUMER, SIZE, day=20) == days[20]
    assert_org_invariants(days[20])


# -- properties and speed -------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    consumer_id=st.text(min_size=1, max_size=30),
    size=st.integers(0, 80),
    day=st.integers(0, 3),
    profile=st.sampled_from(["diverse", "standard"]),
)
def test_any_company_keeps_the_invariants(consumer_id, size, day, profile):
    records = generate_company(consumer_id, size, day=day, profile=profile)
    assert len(records) >= size
    assert_org_invariants(records)
    if profile == "standard":
        assert all(e["email"].isascii() for r in records for e in r["emails"])


@pytest.fixture(scope="module")
def big():
    generate_company("warm-up", 10)
    started = time.perf_counter()
    records = generate_company("big-co", 100_000)
    return records, time.perf_counter() - started


@pytest.mark.slow  # 100,000 people
def test_generates_100k_employees_in_seconds(big):
    records, elapsed = big
    print(f"\ngenerated {len(records):,} employees in {elapsed:.2f}s")
    assert len(records) == 100_000
    assert elapsed < 30


@pytest.mark.slow  # 100,000 people
def test_at_100k_deep_chains_wide_spans_and_thousands_of_titles(big):
    records, _ = big
    spans = collections.Counter(r["manager"]["id"] for r in records if "manager" in r)
    assert max(spans.values()) >= 200
    assert max(depths(records).values()) >= 50
    titles = {" ".join(r["title"].split()).casefold() for r in records}
    assert len(titles) >= 2_000
    spelt = collections.defaultdict(set)
    for record in records:
        spelt[" ".join(record["title"].split()).casefold()].add(record["title"])
    assert sum(len(spellings) > 1 for spellings in spelt.values()) >= 200, "many titles in several spellings"


def test_a_company_with_history_is_deterministic_and_tells_its_story():
    from personio_pipeline.sandbox import history
    from personio_pipeline.sandbox.generator import build_company

    day0, again = build_company("story", 200, history=True), build_company("story", 200, history=True)
    assert day0.records == again.records and history.existing_accounts(day0) == history.existing_accounts(again)
    assert all(day0.records[i]["employment_start_date"] > "2027-01-01" for i in day0.history_pre_hires)
    assert {day0.records[i]["employment_status"] for i in day0.history_on_leave} == {"other"}
    seeded = history.existing_accounts(day0)
    assert len(seeded) > 200 // 4 and sum(a.registered for a in seeded) >= len(seeded) // 2 - 1
    assert seeded[-2:] == list(history.COACHES)
    day2 = build_company("story", 200, day=2, history=True)
    former, recycled_from = (day2.records[i] for i in day2.history_leavers)
    rehire, newcomer = day2.records[-2:]
    assert former["employment_status"] == recycled_from["employment_status"] == "terminated"
    assert rehire["id"] != former["id"] and rehire["display_name"] == former["display_name"]
    assert rehire["emails"] == former["emails"] and rehire["employment_status"] == "active"
    assert newcomer["display_name"] != recycled_from["display_name"]
    assert newcomer["emails"][0]["email"] == recycled_from["emails"][0]["email"]
    assert generate_company("story", 200, day=2) != day2.records  # without history: the plain company
