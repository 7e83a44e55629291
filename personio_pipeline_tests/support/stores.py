"""Teammeter databases for tests, on SQLite and PostgreSQL, and reading them back.

- `engine` (parametrised: sqlite, postgres): an empty migrated store per test: a copied SQLite file,
  or the test module's PostgreSQL database with every table emptied (ids restart at 1).
- `postgres_admin_url` / `postgres_admin`: the local server (TEAMMETER_TEST_POSTGRES_URL, else
  ADMIN_URLS); skipped when unreachable, failing when CI is set. `postgres_template` (migrated,
  per session), `postgres_database` (a copy per test module), `new_database` (empty databases for
  the production-profile tests, returned as psycopg connection info).
- `register`, `table_rows`, `dump`, `database_url`: plain helpers.

The ACME story and the organisation-model factory are in support/people.py.
"""

from __future__ import annotations

import os
import shutil
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from personio_pipeline.companies import registry
from personio_pipeline.store.db import create_engine, migrate
from personio_pipeline.store.schema import metadata, organisations
from personio_pipeline_tests.support.net import unavailable

# The local server, as postgres then as root, unless TEAMMETER_TEST_POSTGRES_URL names another.
ADMIN_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")


# ---------------------------------------------------------------- the PostgreSQL server


def admin_urls() -> tuple[str, ...]:
    """TEAMMETER_TEST_POSTGRES_URL when set, else the local server as postgres, then as root."""
    configured = os.environ.get("TEAMMETER_TEST_POSTGRES_URL")
    return (configured,) if configured else ADMIN_URLS


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A URL of the server's `test` database as a user that may create databases, or skip/fail."""
    for url in admin_urls():
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url
        except psycopg.OperationalError:
            continue
    unavailable(f"PostgreSQL is not reachable at {' or '.join(admin_urls())}")


@pytest.fixture(scope="session")
def postgres_admin(postgres_admin_url):
    """An AUTOCOMMIT engine on the server's `test` database."""
    engine = create_engine(postgres_admin_url).execution_options(isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _database_url(admin: sa.Engine, name: str) -> str:
    return admin.url.set(database=name).render_as_string(hide_password=False)


def _admin_execute(admin: sa.Engine, statement: str, database: str, template: str | None = None) -> None:
    """DDL on database names, which cannot be bound parameters: composed with psycopg.sql."""
    names = [database] if template is None else [database, template]
    with admin.connect() as conn:
        conn.connection.driver_connection.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))


@pytest.fixture
def new_database(postgres_admin_url):
    """Factory of empty databases (dropped after the test); returns their connection info."""
    created: list[str] = []

    def make(prefix: str) -> dict:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            created.append(name)
            return psycopg.conninfo.conninfo_to_dict(postgres_admin_url) | {"dbname": name}

    yield make
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def sqlalchemy_url(info: dict) -> str:
    """The URL of a database `new_database` made."""
    password = f":{info['password']}" if info.get("password") else ""
    return f"postgresql://{info['user']}{password}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{info['dbname']}"


# ---------------------------------------------------------------- migrated stores


@pytest.fixture(scope="session")
def postgres_template(postgres_admin):
    """A migrated database that each test module copies (CREATE DATABASE ... TEMPLATE is fast)."""
    name = f"teammeter_template_{uuid.uuid4().hex[:8]}"
    _admin_execute(postgres_admin, "CREATE DATABASE {}", name)
    engine = create_engine(_database_url(postgres_admin, name))
    migrate(engine)
    engine.dispose()
    yield name
    _admin_execute(postgres_admin, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "teammeter.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def postgres_database(postgres_admin, postgres_template):
    """A migrated database for one test module, dropped afterwards."""
    name = f"teammeter_test_{uuid.uuid4().hex[:12]}"
    _admin_execute(postgres_admin, "CREATE DATABASE {} TEMPLATE {}", name, template=postgres_template)
    engine = create_engine(_database_url(postgres_admin, name))
    yield engine
    engine.dispose()
    _admin_execute(postgres_admin, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def empty_tables(engine: sa.Engine) -> None:
    """Empty every table of a PostgreSQL store (ids restart)."""
    tables = sql.SQL(", ").join(sql.Identifier(table.name) for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.connection.driver_connection.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    """An empty, migrated Teammeter database: a fresh SQLite file, or the module's PostgreSQL
    database with every table emptied (ids restart at 1)."""
    if request.param == "postgres":
        engine = request.getfixturevalue("postgres_database")
        empty_tables(engine)
        yield engine
        return
    path = tmp_path / "teammeter.sqlite"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    engine = create_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


# ---------------------------------------------------------------- companies and rows


def register(engine: sa.Engine, consumer_id: str = "acme", name: str = "ACME GmbH") -> str:
    with engine.begin() as conn:
        registry.register(conn, consumer_id, name)
    return consumer_id


def table_rows(engine: sa.Engine, table: sa.Table, consumer_id: str, *columns: str, **where) -> list[tuple]:
    """Sorted tuples of `columns` of a company's rows matching `where`."""
    org = organisations
    query = (
        sa.select(*(table.c[c] for c in columns))
        .join(org, org.c.id == table.c.organisation_id)
        .where(org.c.consumer_id == consumer_id, *(table.c[k] == v for k, v in where.items()))
    )
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(query))


def dump(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every row of every table, to prove that nothing changed."""
    with engine.connect() as conn:
        return {
            table.name: sorted(map(tuple, conn.execute(sa.select(table)).all()), key=repr)
            for table in metadata.sorted_tables
        }


def database_url(engine: sa.Engine) -> str:
    """The engine's URL with its password, for a resource or a child process."""
    return engine.url.render_as_string(hide_password=False)
