import time
from datetime import date

import pandas as pd
import pytest

from personio_pipeline.org.columns import DUPLICATE_ID_COLUMNS, EMPLOYEE_COLUMNS
from personio_pipeline.org.employees import check_email, name_key, normalise_employees
from personio_pipeline.org.sanitise import clean_text
from personio_pipeline.org.structure import derive_reporting_lines, derive_roles, derive_teams, derive_units

TODAY = date(2025, 6, 1)


def employee(employee_id="1", **attributes):
    """A complete record as Apideck serves it; keyword arguments replace attributes."""
    record = {
        "id": employee_id,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "display_name": "Ada Lovelace",
        "preferred_name": "Ada",
        "emails": [{"email": "ada@example.com", "type": "work"}],
        "employment_status": "active",
        "title": "Engineer",
        "jobs": [{"title": "Engineer", "is_primary": True}],
        "manager": {"id": "100"},
        "department_id": "d1",
        "department_name": "Research",
        "department": "Research",
        "team": {"id": "t1", "name": "Engines"},
        "employee_number": "E-1",
        "employment_start_date": "2020-01-15",
        "employment_end_date": None,
        "deleted": False,
        "created_at": "2020-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:00:00.000Z",
    }
    record.update(attributes)
    return record


def normalise_one(**attributes) -> dict:
    table = normalise_employees([employee(**attributes)], TODAY).table
    assert len(table) == 1
    return table.iloc[0].to_dict()


def test_complete_record_fills_every_column():
    row = normalise_one()
    assert list(row) == list(EMPLOYEE_COLUMNS)
    assert row == {
        "employee_id": "1",
        "employee_number": "E-1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "display_name": "Ada Lovelace",
        "email": "ada@example.com",
        "email_type": "work",
        "email_problem": None,
        "status": "active",
        "raw_status": "active",
        "team_key": "t1",
        "team_name": "Engines",
        "unit_key": "d1",
        "unit_name": "Research",
        "role_key": "engineer",
        "role_name": "Engineer",
        "manager_id": "100",
        "start_date": pd.Timestamp("2020-01-15"),
        "end_date": pd.NaT,
        "updated_at": pd.Timestamp("2024-01-01", tz="UTC"),
    }


def test_record_with_only_an_id_is_kept_with_safe_defaults():
    row = normalise_employees([{"id": "7"}], TODAY).table.iloc[0].to_dict()
    assert row["display_name"] == "7"
    assert row["status"] == "unknown"  # no status: the company's unknown-status policy decides (store/statuses.py)
    assert (row["email"], row["email_problem"]) == (None, "missing")
    assert all(row[column] is None for column in ("team_key", "unit_key", "role_key", "manager_id", "raw_status"))
    assert pd.isna(row["start_date"]) and pd.isna(row["end_date"]) and pd.isna(row["updated_at"])


def test_every_attribute_null_is_handled():
    record = {key: None for key in employee()} | {"id": "8"}
    row = normalise_employees([record], TODAY).table.iloc[0]
    assert row["display_name"] == "8"
    assert row["status"] == "unknown"


def test_empty_input_gives_empty_tables_with_the_contract_columns():
    normalised = normalise_employees([], TODAY)
    assert list(normalised.table.columns) == list(EMPLOYEE_COLUMNS)
    assert list(normalised.duplicates.columns) == list(DUPLICATE_ID_COLUMNS)
    assert normalised.table.empty and normalised.without_id == 0


@pytest.mark.parametrize("missing_id", [{}, {"id": None}, {"id": ""}, {"id": "   "}])
def test_records_without_id_are_dropped_and_counted(missing_id):
    record = employee()
    record.pop("id")
    record.update(missing_id)
    normalised = normalise_employees([record, employee("2")], TODAY)
    assert list(normalised.table["employee_id"]) == ["2"]
    assert normalised.without_id == 1


def test_ids_are_trimmed_and_integer_ids_become_strings():
    table = normalise_employees([employee(" 5 "), employee(6, manager={"id": 5})], TODAY).table
    assert list(table["employee_id"]) == ["5", "6"]
    assert table.loc[1, "manager_id"] == "5"


def test_duplicate_ids_keep_the_latest_update_whatever_the_page_order():
    newer = employee("1", title="Lead", updated_at="2024-05-01T00:00:00Z")
    older = employee("1", title="Engineer", updated_at="2024-01-01T00:00:00Z")
    for records in ([newer, older], [older, newer]):
        normalised = normalise_employees([*records, employee("2")], TODAY)
        assert normalised.table[["employee_id", "role_name"]].values.tolist() == [["1", "Lead"], ["2", "Engineer"]]
        assert normalised.duplicates.to_dict("records") == [
            {"employee_id": "1", "copies": 2, "kept_updated_at": pd.Timestamp("2024-05-01", tz="UTC")}
        ]


def test_duplicate_ids_with_equal_or_unknown_updates_keep_the_last_served():
    first = employee("1", title="First", updated_at="2024-01-01T00:00:00Z")
    last = employee("1", title="Last", updated_at="2024-01-01T00:00:00Z")
    assert normalise_employees([first, last], TODAY).table["role_name"].tolist() == ["Last"]
    unknown = employee("1", title="Unknown", updated_at=None)
    assert normalise_employees([first, unknown], TODAY).table["role_name"].tolist() == ["First"]


def test_the_duplicates_table_has_the_same_shape_with_and_without_duplicates():
    repeated = normalise_employees([employee("1"), employee("1"), employee("2")], TODAY).duplicates
    none = normalise_employees([employee("1"), employee("2")], TODAY).duplicates
    assert none.empty and len(repeated) == 1
    pd.testing.assert_frame_equal(none, repeated.iloc[:0], check_index_type=False)


def test_rows_are_numbered_from_zero_whoever_was_dropped():
    no_id = employee(None)
    for records in ([no_id, employee("2"), employee("3")], [employee("2"), employee("3"), no_id], [employee("2"), no_id]):
        table = normalise_employees(records, TODAY).table
        assert table.index.equals(pd.RangeIndex(len(table)))
        assert table["employee_id"].notna().all()


@pytest.mark.parametrize("profile", ["diverse", "standard"])
def test_display_names_follow_the_fallback_chain_on_the_sandbox(profile):
    """The display name is computed row by row: the same as the column rule, written with pandas."""
    from personio_pipeline.sandbox.generator import generate_company

    records = generate_company("acme-display", 3_000, profile=profile)
    for index, record in enumerate(records[:300]):  # gaps in every combination
        for offset, attribute in enumerate(("display_name", "first_name", "last_name", "preferred_name")):
            if (index >> offset) & 1:
                record[attribute] = None
    table = normalise_employees(records, TODAY).table
    first, last = table["first_name"].fillna(""), table["last_name"].fillna("")
    full = first.str.cat(last, sep=" ").str.strip()
    served = {attribute: pd.Series([clean_text(r.get(attribute)) for r in records], dtype=object)
              for attribute in ("display_name", "preferred_name")}
    expected = (
        served["display_name"].fillna(full.where(full != "", None)).fillna(served["preferred_name"])
        .fillna(table["employee_number"]).fillna(table["employee_id"])
    )
    assert table["display_name"].tolist() == expected.tolist()


def test_timestamps_with_offsets_compare_in_utc():
    berlin = employee("1", title="Berlin", updated_at="2024-01-01T10:00:00+02:00")  # 08:00 UTC
    utc = employee("1", title="UTC", updated_at="2024-01-01T09:00:00Z")
    assert normalise_employees([utc, berlin], TODAY).table["role_name"].tolist() == ["UTC"]


@pytest.mark.parametrize(
    "attributes, expected",
    [
        ({}, "Ada Lovelace"),
        ({"display_name": "  "}, "Ada Lovelace"),
        ({"display_name": None, "last_name": None}, "Ada"),
        ({"display_name": None, "first_name": " \t"}, "Lovelace"),
        ({"display_name": None, "first_name": None, "last_name": None, "preferred_name": "Countess"}, "Countess"),
        ({"display_name": None, "first_name": None, "last_name": None, "preferred_name": None}, "E-1"),
        (
            {"display_name": None, "first_name": None, "last_name": None, "preferred_name": None, "employee_number": None},
            "1",
        ),
    ],
)
def test_display_name_fallback_chain(attributes, expected):
    assert normalise_one(**attributes)["display_name"] == expected


def test_non_ascii_names_are_kept_as_served():
    row = normalise_one(
        display_name=None,
        first_name="Zoë",
        last_name="Øre-Şahin",
        team={"id": None, "name": "Straße Süd"},
        title="Ingénieure",
    )
    assert row["display_name"] == "Zoë Øre-Şahin"
    assert row["team_key"] == "name:strasse süd"
    assert (row["role_name"], row["role_key"]) == ("Ingénieure", "ingénieure")


@pytest.mark.parametrize(
    "emails, expected",
    [
        ([{"email": "  Ada.Lovelace@Example.COM ", "type": "work"}], ("ada.lovelace@example.com", "work", None)),
        (
            [
                {"email": "private@example.org", "type": "personal"},
                {"email": "other@example.com", "type": "other"},
                {"email": "main@example.com", "type": "primary"},
                {"email": "work@example.com", "type": "work"},
            ],
            ("work@example.com", "work", None),
        ),
        (
            [{"email": "private@example.org", "type": "personal"}, {"email": "main@example.com", "type": "primary"}],
            ("main@example.com", "primary", None),
        ),
        (
            [{"email": "private@example.org", "type": "personal"}, {"email": "odd@example.com", "type": "holiday"}],
            ("odd@example.com", "holiday", None),
        ),
        ([{"email": "private@example.org", "type": "personal"}], ("private@example.org", "personal", None)),
        ([{"email": "untyped@example.com", "type": None}], ("untyped@example.com", None, None)),
        (
            [{"email": "first@example.com", "type": "secondary"}, {"email": "second@example.com", "type": "other"}],
            ("first@example.com", "secondary", None),
        ),
        (
            [{"email": "not an address", "type": "work"}, {"email": "ada@example.com", "type": "personal"}],
            ("ada@example.com", "personal", None),
        ),
        ([{"email": None, "type": "work"}, {"email": "ada@example.com"}], ("ada@example.com", None, None)),
        ([{"email": None, "type": "work"}], (None, None, "missing")),
        ([{"email": "   ", "type": "work"}], (None, None, "missing")),
        ([], (None, None, "missing")),
        (None, (None, None, "missing")),
        ([None, {"email": "ada@example.com", "type": "work"}], ("ada@example.com", "work", None)),
    ],
)
def test_email_choice(emails, expected):
    row = normalise_one(emails=emails)
    assert (row["email"], row["email_type"], row["email_problem"]) == expected


def test_invalid_addresses_are_reported_with_the_reason_of_the_best_ranked_one():
    row = normalise_one(
        emails=[{"email": "ada@localhost", "type": "personal"}, {"email": "ada lovelace@example.com", "type": "work"}]
    )
    assert row["email"] is None
    assert row["email_problem"].startswith("invalid: ")
    assert "SPACE" in row["email_problem"]


def test_check_email_normalises_and_explains():
    assert check_email(" Ada@Example.com ") == ("ada@example.com", None)
    assert check_email("ada@bücher.de") == ("ada@bücher.de", None)
    assert check_email("ada@xn--bcher-kva.de") == ("ada@bücher.de", None)
    address, reason = check_email("ada@example")
    assert address is None and reason


@pytest.mark.parametrize(
    "status, end_date, deleted, expected",
    [
        ("active", None, False, "active"),
        ("active", "2099-01-01", False, "active"),
        ("active", "2025-06-01", False, "active"),  # last working day is today
        ("active", "2025-05-31", False, "terminated"),
        ("active", "2025-05-31T23:00:00-05:00", False, "terminated"),  # the HR day counts, not the offset
        ("active", "9999-12-31", False, "active"),  # beyond pandas' range: treated as open-ended
        ("active", "not a date", False, "active"),
        ("Active ", None, False, "active"),
        ("inactive", None, False, "inactive"),
        ("inactive", "2020-01-01", False, "inactive"),
        ("terminated", None, False, "terminated"),
        ("terminated", "2099-01-01", False, "terminated"),
        ("other", None, False, "unknown"),  # Personio's leave or onboarding, probably: the company's policy decides
        ("other", "2020-01-01", False, "terminated"),
        ("on_leave", None, False, "unknown"),
        ("deleted", None, True, "terminated"),
        (None, None, False, "unknown"),
        (None, "2020-01-01", False, "terminated"),
        ("active", None, True, "terminated"),
        ("active", None, None, "active"),
    ],
)
def test_status_rules(status, end_date, deleted, expected):
    row = normalise_one(employment_status=status, employment_end_date=end_date, deleted=deleted)
    assert row["status"] == expected


def test_raw_status_is_kept():
    assert normalise_one(employment_status="on_leave")["raw_status"] == "on_leave"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2021-10-26", pd.Timestamp("2021-10-26")),
        ("2021-10-26T00:00:00.000Z", pd.Timestamp("2021-10-26")),
        ("26.10.2021", pd.NaT),
        ("garbage", pd.NaT),
        ("", pd.NaT),
        (None, pd.NaT),
    ],
)
def test_dates_are_parsed_tolerantly(value, expected):
    parsed = normalise_one(employment_start_date=value)["start_date"]
    assert parsed == expected or (pd.isna(parsed) and pd.isna(expected))


def test_garbage_updated_at_counts_as_unknown():
    assert pd.isna(normalise_one(updated_at="yesterday")["updated_at"])


@pytest.mark.parametrize(
    "team, expected",
    [
        ({"id": "t9", "name": "Platform"}, ("t9", "Platform")),
        ({"id": None, "name": "  Platform   Team "}, ("name:platform team", "Platform Team")),  # cleaned
        ({"name": "PLATFORM team"}, ("name:platform team", "PLATFORM team")),
        ({"id": None, "name": None}, (None, None)),
        ({}, (None, None)),
        (None, (None, None)),
    ],
)
def test_team_key(team, expected):
    row = normalise_one(team=team)
    assert (row["team_key"], row["team_name"]) == expected


@pytest.mark.parametrize(
    "attributes, expected",
    [
        ({}, ("d1", "Research")),
        ({"department_id": None}, ("name:research", "Research")),
        ({"department_id": None, "department_name": None, "department": "R&D"}, ("name:r&d", "R&D")),
        ({"department_id": "d2", "department_name": None, "department": None}, ("d2", None)),
        ({"department_id": None, "department_name": None, "department": None}, (None, None)),
    ],
)
def test_unit_key(attributes, expected):
    row = normalise_one(**attributes)
    assert (row["unit_key"], row["unit_name"]) == expected


@pytest.mark.parametrize(
    "title, jobs, expected",
    [
        ("  Senior   Engineer ", [], ("Senior Engineer", "senior engineer")),  # cleaned
        (None, [{"title": "Tester", "is_primary": False}, {"title": "Lead", "is_primary": True}], ("Lead", "lead")),
        (None, [{"title": None, "is_primary": True}, {"title": "Tester", "is_primary": None}], ("Tester", "tester")),
        ("", [{"title": "Tester"}], ("Tester", "tester")),
        (None, None, (None, None)),
        (None, [], (None, None)),
        (None, [None, {"is_primary": True}], (None, None)),
    ],
)
def test_role_from_title_then_jobs(title, jobs, expected):
    row = normalise_one(title=title, jobs=jobs)
    assert (row["role_name"], row["role_key"]) == expected


@pytest.mark.parametrize("manager", [None, {}, {"id": None}, {"id": "  "}])
def test_missing_manager(manager):
    assert normalise_one(manager=manager)["manager_id"] is None


def test_name_key_ignores_case_and_spacing():
    assert name_key("  Full\tStack   ENGINEERS ") == "full stack engineers"


@pytest.mark.slow
def test_a_hundred_thousand_records_take_seconds_not_minutes():
    """Guards against accidental per-row pandas work or quadratic steps (about 2 s in total)."""
    records = [
        employee(
            str(i),
            emails=[{"email": f"Person.{i}@Company{i % 3}.com", "type": "work"}],
            manager={"id": str(i // 10)},
            team={"id": f"t{i // 25}", "name": f"Team {i // 25}"},
            title=("Engineer", "engineer", "Sales  Lead")[i % 3],
        )
        for i in range(100_000)
    ]
    started = time.perf_counter()
    table = normalise_employees(records, TODAY).table
    derive_teams(table), derive_units(table), derive_roles(table), derive_reporting_lines(table)
    assert time.perf_counter() - started < 15
    assert len(table) == 100_000
