"""Brings one company's Teammeter store in step with its organisation model, in one transaction.

load (one SELECT per table) -> `diff.plan_sync` (pure) -> safeguard -> apply (bulk executemany
per table and action) -> change log -> organisation sync times. Any failure rolls everything
back, and two syncs of one company never interleave: the transaction holds the company lock
from the start (PostgreSQL: the organisation row FOR UPDATE; SQLite: BEGIN IMMEDIATE).

Records that cannot be applied safely (`model/quarantine.py`) are held back one by one and
remembered in `held_back_records`; the rest of the company is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import repeat

import orjson
import pandas as pd
import sqlalchemy as sa
from psycopg import sql

from personio_pipeline.memory import cyclic_gc_paused
from personio_pipeline.model.quarantine import HELD_BACK_COLUMNS, held_back_ids, held_back_records
from personio_pipeline.teammeter import held_back as held_back_store
from personio_pipeline.teammeter import organisations, safeguard, unchanged
from personio_pipeline.teammeter.diff import (
    ENTITIES,
    Change,
    EntityPlan,
    OrgModel,
    Snapshot,
    SyncPlan,
    plan_sync,
)
from personio_pipeline.teammeter.ownership import CONFLICT_KEPT_TEAMMETER, HR
from personio_pipeline.teammeter.schema import (
    change_log,
    reporting_lines,
    roles,
    team_memberships,
    teams,
    units,
    user_roles,
    users,
)
from personio_pipeline.teammeter.sync_runs import record_success

__all__ = ["OrgModel", "SyncResult", "company_transaction", "load_snapshot", "sync_company"]

STAGES = (*ENTITIES, "change_log", "organisation")
PREVIEW_SECTIONS = (
    ("Creates", ("create",)),
    ("Updates", ("update",)),
    ("Deactivations", ("deactivate", "end")),
    ("Reactivations", ("reactivate",)),
    ("Conflicts (Teammeter value kept)", (CONFLICT_KEPT_TEAMMETER,)),
    ("Held back (HR record to fix) and released", (held_back_store.HOLD_BACK, held_back_store.RELEASE)),
)
PREVIEW_ACTIONS = tuple(action for _, actions in PREVIEW_SECTIONS for action in actions)

# What the diff needs of each table; links are loaded open only.
SNAPSHOT_COLUMNS: dict[str, tuple[sa.Table, tuple[str, ...]]] = {
    "users": (
        users,
        (
            "id",
            "employee_id",
            "display_name",
            "first_name",
            "last_name",
            "unit_id",
            "email",
            "email_source",
            "hr_email",
            "active",
            "has_access",
        ),
    ),
    "units": (units, ("id", "unit_key", "name", "source", "active")),
    "teams": (teams, ("id", "team_key", "name", "unit_id", "source", "active")),
    "roles": (roles, ("id", "role_key", "name", "source", "active")),
    "team_memberships": (team_memberships, ("id", "team_id", "user_id", "source")),
    "user_roles": (user_roles, ("id", "user_id", "role_id", "source")),
    "reporting_lines": (reporting_lines, ("id", "user_id", "manager_user_id", "source")),
}

# Rows: (table, key column, {plan column: (table column, entity whose ids it needs)}).
ROW_TABLES: dict[str, tuple[sa.Table, str, dict[str, tuple[str, str]]]] = {
    "unit": (units, "unit_key", {}),
    "team": (teams, "team_key", {"unit_key": ("unit_id", "unit")}),
    "role": (roles, "role_key", {}),
    "user": (users, "employee_id", {"unit_key": ("unit_id", "unit")}),
}
# Links: (table, {plan column: (table column, entity whose ids it needs)}).
LINK_TABLES: dict[str, tuple[sa.Table, dict[str, tuple[str, str]]]] = {
    "team_membership": (team_memberships, {"employee_id": ("user_id", "user"), "team_key": ("team_id", "team")}),
    "user_role": (user_roles, {"employee_id": ("user_id", "user"), "role_key": ("role_id", "role")}),
    "reporting_line": (
        reporting_lines,
        {"employee_id": ("user_id", "user"), "manager_id": ("manager_user_id", "user")},
    ),
}


@dataclass(frozen=True)
class SyncResult:
    """What one sync did. `rows_written` counts inserted and updated store rows plus change-log
    rows; it leaves out the organisation's sync timestamps, which every successful run records."""

    consumer_id: str
    run_id: str
    counts: dict[str, dict[str, int]]
    rows_written: int
    changes: list[Change] = field(repr=False)
    diff_skipped: bool = False  # model and store as the last sync left them: nothing to compare
    # People held back in this run (HELD_BACK_COLUMNS), newly or still; empty when none.
    held_back: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(HELD_BACK_COLUMNS)), repr=False)

    def preview_markdown(self, limit: int = 50) -> str:
        """Totals per entity and action, then up to `limit` changes per section."""
        lines = [
            f"Sync of company `{self.consumer_id}` (run `{self.run_id}`): {self.rows_written} rows written."
            + (" The organisation model and the store were as the last sync left them: no diff needed."
               if self.diff_skipped else ""),
            "",
            "| entity | " + " | ".join(PREVIEW_ACTIONS) + " |",
            "| --- |" + " ---: |" * len(PREVIEW_ACTIONS),
        ]
        for entity in ENTITIES:
            tally = self.counts.get(entity, {})
            lines.append(f"| {entity} | " + " | ".join(str(tally.get(a, 0)) for a in PREVIEW_ACTIONS) + " |")
        totals = [sum(t.get(a, 0) for t in self.counts.values()) for a in PREVIEW_ACTIONS]
        lines.append("| **total** | " + " | ".join(str(n) for n in totals) + " |")
        for title, actions in PREVIEW_SECTIONS:
            section = [c for c in self.changes if c.action in actions]
            lines += ["", f"### {title}: {len(section)}"]
            if section:
                lines += ["", "| entity | key | action | before | after |", "| --- | --- | --- | --- | --- |"]
                lines += [_preview_row(c) for c in section[:limit]]
            if len(section) > limit:
                lines += ["", f"… and {len(section) - limit} more (all of them are in change_log)."]
        return "\n".join(lines)


def sync_company(
    engine: sa.Engine,
    consumer_id: str,
    model: OrgModel,
    *,
    run_id: str,
    now: datetime | None = None,
    max_deactivation_share: float | None = None,
    approve_deactivations: bool = False,
    full_sync: bool = False,
    max_held_back_share: float | None = None,
    after_stage: Callable[[str], None] | None = None,
) -> SyncResult:
    """Make the company's HR rows in Teammeter match `model`, all or nothing, holding back the
    records that cannot be applied safely (unless so many are new that the run stops, see
    `safeguard.check_held_back`).

    When the model and the store are what the last committed sync left, the diff is skipped
    (see `unchanged.py`); `full_sync` always diffs. `after_stage` is called with each name in
    STAGES once that stage's writes are done; tests use it to fail mid-write or to hold the lock.
    """
    now = now or datetime.now(timezone.utc)
    fingerprint = unchanged.model_fingerprint(model)
    held_back = held_back_records(model.employees)
    with cyclic_gc_paused(), company_transaction(engine) as conn:
        organisation = organisations.lock(conn, consumer_id)
        safeguard.refuse_empty(organisation, len(model.employees))
        safeguard.limit_for(organisation, max_deactivation_share)  # a bad setting fails every run
        safeguard.held_back_limit(max_held_back_share)
        if not full_sync and unchanged.unchanged_since_last_sync(conn, organisation.id, fingerprint, now):
            _mark_synced(conn, organisation.id, now)
            record_success(conn, organisation.id, run_id, finished_at=now, employees_read=len(model.employees),
                           rows_written=0, counts={})
            return SyncResult(consumer_id, run_id, {}, 0, [], diff_skipped=True, held_back=held_back)
        held_before = held_back_store.open_records(conn, organisation.id)
        safeguard.check_held_back(
            organisation,
            active_people=int((model.employees["status"] == "active").sum()),
            newly_held=held_back_store.newly_held(held_back, held_before),
            fields=sorted(set(held_back["field"])),
            run_share=max_held_back_share,
        )
        snapshot = load_snapshot(conn, organisation.id)
        plan = plan_sync(snapshot, model, held_back=held_back_ids(held_back))
        safeguard.check_deactivations(
            organisation,
            active_users=snapshot.active_users,
            deactivations=plan.deactivated_users(),
            run_share=max_deactivation_share,
            approved=approve_deactivations,
        )
        holds = held_back_store.record(conn, organisation.id, held_back, held_before, run_id, now)
        rows_written = _apply(conn, organisation.id, plan, snapshot, run_id, now, after_stage or _no_hook, holds)
        counts = _counts(plan, holds)
        unchanged.remember(conn, organisation.id, fingerprint, now)
        # Observability: the attempt's summary commits with the data, or not at all.
        record_success(conn, organisation.id, run_id, finished_at=now, employees_read=len(model.employees),
                       rows_written=rows_written, counts=counts)
    return SyncResult(consumer_id, run_id, counts, rows_written, plan.changes() + holds, held_back=held_back)


def _counts(plan: SyncPlan, holds: list[Change]) -> dict[str, dict[str, int]]:
    """The plan's counts plus holds and releases (under 'user')."""
    counts = plan.counts()
    for change in holds:
        tally = counts.setdefault(change.entity, {})
        tally[change.action] = tally.get(change.action, 0) + 1
    return counts


@contextmanager
def company_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that takes SQLite's write lock at BEGIN, so a concurrent sync waits
    (busy_timeout) instead of failing on a stale snapshot; on PostgreSQL a plain transaction,
    serialised by `organisations.lock`."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def load_snapshot(conn: sa.Connection, organisation_id: int) -> Snapshot:
    """The company's current rows, one SELECT per table."""
    frames = {}
    for name, (table, columns) in SNAPSHOT_COLUMNS.items():
        query = sa.select(*(table.c[c] for c in columns)).where(table.c.organisation_id == organisation_id)
        if "ended_at" in table.c:
            query = query.where(table.c.ended_at.is_(None))
        frames[name] = pd.DataFrame(conn.execute(query).all(), columns=list(columns))
    return Snapshot(**frames)


def _apply(
    conn: sa.Connection,
    organisation_id: int,
    plan: SyncPlan,
    snapshot: Snapshot,
    run_id: str,
    now: datetime,
    after_stage: Callable[[str], None],
    holds: list[Change],
) -> int:
    ids = {
        "unit": _key_to_id(snapshot.units, "unit_key"),
        "team": _key_to_id(snapshot.teams, "team_key"),
        "role": _key_to_id(snapshot.roles, "role_key"),
        "user": _key_to_id(snapshot.users, "employee_id"),
    }
    written = 0
    for entity in ENTITIES:
        if entity in ROW_TABLES:
            table, key, refs = ROW_TABLES[entity]
            written += _apply_rows(conn, table, key, _with_ids(plan[entity], refs, ids), organisation_id, now)
            if len(plan[entity].inserts):
                ids[entity] = _load_ids(conn, table, key, organisation_id)
        else:
            table, refs = LINK_TABLES[entity]
            written += _apply_links(conn, table, _with_ids(plan[entity], refs, ids), organisation_id, now)
        after_stage(entity)
    changes = plan.changes() + holds
    log = pd.DataFrame(changes, columns=["entity", "entity_key", "action", "before", "after"])
    constants = {"organisation_id": organisation_id, "run_id": run_id, "at": now}
    _insert_many(conn, change_log, log, constants)
    after_stage("change_log")
    _mark_synced(conn, organisation_id, now)
    after_stage("organisation")
    return written + len(changes)


def _mark_synced(conn: sa.Connection, organisation_id: int, now: datetime) -> None:
    org = organisations.organisations
    conn.execute(
        sa.update(org)
        .where(org.c.id == organisation_id)
        .values(last_synced_at=now, first_synced_at=sa.func.coalesce(org.c.first_synced_at, now))
    )


def _apply_rows(
    conn: sa.Connection, table: sa.Table, key: str, plan: EntityPlan, organisation_id: int, now: datetime
) -> int:
    """Insert new rows and rewrite changed ones (deactivated rows get deactivated_at)."""
    constants = {"organisation_id": organisation_id, "active": True, "created_at": now}
    if "source" in table.c:
        constants["source"] = HR
    _insert_many(conn, table, plan.inserts, constants)
    updates = plan.updates.drop(columns=[key])
    updates["deactivated_at"] = pd.Series(
        [None if a else now for a in updates["active"]], index=updates.index, dtype=object
    )
    _update_many(conn, table, updates, {"updated_at": now})
    return len(plan.inserts) + len(updates)


def _apply_links(conn: sa.Connection, table: sa.Table, plan: EntityPlan, organisation_id: int, now: datetime) -> int:
    """Start new links and end old ones; ended links stay as history."""
    constants = {"organisation_id": organisation_id, "source": HR, "started_at": now}
    _insert_many(conn, table, plan.inserts, constants)
    _update_many(conn, table, plan.updates[["id"]], {"ended_at": now})
    return len(plan.inserts) + len(plan.updates)


def _with_ids(plan: EntityPlan, refs: dict[str, tuple[str, str]], ids: dict[str, pd.Series]) -> EntityPlan:
    """Replace HR keys in the plan's frames with the row ids they refer to."""

    def resolve(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, (id_column, entity) in refs.items():
            if column in frame:
                frame[id_column] = frame[column].map(ids[entity]).astype("Int64")
        return frame.drop(columns=[c for c in refs if c in frame])

    return EntityPlan(plan.entity, resolve(plan.inserts), resolve(plan.updates), plan.changes)


def _insert_many(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, constants: dict) -> None:
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


def _update_many(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, constants: dict) -> None:
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
    """Compact JSON for the change log's before/after: a first sync writes ~400,000 of them."""
    return orjson.dumps(value).decode()


def _key_to_id(rows: pd.DataFrame, key: str) -> pd.Series:
    """HR key -> row id (users are all HR rows)."""
    if "source" in rows:
        rows = rows[rows["source"] == HR]
    return pd.Series(rows["id"].to_numpy(), index=rows[key].to_numpy())


def _load_ids(conn: sa.Connection, table: sa.Table, key: str, organisation_id: int) -> pd.Series:
    query = sa.select(table.c.id, table.c[key]).where(table.c.organisation_id == organisation_id)
    if "source" in table.c:
        query = query.where(table.c.source == HR)
    return _key_to_id(pd.DataFrame(conn.execute(query).all(), columns=["id", key]), key)


def _preview_row(change: Change) -> str:
    cells = [change.entity, change.key, change.action, _describe(change.before), _describe(change.after)]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


# Previews end up in Dagster metadata: addresses are shown as set/unset only (change_log has them).
PERSONAL_FIELDS = frozenset({"email", "hr_email"})


def _describe(values: dict | None) -> str:
    if not values:
        return ""
    return ", ".join(
        f"{k}: {('(set)' if v else '(none)') if k in PERSONAL_FIELDS else v}" for k, v in values.items()
    )


def _no_hook(_stage: str) -> None:
    return None
