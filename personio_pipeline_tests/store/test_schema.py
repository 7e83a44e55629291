"""The migrations build exactly the tables of schema.py, and the constraints hold the rules."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from personio_pipeline.store.db import HEAD_REVISION, alembic_config, current_revision, migrate
from personio_pipeline.store.schema import invitations, metadata, team_memberships, teams, users
from personio_pipeline_tests.support.stores import register

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_the_head_revision_runs_check_against_is_the_newest_migration_script(engine):
    assert HEAD_REVISION == ScriptDirectory.from_config(alembic_config(None)).get_current_head()
    with engine.connect() as conn:  # and the database read without alembic agrees with alembic
        assert current_revision(engine) == MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION


def test_migrations_match_the_schema(engine):
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []


def test_migrated_check_constraints_are_the_schema_ones(engine):
    """compare_metadata ignores CHECK constraints: compare their names with create_all's."""
    reference = sa.create_engine("sqlite://")
    metadata.create_all(reference)

    def checks(bind) -> dict[str, set[str]]:
        inspector = sa.inspect(bind)
        return {t.name: {c["name"] for c in inspector.get_check_constraints(t.name)} for t in metadata.sorted_tables}

    assert checks(engine) == checks(reference)
    assert "ck_users_email_source_known" in checks(engine)["users"]


def test_downgrade_and_upgrade_again(engine):
    command.downgrade(alembic_config(engine), "0001")
    assert "users" not in sa.inspect(engine).get_table_names()
    migrate(engine)
    assert {"users", "change_log", "invitations"} <= set(sa.inspect(engine).get_table_names())


@pytest.fixture
def two_orgs(engine):
    register(engine, "acme")
    register(engine, "globex")
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT consumer_id, id FROM organisations")).all())
    return engine, ids["acme"], ids["globex"]


def add_user(conn, org: int, employee_id: str) -> int:
    values = {"organisation_id": org, "employee_id": employee_id, "display_name": employee_id}
    return conn.execute(sa.insert(users).values(values).returning(users.c.id)).scalar_one()


def test_employee_ids_are_unique_per_company_only(two_orgs):
    engine, acme, globex = two_orgs
    with engine.begin() as conn:
        add_user(conn, acme, "1")
        add_user(conn, globex, "1")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        add_user(conn, acme, "1")


def test_source_must_be_known_and_hr_rows_keyed(two_orgs):
    engine, acme, _ = two_orgs
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(teams).values(organisation_id=acme, name="X", source="excel"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(teams).values(organisation_id=acme, name="X", source="hr"))


def test_one_open_link_per_pair_and_source_but_history_allowed(two_orgs):
    engine, acme, _ = two_orgs
    with engine.begin() as conn:
        user = add_user(conn, acme, "1")
        team = conn.execute(
            sa.insert(teams).values(organisation_id=acme, name="T", source="teammeter").returning(teams.c.id)
        ).scalar_one()
        link = {"organisation_id": acme, "team_id": team, "user_id": user, "started_at": NOW}
        conn.execute(sa.insert(team_memberships).values(**link, source="hr", ended_at=NOW))
        conn.execute(sa.insert(team_memberships).values(**link, source="hr"))
        conn.execute(sa.insert(team_memberships).values(**link, source="teammeter"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(team_memberships).values(**link, source="hr"))


def test_one_open_invitation_per_user(two_orgs):
    engine, acme, _ = two_orgs
    with engine.begin() as conn:
        user = add_user(conn, acme, "1")
        invite = {"organisation_id": acme, "user_id": user, "email": "a@x.test"}
        conn.execute(sa.insert(invitations).values(**invite, status="sent"))
        conn.execute(sa.insert(invitations).values(**invite))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(invitations).values(**invite, status="claimed"))


def test_companies_synced_before_sync_runs_keep_their_last_success(engine):
    command.downgrade(alembic_config(engine), "0003")
    with engine.begin() as conn:  # the 0003 schema, so plain SQL
        conn.execute(
            sa.text("INSERT INTO organisations (consumer_id, name, last_synced_at) VALUES (:id, :id, :at)"),
            [{"id": "acme", "at": NOW}, {"id": "never-synced", "at": None}],
        )
    migrate(engine)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT consumer_id, last_success_at FROM company_sync_status")).all())
    assert rows["never-synced"] is None
    assert str(rows["acme"]).startswith("2026-01-01")
