"""The store's record of people the sync holds back (table `held_back_records`, migration 0009).

Which records are held back is decided by the model (`org/held_back.py`) and applied by the
diff (`diff.plan_sync`); this module remembers it, so that `review` can mark the people, the
safeguard can tell a new problem from a known one, and a fixed record is released. Each hold
and each release is also a change-log entry (entity 'user', action 'hold_back' / 'release').
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.common.tables import natural_order
from personio_pipeline.store.diff import Change
from personio_pipeline.store.schema import held_back_records

HOLD_BACK = "hold_back"
RELEASE = "release"


def open_records(conn: sa.Connection, organisation_id: int) -> pd.DataFrame:
    """The company's people held back now: id, employee_id, problem, field, detail, held_at."""
    table = held_back_records
    columns = ("id", "employee_id", "problem", "field", "detail", "held_at")
    query = sa.select(*(table.c[c] for c in columns)).where(
        table.c.organisation_id == organisation_id, table.c.released_at.is_(None)
    )
    return pd.DataFrame(conn.execute(query).all(), columns=list(columns))


def newly_held(held_back: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Employee ids held back now that were not held back for any problem before."""
    return sorted(set(held_back["employee_id"]) - set(current["employee_id"]), key=natural_order)


def record(
    conn: sa.Connection, organisation_id: int, held_back: pd.DataFrame, current: pd.DataFrame, run_id: str, now: datetime
) -> list[Change]:
    """Open a row for each new (person, problem), refresh a changed detail, release the rows
    whose problem is gone; returns the change-log entries for holds and releases."""
    wanted = {(row.employee_id, row.problem): row for row in held_back.itertuples(index=False)}
    existing = {(row.employee_id, row.problem): row for row in current.itertuples(index=False)}
    table = held_back_records
    changes: list[Change] = []
    for key, row in wanted.items():
        before = existing.get(key)
        if before is None:
            conn.execute(sa.insert(table).values(
                organisation_id=organisation_id, employee_id=row.employee_id, problem=row.problem, field=row.field,
                detail=row.detail, held_at=now, run_id=run_id,
            ))
            changes.append(Change("user", row.employee_id, HOLD_BACK, None,
                                  {"problem": row.problem, "field": row.field, "detail": row.detail}))
        elif before.detail != row.detail:
            conn.execute(sa.update(table).where(table.c.id == before.id).values(detail=row.detail))
    for key, row in existing.items():
        if key not in wanted:
            conn.execute(sa.update(table).where(table.c.id == row.id).values(released_at=now, released_run_id=run_id))
            changes.append(Change("user", row.employee_id, RELEASE, {"problem": row.problem, "field": row.field}, None))
    return changes


def open_by_employee(conn: sa.Connection, organisation_id: int) -> dict[str, str]:
    """employee id -> what holds them back, e.g. 'duplicate_email (email): address shared with 2'."""
    marks: dict[str, list[str]] = {}
    for row in open_records(conn, organisation_id).sort_values(["employee_id", "problem"]).itertuples(index=False):
        marks.setdefault(row.employee_id, []).append(f"{row.problem} ({row.field}): {row.detail}")
    return {employee_id: "; ".join(texts) for employee_id, texts in marks.items()}
