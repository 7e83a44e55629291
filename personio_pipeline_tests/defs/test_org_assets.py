"""The organisation model graph and its checks, materialised with Dagster against the sandbox."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from personio_pipeline.companies import registry
from personio_pipeline.defs.ingest.assets import raw_employees
from personio_pipeline.defs.org.assets import org_assets
from personio_pipeline.defs.shared.io import LocalFilesIOManager
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, TeammeterDatabase
from personio_pipeline.defs.store.assets import teammeter_sync
from personio_pipeline.store.schema import teams, units, users
from personio_pipeline_tests.support.records import crafted_company, person
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

COMPANY = "crafted-co"


@pytest.fixture
def resources(tmp_path, sandbox):
    db = TeammeterDatabase(url=f"sqlite:///{tmp_path / 'teammeter.sqlite'}")
    with db.engine().begin() as conn:
        registry.register(conn, COMPANY, "Crafted GmbH")
    return {
        "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url),
        "teammeter_db": db,
        "io_manager": LocalFilesIOManager(base_dir=str(tmp_path / "data")),
    }


def run_org_graph(resources):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    return dg.materialize([raw_employees, *org_assets], resources=resources,
                          instance=instance, partition_key=COMPANY, raise_on_error=False)


def verdicts(result):
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def test_crafted_company_gives_the_right_rows_and_verdicts(resources, sandbox):
    sandbox.set_company(COMPANY, crafted_company())
    result = run_org_graph(resources)
    assert result.success

    employees = result.output_for_node("org_model", "employees")
    by_id = employees.set_index("employee_id")
    assert by_id.loc["2", "email"] == "lukasz.nowak@acme.example"
    assert by_id.loc["4", "email"] == "ana@private.example"
    assert by_id.loc["5", "email"] is None and by_id.loc["5", "email_problem"].startswith("invalid")
    assert by_id.loc["6", "status"] == "terminated"
    assert by_id.loc["7", "status"] != "active", "`other` is treated conservatively"
    assert by_id.loc["8", "status"] == "terminated", "an ended contract means the person left"
    assert by_id.loc["1", "display_name"] == "Zoë Çelik"

    roles = result.output_for_node("org_model", "roles")
    engineer_variants = roles[roles["role_key"] == "software engineer"]
    assert len(engineer_variants) == 1

    lines = result.output_for_node("org_model", "reporting_lines")
    assert set(map(tuple, lines[["employee_id", "manager_id"]].values)) == {("2", "1"), ("3", "1"), ("4", "2")}

    checks = verdicts(result)
    missing = checks[("employees", "missing_emails")]
    assert not missing.passed and missing.severity == dg.AssetCheckSeverity.WARN
    people = {row["employee_id"]: row for row in missing.metadata["people"].value}
    assert set(people) == {"3", "5"}
    assert people["5"]["problem"].startswith("invalid") and people["3"]["problem"] == "missing"
    assert missing.metadata["count"].value == 2
    assert checks[("employees", "duplicate_active_emails")].passed
    managers = checks[("reporting_lines", "unknown_or_inactive_managers")]
    assert not managers.passed and managers.severity == dg.AssetCheckSeverity.WARN
    assert checks[("reporting_lines", "management_cycles")].passed
    assert all(checks[(name, "names_present")].passed for name in ("teams", "units", "roles"))
    for evaluation in checks.values():
        assert "@" not in (evaluation.description or ""), "no email addresses in descriptions"


def test_a_management_cycle_is_an_error_naming_the_people_but_does_not_block(resources, sandbox):
    sandbox.set_company(COMPANY, [
        person("1", "Ada", "A", email="ada@acme.example", manager="2"),
        person("2", "Bob", "B", email="bob@acme.example", manager="3"),
        person("3", "Cy", "C", email="cy@acme.example", manager="1"),
        person("4", "Dee", "D", email="dee@acme.example", manager="4"),
        person("5", "Eve", "E", email="eve@acme.example"),
    ])
    result = run_org_graph(resources)

    cycles = verdicts(result)[("reporting_lines", "management_cycles")]
    assert not cycles.passed and cycles.severity == dg.AssetCheckSeverity.ERROR
    assert not cycles.blocking
    assert cycles.metadata["self_managed"].value == 1 and cycles.metadata["cycles"].value == 1
    assert cycles.metadata["employee_ids"].value == ["1", "2", "3", "4"]
    assert cycles.metadata["field"].value == "manager"
    assert "4 → 4" in cycles.description
    assert any(set(text.split(" → ")) == {"1", "2", "3"} for text in cycles.metadata["named"].value)
    assert result.success, "a failed ERROR check no longer fails the run"


def test_a_shared_login_holds_back_the_pair_and_the_rest_is_written(resources, sandbox):
    sandbox.set_company(COMPANY, [
        person("1", "Ada", "A", email="ada@acme.example"),
        person("2", "Bob", "B", email="ADA@acme.example ", manager="1"),
        person("3", "Cy", "C", email="ada@acme.example", manager="1", status="terminated", end_date="2020-01-01"),
        person("4", "Dee", "D", email="dee@acme.example", manager="1"),
    ])
    result = run_full_graph(resources)
    assert result.success

    checks = verdicts(result)
    duplicates = checks[("employees", "duplicate_active_emails")]
    assert not duplicates.passed and duplicates.severity == dg.AssetCheckSeverity.ERROR and not duplicates.blocking
    assert [group["employee_ids"] for group in duplicates.metadata["groups"].value] == ["1, 2"]
    assert duplicates.metadata["employee_ids"].value == ["1", "2"] and duplicates.metadata["field"].value == "email"
    held = checks[("users", "records_held_back")]
    assert not held.passed and held.metadata["employee_ids"].value == ["1", "2"]
    assert [(p["employee_id"], p["problem"], p["field"], p["detail"]) for p in held.metadata["people"].value] == [
        ("1", "duplicate_email", "email", "address shared with 2"),
        ("2", "duplicate_email", "email", "address shared with 1"),
    ]
    for evaluation in checks.values():
        assert "@" not in (evaluation.description or "") and "@" not in str(evaluation.metadata)
    with resources["teammeter_db"].engine().connect() as conn:
        rows = conn.execute(sa.select(users.c.employee_id, users.c.email, users.c.has_access).order_by(users.c.employee_id)).all()
    assert [tuple(row) for row in rows] == [
        ("1", None, False), ("2", None, False), ("4", "dee@acme.example", True)
    ], "new people held back are created without address or access; the others are written"


def run_full_graph(resources):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    return dg.materialize([raw_employees, *org_assets, teammeter_sync], resources=resources, instance=instance,
                          partition_key=COMPANY, raise_on_error=False)


def test_a_nameless_team_gets_a_fallback_name_and_a_warning(resources, sandbox):
    sandbox.set_company(COMPANY, [
        person("1", "Ada", "A", email="ada@acme.example", team=("4711", None)),
        person("2", "Bob", "B", email="bob@acme.example", team=("4711", "\u0000 \t")),
        person("3", "Cy", "C", email="cy@acme.example", department=("d9", None)),
    ])
    result = run_full_graph(resources)
    assert result.success

    checks = verdicts(result)
    teams_check = checks[("teams", "names_present")]
    assert not teams_check.passed and teams_check.severity == dg.AssetCheckSeverity.WARN and not teams_check.blocking
    assert teams_check.metadata["nameless"].value == [
        {"kind": "team", "key": "4711", "fallback_name": "Team 4711", "employee_ids": "1, 2"}
    ]
    assert not checks[("units", "names_present")].passed
    with resources["teammeter_db"].engine().connect() as conn:
        assert set(conn.execute(sa.select(teams.c.team_key, teams.c.name)).all()) == {("4711", "Team 4711"), ("t1", "Platform")}
        assert ("d9", "Unit d9") in set(conn.execute(sa.select(units.c.unit_key, units.c.name)).all())


# -- the model's "today" ----------------------------------------------------------------------
# It comes from one place (`companies.clock.company_today`, pinned by PERSONIO_PIPELINE_TODAY): an employment
# ending between two pinned dates is active on the first and over on the second, in the Dagster
# asset as in the pure model.


@pytest.mark.parametrize(("today", "status"), [("2026-06-30", "active"), ("2026-07-01", "terminated")])
def test_org_employees_use_the_pinned_today(resources, sandbox, monkeypatch, today, status):
    monkeypatch.setenv("PERSONIO_PIPELINE_TODAY", today)
    sandbox.set_company(COMPANY, [
        person("1", "Ada", "Lovelace", email="ada@example.com"),
        person("2", "Ömer", "Çelik", email="oemer@example.com", end_date="2026-06-30", manager="1"),
    ])
    result = run_org_graph(resources)
    assert result.success
    table = result.output_for_node("org_model", "employees")
    assert dict(zip(table["employee_id"], table["status"]))["2"] == status


# -- the whole graph on SQLite and PostgreSQL: hostile records and day two ---------------------



@pytest.fixture
def store_resources(engine, tmp_path, sandbox):
    with engine.begin() as conn:
        registry.register(conn, COMPANY, "Crafted GmbH")
    return {
        "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url),
        "teammeter_db": TeammeterDatabase(url=engine.url.render_as_string(hide_password=False)),
        "io_manager": LocalFilesIOManager(base_dir=str(tmp_path / "data")),
    }


def test_hostile_records_and_a_bad_day_two_never_stop_the_company(store_resources, sandbox):
    """A NUL in a name, a 5,000-character first name and a team served with `name: null` are
    stored on PostgreSQL as on SQLite; on day two a copied address holds back its pair while the
    leaver is deactivated."""
    day_one = [
        person("1", "Ada\x00", "Lovelace", email="ada@acme.example"),
        person("2", "B" * 5000, "Long", email="bob@acme.example", manager="1"),
        person("3", "Cy", "Null-Team", email="cy@acme.example", team=("4711", None), manager="1"),
        person("4", "Dee", "Leaver", email="dee@acme.example", manager="1"),
    ]
    colleagues = [person(str(n), "Col", f"League {n}", email=f"c{n}@acme.example") for n in range(5, 11)]
    sandbox.set_company(COMPANY, day_one + colleagues)
    assert run_full_graph(store_resources).success
    engine = store_resources["teammeter_db"].engine()
    with engine.connect() as conn:
        names = dict(conn.execute(sa.select(users.c.employee_id, users.c.display_name)).all())
        assert names["1"] == "Ada Lovelace"
        assert len(names["2"]) == 255 and names["2"].endswith("…")
        assert ("4711", "Team 4711") in set(conn.execute(sa.select(teams.c.team_key, teams.c.name)).all())

    day_two = [
        day_one[0],
        person("2", "B" * 5000, "Long", email="ada@acme.example", manager="1"),  # copy-paste in HR
        day_one[2],
        person("4", "Dee", "Leaver", email="dee@acme.example", status="terminated", end_date="2026-11-01"),
    ]
    sandbox.set_company(COMPANY, day_two + colleagues)
    result = run_full_graph(store_resources)
    assert result.success
    held = verdicts(result)[("users", "records_held_back")]
    assert held.metadata["employee_ids"].value == ["1", "2"]
    with engine.connect() as conn:
        rows = {row.employee_id: row for row in conn.execute(sa.select(users))}
    assert not rows["4"].active and not rows["4"].has_access, "the leaver is deactivated"
    assert (rows["1"].email, rows["1"].has_access) == ("ada@acme.example", True), "the pair keeps its state"
    assert (rows["2"].email, rows["2"].has_access) == ("bob@acme.example", True)


def test_an_unchanged_listing_keeps_the_stored_model_with_the_same_materializations_and_checks(
        resources, sandbox, tmp_path):
    sandbox.set_company(COMPANY, crafted_company())
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [COMPANY])

    def run():
        result = dg.materialize([raw_employees, *org_assets, teammeter_sync], resources=resources, instance=instance,
                                partition_key=COMPANY)
        assert result.success
        metadata = {m.asset_key.to_user_string(): m.metadata for m in result.get_asset_materialization_events()
                    and [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]}
        checks = {(e.asset_key.to_user_string(), e.check_name): (e.passed, e.description)
                  for e in result.get_asset_check_evaluations()}
        return metadata, checks

    built, built_checks = run()
    stored = {path: path.stat().st_mtime_ns for path in (tmp_path / "data" / "org").rglob("*.parquet")}
    kept, kept_checks = run()
    assert kept_checks == built_checks and len(kept_checks) == 9  # the 8 model checks and records_held_back
    for key in ("org/employees", "org/teams", "org/units", "org/roles", "org/reporting_lines"):
        assert kept[key]["rebuilt"].value is False and built[key]["rebuilt"].value is True
        same = {k: v for k, v in kept[key].items() if k != "rebuilt"}
        assert same == {k: v for k, v in built[key].items() if k != "rebuilt"}, key
    assert {path: path.stat().st_mtime_ns for path in stored} == stored  # not rewritten
    assert kept["teammeter/users"]["diff_skipped"].value is True  # the write read the kept tables

    (tmp_path / "data" / "org" / "teams" / f"{COMPANY}.parquet").unlink()  # a table gone: built again
    rebuilt, _ = run()
    assert rebuilt["org/teams"]["rebuilt"].value is True
    sandbox.set_company(COMPANY, crafted_company() + [person("77", "Nia", "New", email="nia@acme.example")])
    changed, _ = run()  # another listing: built again
    assert changed["org/employees"]["rebuilt"].value is True and changed["org/employees"]["dagster/row_count"].value == \
        built["org/employees"]["dagster/row_count"].value + 1
