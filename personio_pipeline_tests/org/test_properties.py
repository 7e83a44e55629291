"""Property tests: any record the Apideck `Employee` schema allows (restricted to our fields:
every attribute absent or null, unknown enum strings, empty or null arrays, emails with a null
address, garbage dates) goes through the model without a crash and with its invariants intact."""

import json
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personio_pipeline.org import checks
from personio_pipeline.org.columns import EMPLOYEE_COLUMNS, PRESENT_STATUSES, ROLE_COLUMNS, TEAM_COLUMNS, UNIT_COLUMNS
from personio_pipeline.org.employees import check_email, normalise_employees
from personio_pipeline.org.held_back import held_back_records
from personio_pipeline.org.sanitise import clean_text, fit_key
from personio_pipeline.org.structure import (
    derive_reporting_lines,
    derive_roles,
    derive_teams,
    derive_units,
    nameless_structures,
)

TODAY = date(2025, 6, 1)
MODEL_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ID_POOL = [str(number) for number in range(1, 7)]
ids = st.one_of(st.sampled_from(ID_POOL), st.sampled_from([" 3 ", "", "   "]), st.none(), st.text(max_size=3))
texts = st.one_of(
    st.none(), st.text(max_size=12), st.sampled_from(["Ada", "  Zoë  Øre ", "李雷", "ENGINEER", "engineer ", "Engineer"])
)
dates = st.one_of(
    st.none(),
    st.dates(date(1990, 1, 1), date(2040, 12, 31)).map(date.isoformat),
    st.datetimes(datetime(1990, 1, 1), datetime(2040, 12, 31)).map(lambda moment: moment.isoformat() + "Z"),
    st.sampled_from(["9999-12-31", "0001-01-01", "31.12.2024", "2024-02-30", ""]),
    st.text(max_size=12),
)
email_addresses = st.one_of(
    st.none(),
    st.emails(),
    st.sampled_from(["Ada@Example.com ", "shared@example.com", "SHARED@example.com", "not an address", "x@localhost"]),
    st.text(max_size=15),
)
emails = st.one_of(
    st.none(),
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "email": email_addresses,
                "type": st.one_of(
                    st.none(),
                    st.sampled_from(["primary", "secondary", "work", "personal", "billing", "other"]),
                    st.text(max_size=6),
                ),
            },
        ),
        max_size=3,
    ),
)
statuses = st.one_of(
    st.none(), st.sampled_from(["active", "active", "active", "inactive", "terminated", "other"]), st.text(max_size=8)
)
jobs = st.one_of(
    st.none(),
    st.lists(
        st.fixed_dictionaries({}, optional={"title": texts, "is_primary": st.one_of(st.none(), st.booleans())}),
        max_size=3,
    ),
)


def objects_with(**fields):
    """A nullable object whose every attribute may be absent."""
    return st.one_of(st.none(), st.fixed_dictionaries({}, optional=fields))


OPTIONAL_FIELDS = {
    "first_name": texts,
    "last_name": texts,
    "display_name": texts,
    "preferred_name": texts,
    "emails": emails,
    "employment_status": statuses,
    "title": texts,
    "jobs": jobs,
    "manager": objects_with(id=st.one_of(st.none(), st.sampled_from([*ID_POOL, "404"]))),
    "department_id": st.one_of(st.none(), st.sampled_from(["d1", "d2", ""])),
    "department_name": texts,
    "department": texts,
    "team": objects_with(id=st.one_of(st.none(), st.sampled_from(["t1", "t2"])), name=texts),
    "employee_number": texts,
    "employment_start_date": dates,
    "employment_end_date": dates,
    "deleted": st.one_of(st.none(), st.booleans()),
    "created_at": dates,
    "updated_at": dates,
}
MANAGED_FIELDS = ("id", "employment_status", "manager", "emails", "employment_end_date", "deleted")

# Anything the schema allows: most such records are inactive and unconnected.
any_records = st.fixed_dictionaries({}, optional={"id": ids, **OPTIONAL_FIELDS})
# Active people with addresses and managers, so lines, cycles and shared addresses turn up.
working_records = st.fixed_dictionaries(
    {
        "id": st.sampled_from(ID_POOL),
        "employment_status": st.just("active"),
        "manager": st.fixed_dictionaries({"id": st.sampled_from([*ID_POOL, *ID_POOL, "404", None])}),
        "emails": st.lists(
            st.fixed_dictionaries(
                {"email": st.one_of(st.sampled_from(["shared@example.com", "Ada@Example.com "]), email_addresses)},
                optional={"type": st.sampled_from(["work", "personal"])},
            ),
            max_size=2,
        ),
    },
    optional={key: value for key, value in OPTIONAL_FIELDS.items() if key not in MANAGED_FIELDS},
)
record_lists = st.lists(st.one_of(any_records, working_records), max_size=25)


def served_id(record: dict) -> str | None:
    """The id as the model keys it: cleaned text (control characters out), within the key length."""
    return fit_key(clean_text(record.get("id")))


@MODEL_SETTINGS
@given(record_lists)
def test_every_served_id_appears_exactly_once(records):
    normalised = normalise_employees(records, TODAY)
    table = normalised.table
    served = [served_id(record) for record in records]
    assert list(table.columns) == list(EMPLOYEE_COLUMNS)
    assert table["employee_id"].is_unique
    assert set(table["employee_id"]) == set(served) - {None}
    assert normalised.without_id == served.count(None)
    assert set(table["status"]) <= {"active", "inactive", "terminated", "unknown"}
    assert set(normalised.duplicates["employee_id"]) == {i for i in set(served) - {None} if served.count(i) > 1}


@MODEL_SETTINGS
@given(record_lists)
def test_every_active_person_has_an_email_or_is_reported(records):
    table = normalise_employees(records, TODAY).table
    outcome = checks.missing_emails(table)
    active = table[table["status"] == "active"]
    reported = {person["employee_id"] for person in outcome.metadata["people"]}
    assert reported == set(active.loc[active["email"].isna(), "employee_id"])
    assert table.loc[table["email"].notna(), "email_problem"].isna().all()
    assert table.loc[table["email"].isna(), "email_problem"].notna().all()


@MODEL_SETTINGS
@given(record_lists)
def test_reporting_lines_join_two_active_people_and_never_cycle(records):
    table = normalise_employees(records, TODAY).table
    reporting = derive_reporting_lines(table)
    active = set(table.loc[table["status"].isin(PRESENT_STATUSES), "employee_id"])  # active or unknown (a leave)
    manager_of = dict(zip(reporting.lines["employee_id"], reporting.lines["manager_id"]))
    assert reporting.lines["employee_id"].is_unique
    for employee_id, manager_id in manager_of.items():
        assert employee_id in active and manager_id in active and employee_id != manager_id
    for start in manager_of:
        seen, person = set(), start
        while person in manager_of:
            assert person not in seen, "reporting lines form a cycle"
            seen.add(person)
            person = manager_of[person]
    with_manager = set(table.loc[table["status"].isin(PRESENT_STATUSES) & table["manager_id"].notna(), "employee_id"])
    explained = set(reporting.problems["employee_id"])
    assert with_manager == set(manager_of) | explained and not set(manager_of) & explained


@MODEL_SETTINGS
@given(record_lists)
def test_derived_tables_and_checks_keep_their_contracts(records):
    normalised = normalise_employees(records, TODAY)
    table = normalised.table
    teams, units, roles = derive_teams(table), derive_units(table), derive_roles(table)
    reporting = derive_reporting_lines(table)
    active = int(table["status"].isin(PRESENT_STATUSES).sum())
    assert list(teams.columns) == list(TEAM_COLUMNS) and list(units.columns) == list(UNIT_COLUMNS)
    assert list(roles.columns) == list(ROLE_COLUMNS)
    assert teams["member_count"].sum() <= active and roles["holder_count"].sum() <= active
    assert roles["name"].notna().all() and teams["name"].notna().all() and units["name"].notna().all()
    outcomes = [
        checks.missing_emails(table),
        checks.duplicate_active_emails(table),
        checks.unknown_or_inactive_managers(reporting),
        checks.management_cycles(reporting),
        checks.unique_employee_ids(normalised),
        checks.names_present(nameless_structures(table)),
        checks.records_held_back(held_back_records(table)),
    ]
    for outcome in outcomes:
        assert json.loads(json.dumps(outcome.metadata)) == outcome.metadata
        assert outcome.severity in {"WARN", "ERROR"}
        assert not any(email in outcome.description for email in table["email"].dropna())


def reference_verdict(address: str) -> tuple[str | None, str | None]:
    try:
        return validate_email(address.strip().lower(), check_deliverability=False).normalized, None
    except EmailNotValidError as error:
        return None, str(error)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.emails(),
        st.from_regex(r"[A-Za-z0-9._+-]{1,70}@[A-Za-z0-9.-]{1,30}", fullmatch=True),
        st.from_regex(r"[a-z0-9]{1,64}@([a-z0-9-]{1,63}\.){1,5}(com|de|test|local|xn--bcher-kva)", fullmatch=True),
        st.text(max_size=30),
    )
)
def test_fast_email_path_agrees_with_email_validator(address):
    assert check_email(address) == reference_verdict(address)


def on_a_cycle(person: str, manager_of: dict[str, str]) -> bool:
    current = manager_of.get(person)
    for _ in range(len(manager_of)):
        if current == person:
            return True
        current = manager_of.get(current)
    return False


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*ID_POOL, "7", "8", "9", "10", "11", "12"]), st.sampled_from([*ID_POOL, "404"]), max_size=12
    )
)
def test_cycles_are_exactly_the_management_loops(manager_of):
    records = [
        {"id": person, "employment_status": "active", "manager": {"id": manager}} for person, manager in manager_of.items()
    ]
    problems = derive_reporting_lines(normalise_employees(records, TODAY).table).problems
    looped = problems.loc[problems["problem"].isin(["cycle", "self_managed"]), "employee_id"]
    held = held_back_records(normalise_employees(records, TODAY).table)
    assert set(held["employee_id"]) == set(looped), "exactly the people on cycles are held back"
    known = {person: manager for person, manager in manager_of.items() if manager in manager_of}
    assert set(looped) == {person for person in known if on_a_cycle(person, known)}
    for cycle in problems.loc[problems["problem"] == "cycle", "cycle"]:
        people = cycle.split(" → ")
        assert people[0] == people[-1] and all(known[a] == b for a, b in zip(people, people[1:]))
