"""`personio-pipeline db upgrade`, the deploy step: several processes upgrading one empty
PostgreSQL database at once end with one schema and no error (advisory lock); the CLI and runs
refuse a database behind the code's revision and name the command; SQLite migrates itself."""

from __future__ import annotations

import subprocess

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from personio_pipeline import cli
from personio_pipeline.store.db import UPGRADE_COMMAND, create_engine, head_revision, migrated_engine
from personio_pipeline.store.schema import metadata
from personio_pipeline_tests.support.processes import BIN, REPO, child_env
from personio_pipeline_tests.support.stores import sqlalchemy_url

pytestmark = pytest.mark.postgres
PROCESSES = 4


def test_four_processes_upgrade_one_empty_database_at_once(new_database):
    url = sqlalchemy_url(new_database("teammeter_upgrade"))
    env = child_env(TEAMMETER_DATABASE_URL=url)
    upgrades = [subprocess.Popen([str(BIN / "personio-pipeline"), "db", "upgrade"], env=env, cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(PROCESSES)]
    outputs = []
    for process in upgrades:
        output, _ = process.communicate(timeout=180)
        outputs.append(output.decode(errors="replace"))
        assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    # Exactly one of them migrated; the others found the schema at head.
    assert sum("upgraded from an empty database" in output for output in outputs) == 1, outputs
    assert sum("nothing to do" in output for output in outputs) == PROCESSES - 1, outputs

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []
    finally:
        engine.dispose()


def test_cli_refuses_a_database_behind_the_code_and_names_the_command(new_database, monkeypatch, tmp_path):
    url = sqlalchemy_url(new_database("teammeter_behind"))
    monkeypatch.setenv("TEAMMETER_DATABASE_URL", url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli.main, ["tenants", "add", "acme", "--name", "ACME"])
    assert result.exit_code == 1
    assert UPGRADE_COMMAND in result.output and "no Teammeter schema" in result.output
    assert sa.inspect(create_engine(url)).get_table_names() == []  # nothing was created by the way

    assert CliRunner().invoke(cli.main, ["db", "current"]).exit_code == 1
    upgraded = CliRunner().invoke(cli.main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert CliRunner().invoke(cli.main, ["db", "current"]).exit_code == 0
    added = CliRunner().invoke(cli.main, ["tenants", "add", "acme", "--name", "ACME"])
    assert added.exit_code == 0, added.output


def test_embedded_sqlite_migrates_itself(tmp_path):
    engine = migrated_engine(f"sqlite:///{tmp_path / 'teammeter.sqlite'}")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
