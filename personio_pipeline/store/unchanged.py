"""Skipping the diff when nothing can have changed since the last sync.

A company's daily sync usually finds nothing to do, yet a full diff reads every Teammeter row of
the company and compares it with the model (no-op re-sync times: the README's Performance section). The diff is a function
of the org model, the company's rows in the store and the sync's own rules. So a sync
that diffed remembers, when it commits, a fingerprint of the model and the rules and a signature
of the store it left; the next sync skips the diff when both are the same again and the last
full diff is less than a week old. Re-running an applied plan is empty (tested), so skipping
gives the same result.

- The model fingerprint hashes every cell of the five model tables (values, and which are null),
  column names and types, and the source of the code that builds the model and applies it
  (org/, store/diff.py, ownership.py, sync.py, schema.py, migrations): a deploy that
  changes any of it makes every company diff once.
- The store signature is SQL aggregates per table over the columns the diff reads: row count,
  sum and maximum of ids, active/open/HR rows, sums of the referenced ids and of the lengths of
  names, keys and addresses, accounts registered, count and latest of start dates and link times,
  latest updated/deactivated/ended time. Rows added, removed or
  (de)activated, links ended or re-pointed, names or addresses edited to another length, and
  any edit stamping `updated_at` change it; hand edits through `hand_edits.py` also forget the
  remembered state outright. What it can miss — a raw SQL edit that keeps every aggregate, such
  as one name replaced by another of the same length without stamping `updated_at` — is repaired
  by the weekly full diff, or at once by `personio-pipeline sync ID --full` (`full_sync: true`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from personio_pipeline.common.source_digest import source_digest
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.diff import OrgModel
from personio_pipeline.store.schema import (
    organisations,
    reporting_lines,
    roles,
    team_memberships,
    teams,
    units,
    user_roles,
    users,
)

MODEL_TABLES = ("employees", "teams", "units", "roles", "reporting_lines")
ROW_TABLES = (users, units, teams, roles)
LINK_TABLES = (team_memberships, user_roles, reporting_lines)
FULL_DIFF_INTERVAL = timedelta(days=7)

_RULE_SOURCES = ("org/*.py", "store/diff.py", "store/ownership.py", "store/sync.py",
                 "store/unchanged.py", "store/schema.py", "store/migrations/versions/*.py")


def rules_digest() -> str:
    """SHA-256 of the code that turns HR data into Teammeter rows."""
    return source_digest(*_RULE_SOURCES)


def model_fingerprint(model: OrgModel, extra: str = "") -> str:
    """SHA-256 over the rules and every table of the model: names, column names and types, a
    64-bit hash of every row and the null mask (the row hash reads None as the text "None"),
    and `extra` (what else decides the plan, e.g. who is a pre-hire today)."""
    digest = hashlib.sha256(rules_digest().encode())
    if extra:
        digest.update(extra.encode())
    for name in MODEL_TABLES:
        frame: pd.DataFrame = getattr(model, name)
        digest.update(f"{name}|{len(frame)}|{list(frame.columns)}|{[str(t) for t in frame.dtypes]}\n".encode())
        if len(frame):
            digest.update(pd.util.hash_pandas_object(frame, index=False, categorize=False).to_numpy().tobytes())
            digest.update(np.packbits(frame.isna().to_numpy()).tobytes())
    return digest.hexdigest()


def key_fingerprint(model_key: str, extra: str = "") -> str:
    """`model_fingerprint` for a model known by the key it was built from (its listing, date and
    code, `defs/org/unchanged.py`): the same tables always come from the same key."""
    digest = hashlib.sha256(rules_digest().encode())
    digest.update(f"key|{model_key}|{extra}".encode())
    return digest.hexdigest()


def store_signature(conn: sa.Connection, organisation_id: int) -> str:
    """SHA-256 of per-table aggregates over the company's rows (one query per table)."""
    values = []
    for table in (*ROW_TABLES, *LINK_TABLES):
        row = conn.execute(
            sa.select(*_aggregates(table)).where(table.c.organisation_id == organisation_id)
        ).one()
        values.append(f"{table.name}:" + "|".join("" if v is None else str(v) for v in row))
    return hashlib.sha256("\n".join(values).encode()).hexdigest()


def _aggregates(table: sa.Table) -> list[sa.ColumnElement]:
    """Aggregates over the columns the diff reads (see the module docstring)."""
    c, f = table.c, sa.func
    aggregates = [f.count(c.id), f.sum(c.id), f.max(c.id)]
    for flag, value in (("source", "hr"), ("email_source", "teammeter")):
        if flag in c:
            aggregates.append(f.sum(sa.case((c[flag] == value, 1), else_=0)))
    if table in LINK_TABLES:
        ends = [column for column in c if column.foreign_keys]
        return [*aggregates, *(f.sum(column) for column in ends), f.count(c.ended_at), f.max(c.ended_at)]
    texts = [column for column in c if isinstance(column.type, sa.String) and column.name not in ("source", "email_source")]
    numbers = [c[name] for name in ("unit_id", "active", "has_access", "registered") if name in c]
    dates = [c[name] for name in ("starts_on", "linked_at") if name in c]
    return [
        *aggregates,
        *(f.sum(sa.cast(column, sa.Integer)) for column in numbers),
        *(f.sum(f.length(column)) for column in texts),
        *(f.count(column) for column in texts),
        *(aggregate for column in dates for aggregate in (f.count(column), f.max(column))),
        f.max(c.updated_at),
        f.max(c.deactivated_at),
    ]


def unchanged_since_last_sync(conn: sa.Connection, organisation_id: int, fingerprint: str, now: datetime) -> bool:
    """True when the model and the store are what the last committed full diff left, and that
    diff is less than FULL_DIFF_INTERVAL old."""
    o = organisations.c
    remembered = conn.execute(
        sa.select(o.synced_model_fingerprint, o.synced_store_signature, o.synced_diffed_at).where(o.id == organisation_id)
    ).one()
    if remembered.synced_model_fingerprint != fingerprint or remembered.synced_store_signature is None:
        return False
    diffed_at = remembered.synced_diffed_at
    if diffed_at is None or as_utc(diffed_at) <= now - FULL_DIFF_INTERVAL:
        return False
    return remembered.synced_store_signature == store_signature(conn, organisation_id)


def remember(conn: sa.Connection, organisation_id: int, fingerprint: str | None, now: datetime | None = None) -> None:
    """Called by a sync that diffed, inside its transaction, after its writes."""
    signature = store_signature(conn, organisation_id) if fingerprint else None
    conn.execute(
        sa.update(organisations)
        .where(organisations.c.id == organisation_id)
        .values(
            synced_model_fingerprint=fingerprint,
            synced_store_signature=signature,
            synced_diffed_at=now if fingerprint else None,
        )
    )


def forget(conn: sa.Connection, organisation_id: int) -> None:
    """The next sync runs the full diff (hand edits call this)."""
    remember(conn, organisation_id, None)
