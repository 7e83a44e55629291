"""The sandbox's company generator: deterministic, realistic where the pipeline is fragile, and fast."""

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

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personio_pipeline.apideck.contract import shared_contract
from personio_pipeline.apideck.sandbox.generator import BASE_DATE, RENAMES, generate_company

CONSUMER = "acme-gmbh"
SIZE = 2_000
WORK_DOMAIN = "@acme-gmbh.example"


@pytest.fixture(scope="module")
def company():
    return generate_company(CONSUMER, SIZE)


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


def test_same_consumer_same_records(company):
    assert generate_company(CONSUMER, SIZE) == company


def test_same_records_in_another_process_with_another_hash_seed(company):
    """The seed comes from a stable hash, not Python's salted `hash()`."""
    script = (
        "import hashlib, json; from personio_pipeline.apideck.sandbox.generator import generate_company; "
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


@pytest.mark.parametrize("size", [0, 1, 2, 7, 120])
def test_exactly_the_requested_size(size):
    records = generate_company("tiny", size)
    assert len(records) == size
    assert_org_invariants(records)


def test_one_person_is_a_ceo_without_manager():
    (ceo,) = generate_company("solo", 1)
    assert ceo["title"] == "CEO" and "manager" not in ceo and ceo["employment_status"] == "active"


def test_negative_arguments_are_refused():
    with pytest.raises(ValueError):
        generate_company("x", -1)
    with pytest.raises(ValueError):
        generate_company("x", 10, day=-1)


# -- realism --------------------------------------------------------------------------------------


def test_org_invariants(company):
    assert_org_invariants(company)


def test_spans_of_control_are_reasonable(company):
    spans = collections.Counter(r["manager"]["id"] for r in company if "manager" in r)
    assert max(spans.values()) <= 10
    assert 4 <= statistics.median(spans.values()) <= 10


def test_non_ascii_names_with_ascii_emails(company):
    names = "".join(r["first_name"] + r["last_name"] for r in company)
    assert sum(letter in names for letter in "üöäéèłśşçğ") >= 5
    assert all(e["email"].isascii() for r in company for e in r["emails"])


def test_email_gaps_and_mess(company):
    emails = [e for r in company for e in r["emails"]]
    without = sum(not r["emails"] for r in company) / SIZE
    personal_only = [r for r in company if r["emails"] and {e["type"] for e in r["emails"]} == {"personal"}]
    assert 0.01 <= without <= 0.06
    assert personal_only
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


def test_departments_and_teams(company):
    team_departments = collections.defaultdict(set)
    team_names = collections.defaultdict(set)
    for record in company:
        assert record["department"] == record["department_name"]
        team_departments[record["team"]["id"]].add(record["department_id"])
        team_names[record["team"]["id"]].add(record["team"]["name"])
    assert all(len(departments) == 1 for departments in team_departments.values()), "teams sit in one department"
    assert all(len(names) == 1 for names in team_names.values())
    departments = lambda records: {r["department_id"] for r in records}  # noqa: E731
    assert len(departments(generate_company("small", 120))) < len(departments(company)) < len(team_departments)


def test_titles_come_in_spelling_variants_and_jobs_agree(company):
    spellings = collections.defaultdict(set)
    for record in company:
        spellings[normalised(record["title"])].add(record["title"])
        primary = [job for job in record["jobs"] if job["is_primary"]]
        assert [job["title"] for job in primary] == [record["title"]]
    assert any(len(variants) > 1 for variants in spellings.values())
    assert any("  " in record["title"] for record in company)


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
        "moved": [i for i in changed if not same(i, "team")],
        "new_manager": [i for i in changed if same(i, "team") and not same(i, "manager")],
        "renamed": {
            (normalised(old[i]["title"]), new[i]["title"])
            for i in changed
            if same(i, "department_id") and not same(i, "title")
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
@given(consumer_id=st.text(min_size=1, max_size=30), size=st.integers(0, 80), day=st.integers(0, 3))
def test_any_company_keeps_the_invariants(consumer_id, size, day):
    records = generate_company(consumer_id, size, day=day)
    assert len(records) >= size
    assert_org_invariants(records)
    assert all(e["email"].isascii() for r in records for e in r["emails"])


def test_generates_100k_employees_in_seconds():
    generate_company("warm-up", 10)
    started = time.perf_counter()
    records = generate_company("big-co", 100_000)
    elapsed = time.perf_counter() - started
    print(f"\ngenerated {len(records):,} employees in {elapsed:.2f}s")
    assert len(records) == 100_000
    assert elapsed < 30
