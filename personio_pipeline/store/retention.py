"""Change-log retention: names and addresses in `change_log` before/after are kept for
`CHANGE_LOG_RETENTION_DAYS` (default 90), then replaced by null.

What stays of an old entry: which user (HR employee id), what happened, which fields changed and
the values that are not personal (active, has_access, unit key, e-mail source), and when the
personal values were removed (`personal_data_removed_at`). Only `user` entries carry personal
values; units, teams and roles are named after the organisation, links by employee ids.
Batches commit one at a time, so a first run over millions of entries holds no long transaction,
and a partial index finds the entries still to strip without reading the stripped ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import change_log

PERSONAL_FIELDS = frozenset({"display_name", "first_name", "last_name", "email", "hr_email"})
PERSONAL_ENTITY = "user"
BATCH = 5_000


def cutoff(now: datetime, days: int) -> datetime:
    return as_utc(now) - timedelta(days=days)


def without_personal_values(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """The same keys, personal values replaced by None (the entry still says what changed)."""
    if not values:
        return values
    return {key: None if key in PERSONAL_FIELDS else value for key, value in values.items()}


def _due(older_than: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        change_log.c.entity == PERSONAL_ENTITY,
        change_log.c.personal_data_removed_at.is_(None),
        change_log.c.at < as_utc(older_than),
    )


def count_due(conn: sa.Connection, older_than: datetime) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(change_log).where(_due(older_than))).scalar_one()


def strip_personal_values(engine: sa.Engine, older_than: datetime, *, now: datetime, batch: int = BATCH) -> int:
    """Strip personal values from every user entry logged before `older_than`; how many entries.
    Safe to run at any time and again (stripped entries are marked and never read again)."""
    stripped = 0
    update = (
        sa.update(change_log)
        .where(change_log.c.id == sa.bindparam("entry_id"))
        .values(
            # none_as_null: an entry without before/after keeps SQL NULL, not JSON null
            before=sa.bindparam("stripped_before", type_=sa.JSON(none_as_null=True)),
            after=sa.bindparam("stripped_after", type_=sa.JSON(none_as_null=True)),
            personal_data_removed_at=as_utc(now),
        )
    )
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                sa.select(change_log.c.id, change_log.c.before, change_log.c.after)
                .where(_due(older_than))
                .order_by(change_log.c.at, change_log.c.id)
                .limit(batch)
            ).all()
            if not rows:
                return stripped
            conn.execute(
                update,
                [
                    {
                        "entry_id": row.id,
                        "stripped_before": without_personal_values(row.before),
                        "stripped_after": without_personal_values(row.after),
                    }
                    for row in rows
                ],
            )
        stripped += len(rows)
