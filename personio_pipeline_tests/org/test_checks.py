import json
from datetime import date

import pandas as pd

from personio_pipeline.org import checks
from personio_pipeline.org.employees import normalise_employees
from personio_pipeline.org.structure import (
    derive_reporting_lines,
    derive_teams,
    derive_units,
    nameless_structures,
)

TODAY = date(2025, 6, 1)


def record(employee_id, email="", status="active", manager=None, **attributes):
    """A raw record; `email` defaults to a unique work address, None means no address at all."""
    email = f"person{employee_id}@example.com" if email == "" else email
    return {
        "id": employee_id,
        "display_name": f"Person {employee_id}",
        "emails": [] if email is None else [{"email": email, "type": "work"}],
        "employment_status": status,
        "manager": {"id": manager},
        "team": {"id": "t1", "name": "Core"},
        **attributes,
    }


def normalised(*records):
    return normalise_employees(list(records), TODAY)


def employees(*records) -> pd.DataFrame:
    return normalised(*records).table


def assert_no_addresses(outcome: checks.CheckOutcome, *fragments: str):
    """Descriptions go to logs and metadata to the UI: neither may carry an email address."""
    text = outcome.description + json.dumps(outcome.metadata, ensure_ascii=False)
    assert not [fragment for fragment in ("example.com", *fragments) if fragment.casefold() in text.casefold()]


class TestMissingEmails:
    def test_lists_active_people_without_a_usable_address(self):
        outcome = checks.missing_emails(
            employees(
                record("1"),
                record("2", email=None),
                record("3", email="not an address"),
                record("4", email=None, status="terminated"),
            )
        )
        assert not outcome.passed and outcome.severity == "WARN"
        assert outcome.metadata["count"] == 2
        assert outcome.metadata["share_of_active"] == round(2 / 3, 4)
        assert (outcome.metadata["missing"], outcome.metadata["invalid"]) == (1, 1)
        people = outcome.metadata["people"]
        assert [(p["employee_id"], p["display_name"], p["team_name"]) for p in people] == [
            ("2", "Person 2", "Core"),
            ("3", "Person 3", "Core"),
        ]
        assert people[0]["problem"] == "missing"
        assert people[1]["problem"].startswith("invalid: ")
        assert "| 3 | Person 3 | Core | invalid: " in outcome.metadata["preview_md"]
        assert "2 of 3 active people" in outcome.description

    def test_invalid_address_is_not_echoed(self):
        """The person is reported (who, and why the address is unusable), the address itself not."""
        outcome = checks.missing_emails(employees(record("1", email="ada lovelace@example.com")))
        assert not outcome.passed and (outcome.metadata["count"], outcome.metadata["invalid"]) == (1, 1)
        (person,) = outcome.metadata["people"]
        assert (person["employee_id"], person["display_name"]) == ("1", "Person 1")
        assert person["problem"].startswith("invalid: ") and len(person["problem"]) > len("invalid: ")
        assert "| 1 | Person 1 | Core | invalid: " in outcome.metadata["preview_md"]
        assert_no_addresses(outcome, "lovelace")

    def test_passes_when_everyone_active_has_one(self):
        outcome = checks.missing_emails(employees(record("1"), record("2", email=None, status="inactive")))
        assert outcome.passed and outcome.metadata["count"] == 0

    def test_no_active_people(self):
        outcome = checks.missing_emails(employees())
        assert outcome.passed and outcome.metadata["share_of_active"] == 0.0


class TestDuplicateActiveEmails:
    def test_shared_address_among_active_people_names_them(self):
        outcome = checks.duplicate_active_emails(
            employees(
                record("1", email="team@example.com"),
                record("2", email=" TEAM@example.com"),
                record("3"),
            )
        )
        assert not outcome.passed and outcome.severity == "ERROR"
        assert outcome.metadata["groups"] == [{"employee_ids": "1, 2", "display_names": "Person 1, Person 2"}]
        assert "1, 2" in outcome.description
        assert_no_addresses(outcome, "team@")

    def test_same_address_on_a_former_employee_is_fine(self):
        outcome = checks.duplicate_active_emails(
            employees(
                record("1", email="shared@example.com"),
                record("2", email="shared@example.com", status="terminated"),
            )
        )
        assert outcome.passed


class TestReportingLineChecks:
    def lines(self, *records):
        return derive_reporting_lines(employees(*records))

    def test_unknown_and_inactive_managers_warn(self):
        outcome = checks.unknown_or_inactive_managers(
            self.lines(record("1", manager="404"), record("2", manager="3"), record("3", status="inactive"))
        )
        assert not outcome.passed and outcome.severity == "WARN"
        assert (outcome.metadata["unknown_manager"], outcome.metadata["inactive_manager"]) == (1, 1)
        assert outcome.metadata["lines"] == [
            {"employee_id": "1", "manager_id": "404", "problem": "unknown_manager"},
            {"employee_id": "2", "manager_id": "3", "problem": "inactive_manager"},
        ]

    def test_cycles_are_errors_and_named(self):
        reporting = self.lines(
            record("12", manager="15"), record("15", manager="12"), record("7", manager="7"), record("8", manager="12")
        )
        outcome = checks.management_cycles(reporting)
        assert not outcome.passed and outcome.severity == "ERROR"
        assert outcome.metadata["named"] == ["7 → 7", "12 → 15 → 12"]
        assert (outcome.metadata["self_managed"], outcome.metadata["cycles"]) == (1, 1)
        assert "12 → 15 → 12" in outcome.description and "7 → 7" in outcome.description
        assert checks.unknown_or_inactive_managers(reporting).passed

    def test_clean_hierarchy_passes_both(self):
        reporting = self.lines(record("1"), record("2", manager="1"))
        assert checks.unknown_or_inactive_managers(reporting).passed
        assert checks.management_cycles(reporting).passed


class TestUniqueEmployeeIds:
    def test_resolved_duplicates_and_missing_ids_warn(self):
        outcome = checks.unique_employee_ids(
            normalised(
                record("1", updated_at="2024-01-01T00:00:00Z"),
                record("1", updated_at="2024-02-01T00:00:00Z"),
                record(None),
            )
        )
        assert not outcome.passed and outcome.severity == "WARN"
        assert outcome.metadata["duplicates"] == [
            {"employee_id": "1", "copies": 2, "kept_updated_at": "2024-02-01T00:00:00+00:00"}
        ]
        assert (outcome.metadata["extra_copies"], outcome.metadata["without_id"]) == (1, 1)

    def test_clean_ids_pass(self):
        assert checks.unique_employee_ids(normalised(record("1"), record("2"))).passed


class TestNamesPresent:
    def test_nameless_team_gets_a_fallback_name_and_a_warning(self):
        table = employees(record("1", team={"id": "t9", "name": None}, title="Tester", department_name="QA"),
                          record("2", team={"id": "t9", "name": "  "}, title="Tester", department_name="QA"))
        assert derive_teams(table).set_index("team_key").loc["t9", "name"] == "Team t9"
        outcome = checks.names_present(nameless_structures(table))
        assert not outcome.passed and outcome.severity == "WARN"
        assert outcome.metadata["nameless"] == [
            {"kind": "team", "key": "t9", "fallback_name": "Team t9", "employee_ids": "1, 2"}
        ]
        assert "team t9 → 'Team t9'" in outcome.description

    def test_a_unit_named_by_one_record_is_not_nameless(self):
        table = employees(record("1", department_id="d1", department_name=None),
                          record("2", department_id="d1", department_name="QA"))
        assert nameless_structures(table).empty
        assert derive_units(table).set_index("unit_key").loc["d1", "name"] == "QA"

    def test_nameless_unit_from_control_characters_only(self):
        table = employees(record("1", department_id="d7", department_name="\x00\t\n"))
        assert derive_units(table).set_index("unit_key").loc["d7", "name"] == "Unit d7"
        assert checks.names_present(nameless_structures(table)).metadata["nameless_units"] == 1

    def test_all_named_passes(self):
        table = employees(record("1", title="Tester", department_name="QA"))
        assert checks.names_present(nameless_structures(table)).passed


def test_previews_are_capped_and_metadata_is_plain_json():
    many = employees(*(record(str(i), email=None, display_name=f"Name | {i}") for i in range(120)))
    outcome = checks.missing_emails(many)
    table_rows = [line for line in outcome.metadata["preview_md"].splitlines() if line.startswith("| ")]
    assert len(table_rows) == 1 + checks.PREVIEW_ROWS
    assert "… and 70 more" in outcome.metadata["preview_md"]
    assert "Name \\| 0" in outcome.metadata["preview_md"]
    assert json.loads(json.dumps(outcome.metadata)) == outcome.metadata
