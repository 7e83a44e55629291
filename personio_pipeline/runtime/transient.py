"""Which failures are worth another attempt a little later: the ones the network or the database
server cause and undo on their own. Everything else (a refused credential, a blocking check, the
safeguard, a schema behind the code, a bug) fails the same way on every attempt, so retrying it
only delays the alert."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import sqlalchemy.exc

from personio_pipeline.apideck.errors import ApideckError, ApideckUnavailableError
from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.store.db import SchemaNotCurrentError
from personio_pipeline.store.safeguard import SafeguardError

# Failures that are the same on every attempt, whatever they were raised during.
NEVER_TRANSIENT = (SafeguardError, SchemaNotCurrentError, UnknownCompanyError)

# PostgreSQL SQLSTATEs that a new attempt can get past: connection exceptions (class 08),
# serialization failure and deadlock (class 40), the server shutting down or starting
# (57P01-57P03), too many connections (53300), lock wait timeout (55P03).
TRANSIENT_SQLSTATE_CLASSES = ("08", "40")
TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "53300", "55P03"}
SQLITE_TRANSIENT_MESSAGES = ("database is locked", "database table is locked")


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it was raised from or during (`raise X from None` hides the cause from
    the traceback, not from `__context__`), innermost last."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transient_database_error(error: BaseException) -> bool | None:
    """True/False for a database error, None for anything else."""
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return _transient_database_error(error.orig) if error.orig is not None else False
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate is not None or type(error).__module__.startswith("psycopg"):
        if sqlstate is None:  # psycopg errors without a state: the connection failed or broke
            return type(error).__name__ in ("OperationalError", "InterfaceError")
        return sqlstate.startswith(TRANSIENT_SQLSTATE_CLASSES) or sqlstate in TRANSIENT_SQLSTATES
    if isinstance(error, sqlite3.OperationalError):
        return any(text in str(error) for text in SQLITE_TRANSIENT_MESSAGES)
    if isinstance(error, sqlalchemy.exc.SQLAlchemyError):
        return isinstance(error, sqlalchemy.exc.TimeoutError)  # connection pool exhausted
    return None


def is_transient(error: BaseException) -> bool:
    """True for connection resets and timeouts, serialization failures and deadlocks, and Apideck
    answers that stayed 429/5xx after the client's own retries; False for everything else,
    including 401/403 and other refusals, the safeguard and blocking checks. The first error in
    the chain that is recognised decides."""
    for current in causes(error):
        if isinstance(current, NEVER_TRANSIENT):
            return False
        if isinstance(current, ApideckError):
            return isinstance(current, ApideckUnavailableError)
        database = _transient_database_error(current)
        if database is not None:
            return database
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
    return False
