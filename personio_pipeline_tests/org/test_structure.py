import pandas as pd
import pytest

from personio_pipeline.org.columns import (
    EMPLOYEE_COLUMNS,
    REPORTING_LINE_COLUMNS,
    REPORTING_PROBLEM_COLUMNS,
    ROLE_COLUMNS,
    TEAM_COLUMNS,
    UNIT_COLUMNS,
)
from personio_pipeline.org.structure import (
    derive_reporting_lines,
    derive_roles,
    derive_teams,
    derive_units,
    nicest_spelling_rank,
)


def employees(*people: dict) -> pd.DataFrame:
    """A normalised employees table; each person names only the columns a test cares about."""
    defaults = {column: None for column in EMPLOYEE_COLUMNS} | {"status": "active"}
    return pd.DataFrame([defaults | person for person in people], columns=list(EMPLOYEE_COLUMNS))


def person(employee_id, manager_id=None, status="active", **columns):
    return {"employee_id": employee_id, "manager_id": manager_id, "status": status, **columns}


def lines_of(table: pd.DataFrame) -> list[tuple[str, str]]:
    reporting = derive_reporting_lines(table)
    return list(reporting.lines.itertuples(index=False, name=None))


def problems_of(table: pd.DataFrame) -> list[tuple]:
    return list(derive_reporting_lines(table).problems.itertuples(index=False, name=None))


class TestTeams:
    def test_members_are_active_people_and_empty_teams_stay(self):
        table = employees(
            person("1", team_key="t1", team_name="Core", unit_key="u1"),
            person("2", team_key="t1", team_name="Core", unit_key="u1"),
            person("3", team_key="t1", team_name="Core", unit_key="u2", status="terminated"),
            person("4", team_key="t2", team_name="Old", status="inactive"),
            person("5"),
        )
        teams = derive_teams(table)
        assert list(teams.columns) == list(TEAM_COLUMNS)
        assert teams.to_dict("records") == [
            {"team_key": "t1", "name": "Core", "unit_key": "u1", "member_count": 2},
            {"team_key": "t2", "name": "Old", "unit_key": None, "member_count": 0},
        ]

    @pytest.mark.parametrize(
        "units, expected",
        [(["u1", "u1"], "u1"), (["u1", "u2"], None), (["u1", None], None), ([None, None], None)],
    )
    def test_unit_only_when_all_active_members_share_it(self, units, expected):
        table = employees(*(person(str(i), team_key="t", team_name="T", unit_key=unit) for i, unit in enumerate(units)))
        assert derive_teams(table).loc[0, "unit_key"] == expected

    def test_team_without_any_name_gets_its_fallback_name(self):
        teams = derive_teams(employees(person("1", team_key="t1", team_name=None)))
        assert teams.to_dict("records") == [{"team_key": "t1", "name": "Team t1", "unit_key": None, "member_count": 1}]

    def test_renamed_team_takes_the_spelling_most_members_carry(self):
        table = employees(
            person("1", team_key="t1", team_name="Platform"),
            person("2", team_key="t1", team_name="Platform Team"),
            person("3", team_key="t1", team_name="Platform Team"),
        )
        assert derive_teams(table).loc[0, "name"] == "Platform Team"


def test_units_count_active_members():
    table = employees(
        person("1", unit_key="d1", unit_name="Research"),
        person("2", unit_key="d1", unit_name="Research", status="inactive"),
        person("3", unit_key="name:sales", unit_name="Sales"),
    )
    units = derive_units(table)
    assert list(units.columns) == list(UNIT_COLUMNS)
    assert units.to_dict("records") == [
        {"unit_key": "d1", "name": "Research", "member_count": 1},
        {"unit_key": "name:sales", "name": "Sales", "member_count": 1},
    ]


class TestRoles:
    def holders(self, *spellings: str, status="active") -> list[dict]:
        return [
            person(f"{spelling}-{i}", status=status, role_name=spelling, role_key=" ".join(spelling.split()).casefold())
            for i, spelling in enumerate(spellings)
        ]

    def test_most_holders_wins(self):
        table = employees(*self.holders("Software Engineer", "software engineer", "software engineer"))
        assert derive_roles(table).to_dict("records") == [
            {"role_key": "software engineer", "name": "software engineer", "holder_count": 3}
        ]

    def test_spacing_variants_count_together_and_come_out_single_spaced(self):
        table = employees(*self.holders("Software  Engineer", " Software Engineer", "software engineer"))
        assert derive_roles(table).loc[0, "name"] == "Software Engineer"

    @pytest.mark.parametrize(
        "spellings, expected",
        [
            (["software engineer", "Software Engineer"], "Software Engineer"),
            (["SOFTWARE ENGINEER", "software engineer"], "SOFTWARE ENGINEER"),
            (["SOFTWARE ENGINEER", "Software engineer"], "Software engineer"),
            (["Software engineer", "Software Engineer"], "Software Engineer"),
            (["iOS developer", "ios developer"], "iOS developer"),
        ],
    )
    def test_ties_prefer_mixed_case_then_capitals_then_alphabetical(self, spellings, expected):
        assert derive_roles(employees(*self.holders(*spellings))).loc[0, "name"] == expected

    def test_holders_are_active_but_inactive_spellings_still_name_the_role(self):
        table = employees(*self.holders("Tester", status="terminated"))
        assert derive_roles(table).to_dict("records") == [{"role_key": "tester", "name": "Tester", "holder_count": 0}]

    def test_columns(self):
        assert list(derive_roles(employees()).columns) == list(ROLE_COLUMNS)


def test_nicest_spelling_rank_orders_casing():
    ranked = sorted(["abc", "ABC", "Abc"], key=nicest_spelling_rank)
    assert ranked == ["Abc", "ABC", "abc"]


class TestReportingLines:
    def test_valid_lines_between_active_people(self):
        table = employees(person("1"), person("2", "1"), person("3", "2"))
        assert lines_of(table) == [("2", "1"), ("3", "2")]
        assert problems_of(table) == []

    def test_columns(self):
        reporting = derive_reporting_lines(employees(person("1", "1")))
        assert list(reporting.lines.columns) == list(REPORTING_LINE_COLUMNS)
        assert list(reporting.problems.columns) == list(REPORTING_PROBLEM_COLUMNS)

    def test_unknown_manager(self):
        table = employees(person("1", "404"))
        assert lines_of(table) == []
        assert problems_of(table) == [("1", "404", "unknown_manager", None)]

    @pytest.mark.parametrize("status", ["inactive", "terminated"])
    def test_inactive_manager(self, status):
        table = employees(person("1", status=status), person("2", "1"))
        assert lines_of(table) == []
        assert problems_of(table) == [("2", "1", "inactive_manager", None)]

    def test_self_management_drops_only_that_line(self):
        table = employees(person("1", "1"), person("2", "1"))
        assert lines_of(table) == [("2", "1")]
        assert problems_of(table) == [("1", "1", "self_managed", None)]

    def test_two_person_cycle(self):
        table = employees(person("12", "15"), person("15", "12"))
        assert lines_of(table) == []
        assert problems_of(table) == [("12", "15", "cycle", "12 → 15 → 12"), ("15", "12", "cycle", "12 → 15 → 12")]

    def test_longer_cycle_is_named_from_the_lowest_id_and_people_below_it_keep_their_line(self):
        table = employees(
            person("9", "30"), person("30", "100"), person("100", "9"), person("7", "100"), person("6", "7")
        )
        assert lines_of(table) == [("6", "7"), ("7", "100")]
        cycle = "9 → 30 → 100 → 9"
        assert problems_of(table) == [
            ("100", "9", "cycle", cycle),
            ("30", "100", "cycle", cycle),
            ("9", "30", "cycle", cycle),
        ]

    def test_separate_cycles_are_named_separately(self):
        table = employees(person("1", "2"), person("2", "1"), person("3", "4"), person("4", "5"), person("5", "3"))
        cycles = derive_reporting_lines(table).problems.set_index("employee_id")["cycle"]
        assert cycles.to_dict() == {
            "1": "1 → 2 → 1",
            "2": "1 → 2 → 1",
            "3": "3 → 4 → 5 → 3",
            "4": "3 → 4 → 5 → 3",
            "5": "3 → 4 → 5 → 3",
        }

    def test_a_cycle_through_an_inactive_person_is_no_cycle_but_an_inactive_manager(self):
        table = employees(person("1", "2"), person("2", "1", status="inactive"))
        assert problems_of(table) == [("1", "2", "inactive_manager", None)]

    def test_inactive_people_get_neither_lines_nor_problems(self):
        table = employees(person("1"), person("2", "1", status="terminated"), person("3", "404", status="inactive"))
        assert lines_of(table) == [] and problems_of(table) == []

    def test_people_without_manager_are_fine(self):
        assert problems_of(employees(person("1"), person("2"))) == []

    def test_a_huge_cycle_is_found_quickly_and_named_briefly(self):
        size = 50_000
        table = employees(*(person(str(i), str((i + 1) % size)) for i in range(size)))
        problems = derive_reporting_lines(table).problems
        assert len(problems) == size and set(problems["problem"]) == {"cycle"}
        named = " → ".join(str(i) for i in range(20))
        assert problems.loc[0, "cycle"] == f"{named} → … 49980 more → 0"
