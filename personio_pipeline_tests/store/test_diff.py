"""The pure diff (no database) and a property test of sync + diff over random day sequences."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personio_pipeline.org.held_back import held_back_ids, held_back_records
from personio_pipeline.store.db import create_engine
from personio_pipeline.store.diff import ModelError, OrgModel, Snapshot, plan_sync
from personio_pipeline.store.schema import team_memberships, users
from personio_pipeline.store.sync import SNAPSHOT_COLUMNS, load_snapshot
from personio_pipeline_tests.support.people import day_one, org_model, person, replaced, sync
from personio_pipeline_tests.support.stores import register, table_rows

EMPTY = Snapshot(**{name: pd.DataFrame([], columns=list(columns)) for name, (_, columns) in SNAPSHOT_COLUMNS.items()})


def synced_snapshot(engine, people) -> Snapshot:
    register(engine)
    sync(engine, people, "day-1")
    with engine.connect() as conn:
        return load_snapshot(conn, 1)


@pytest.fixture
def sqlite_engine(sqlite_template, tmp_path):
    shutil.copy(sqlite_template, tmp_path / "db.sqlite")
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield engine
    engine.dispose()


def changes(plan) -> set[tuple[str, str, str]]:
    return {(c.entity, c.key, c.action) for c in plan.changes()}


def test_empty_store_plans_creates_only():
    plan = plan_sync(EMPTY, org_model(day_one()))
    assert {action for _, _, action in changes(plan)} == {"create"}
    assert plan.counts()["user"] == {"create": 8}
    assert plan.deactivated_users() == []


def test_respelt_position_renames_the_role(sqlite_engine):
    snapshot = synced_snapshot(sqlite_engine, day_one())
    respelt = [replaced(p, role="Engineering manager") if p.employee_id == "1" else p for p in day_one()]
    plan = plan_sync(snapshot, org_model(respelt))
    assert changes(plan) == {("role", "engineering manager", "update")}
    assert plan["role"].changes[0].before == {"name": "Engineering Manager"}
    assert plan["role"].changes[0].after == {"name": "Engineering manager"}


def test_team_following_its_people_to_another_unit_is_updated(sqlite_engine):
    snapshot = synced_snapshot(sqlite_engine, day_one())
    moved = [replaced(p, unit="Product") if p.team == "Mobile" else p for p in day_one()]
    plan = plan_sync(snapshot, org_model(moved))
    assert changes(plan) == {
        ("unit", "name:product", "create"),
        ("team", "name:mobile", "update"),
        ("user", "4", "update"),
        ("user", "8", "update"),
    }


def test_team_without_active_people_is_deactivated(sqlite_engine):
    snapshot = synced_snapshot(sqlite_engine, day_one())
    gone = [replaced(p, status="terminated") if p.team == "Mobile" else p for p in day_one()]
    assert ("team", "name:mobile", "deactivate") in changes(plan_sync(snapshot, org_model(gone)))


def test_model_contract_is_checked():
    model = org_model(day_one())
    with pytest.raises(ModelError, match="lacks the columns"):
        plan_sync(EMPTY, OrgModel(model.employees.drop(columns=["status"]), *_rest(model)))
    with pytest.raises(ModelError, match="repeats employee_id 1"):
        plan_sync(EMPTY, OrgModel(pd.concat([model.employees, model.employees.head(1)]), *_rest(model)))
    odd = model.employees.assign(
        status=model.employees["status"].where(model.employees["employee_id"] != "2", "on leave")
    )
    with pytest.raises(ModelError, match="on leave"):
        plan_sync(EMPTY, OrgModel(odd, *_rest(model)))
    lines = pd.DataFrame({"employee_id": ["2"], "manager_id": ["7"]})  # 7 left
    with pytest.raises(ModelError, match="not active employees: 7"):
        plan_sync(EMPTY, OrgModel(model.employees, model.teams, model.units, model.roles, lines))


def _rest(model: OrgModel) -> tuple:
    return model.teams, model.units, model.roles, model.reporting_lines


# ---------------------------------------------------------------- property: any sequence of days


def day(draw_people: list[tuple[int, bool, int, int, int | None, bool]]) -> list:
    return [
        person(
            str(eid),
            status="active" if active else "terminated",
            team=f"Team {team}",
            unit=f"Unit {team % 2}",
            role=f"Role {role}",
            manager=None if manager is None else str(manager),
            email=f"p{eid}@x.test" if has_email else None,
        )
        for eid, active, team, role, manager, has_email in draw_people
    ]


people = st.lists(
    st.tuples(
        st.integers(1, 12),
        st.booleans(),
        st.integers(0, 3),
        st.integers(0, 3),
        st.none() | st.integers(1, 12),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda p: p[0],
).map(day)


@pytest.mark.slow  # hypothesis: syncs of random sequences of days
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.lists(people, min_size=1, max_size=3))
def test_any_sequence_of_days_converges_and_reruns_write_nothing(sqlite_template, days):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "db.sqlite"
        shutil.copy(sqlite_template, path)
        engine = create_engine(f"sqlite:///{path}")
        try:
            register(engine)
            for number, people_of_the_day in enumerate(days):
                sync(engine, people_of_the_day, f"day-{number}", approve_deactivations=True)
            last = days[-1]
            assert sync(engine, last, "rerun", approve_deactivations=True, full_sync=True).rows_written == 0
            assert sync(engine, last, "rerun-2", approve_deactivations=True).diff_skipped
            active = {p.employee_id for p in last if p.status == "active"}
            held = set(held_back_ids(held_back_records(org_model(last).employees)))  # random managers make cycles
            stored_active = {r[0] for r in table_rows(engine, users, "acme", "employee_id", active=True)}
            assert active - held <= stored_active <= active, "leavers are always deactivated"
            with engine.connect() as conn:
                member_ids = conn.execute(
                    sa.select(users.c.employee_id).join(team_memberships, team_memberships.c.user_id == users.c.id)
                    .where(team_memberships.c.ended_at.is_(None))
                ).scalars().all()
            assert sorted(i for i in member_ids if i not in held) == sorted(active - held)
            with engine.connect() as conn:
                ids = conn.execute(sa.select(users.c.employee_id)).scalars().all()
            assert len(ids) == len(set(ids))  # nobody duplicated
        finally:
            engine.dispose()
