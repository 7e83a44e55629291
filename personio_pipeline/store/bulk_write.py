r"""Dialect-specific bulk writes of a data frame's rows: COPY on PostgreSQL, one driver-level
executemany elsewhere, with each column converted once through its SQLAlchemy type.

The sync writes up to hundreds of thousands of rows per company in one transaction; SQLAlchemy's
per-row parameter handling would cost more than the database's own work (timings:
docs/performance.md, bench/results.md).

COPY runs on the SQLAlchemy connection's own psycopg connection, so inside the caller's
transaction (a rollback takes the rows back). Values go through the same conversions on both
paths: JSON as compact text (None stays SQL NULL), timestamps as aware datetimes; psycopg's
`write_row` escapes COPY's text format (tabs, newlines, backslashes, `\N`, `\.`). A NUL
character in a text column is refused on PostgreSQL (`psycopg.DataError`: PostgreSQL text cannot
hold it; the model's cleaning removes it before) and stored by SQLite; inside JSON it is the
escape `\u0000` and kept by both. Tests: store/test_first_import.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat

import orjson
import pandas as pd
import sqlalchemy as sa

__all__ = ["insert_many", "update_many"]


def insert_many(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, constants: dict) -> None:
    """Insert the frame's rows plus `constants` (same value in every row): COPY on PostgreSQL,
    several times faster there than executemany; one executemany elsewhere."""
    if not len(frame):
        return
    columns = [*frame.columns, *constants]
    values = [_values(frame, constants, c, table.c[c].type, conn.dialect) for c in columns]
    if conn.dialect.name == "postgresql":
        _copy(conn, table.name, columns, zip(*values))
    else:
        statement = table.insert().inline().values({c: sa.bindparam(c) for c in columns})
        _executemany(conn, statement, dict(zip(columns, values)))


def update_many(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, constants: dict) -> None:
    """UPDATE ... WHERE id = :id for every row. Bind names get a `new_` prefix because
    SQLAlchemy reserves the bare column names."""
    if not len(frame):
        return
    columns = [c for c in [*frame.columns, *constants] if c != "id"]
    statement = (
        sa.update(table).where(table.c.id == sa.bindparam("id")).values({c: sa.bindparam("new_" + c) for c in columns})
    )
    values = {"new_" + c: _values(frame, constants, c, table.c[c].type, conn.dialect) for c in columns}
    _executemany(conn, statement, {"id": frame["id"].tolist(), **values})


def _executemany(conn: sa.Connection, statement: sa.Insert | sa.Update, values: dict[str, Iterable]) -> None:
    """One executemany through the driver with rows built column by column: at 100,000 rows
    SQLAlchemy's per-row parameter handling costs more than the database's own work."""
    compiled = statement.compile(dialect=conn.dialect)
    names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    rows = zip(*(values[name] for name in names))
    conn.exec_driver_sql(compiled.string, list(rows) if compiled.positional else [dict(zip(names, r)) for r in rows])


def _copy(conn: sa.Connection, table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    from psycopg import sql  # PostgreSQL only: a SQLite deployment never loads the driver

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _values(
    frame: pd.DataFrame, constants: dict, column: str, type_: sa.types.TypeEngine, dialect: sa.Dialect
) -> Iterable:
    """A column's values as the driver expects them; constants are converted once and repeated."""
    if column in constants:
        return repeat(_convert([constants[column]], type_, dialect)[0])
    series = frame[column]
    return _convert(series.astype(object).where(series.notna(), None).tolist(), type_, dialect)


def _convert(values: list, type_: sa.types.TypeEngine, dialect: sa.Dialect) -> list:
    """Through the type's bind processor; None stays SQL NULL (also for JSON)."""
    process = _to_json if isinstance(type_, sa.JSON) else type_.dialect_impl(dialect).bind_processor(dialect)
    return values if process is None else [None if v is None else process(v) for v in values]


def _to_json(value) -> str:
    """Compact JSON for the change log's before/after: a first sync writes several per person."""
    return orjson.dumps(value).decode()
