"""Skipping the diff when nothing can have changed since the last sync.

A company's daily sync usually finds nothing to do, yet a full diff reads every Teammeter row of
the company and compares it with the model (~3.5 s per 100,000 people). The diff is a function
of two inputs: the organisation model and the company's rows in the store. So a sync remembers,
when it commits, a fingerprint of the model it applied and a signature of the store it left;
the next sync skips the diff when both are the same again. A re-run of an applied plan is
empty (tested: the second sync writes zero rows), so skipping gives the same result.

- The model fingerprint hashes every cell of the five model tables, with column names and types.
- The store signature is a handful of SQL aggregates per table (row count, highest id, active
  and open rows, latest updated/deactivated/ended time): any row added or removed, any
  (de)activation, any ended link and any update that stamps `updated_at` — as the sync,
  `manual.py` and Teammeter itself do — changes it. Hand edits through `manual.py` also forget
  the remembered state outright. A raw SQL edit of a synced column that leaves every one of these
  aggregates as it was goes unnoticed until the HR data changes or a full sync is asked for
  (`teammeter_sync` config `full_sync: true`, CLI `sync --full`).
"""

from __future__ import annotations

import hashlib

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.teammeter.diff import OrgModel
from personio_pipeline.teammeter.schema import (
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


def model_fingerprint(model: OrgModel) -> str:
    """SHA-256 over every table of the model: names, column names and types, and a 64-bit hash of
    every row (pandas' vectorised row hashing: ~0.5 s per 100,000 people)."""
    digest = hashlib.sha256()
    for name in MODEL_TABLES:
        frame: pd.DataFrame = getattr(model, name)
        digest.update(f"{name}|{len(frame)}|{list(frame.columns)}|{[str(t) for t in frame.dtypes]}\n".encode())
        if len(frame):
            digest.update(pd.util.hash_pandas_object(frame, index=False, categorize=False).to_numpy().tobytes())
    return digest.hexdigest()


def store_signature(conn: sa.Connection, organisation_id: int) -> str:
    """SHA-256 of per-table aggregates over the company's rows (one small query per table)."""
    values = []
    for table in (*ROW_TABLES, *LINK_TABLES):
        row = conn.execute(
            sa.select(*_aggregates(table)).where(table.c.organisation_id == organisation_id)
        ).one()
        values.append(f"{table.name}:" + "|".join("" if v is None else str(v) for v in row))
    return hashlib.sha256("\n".join(values).encode()).hexdigest()


def _aggregates(table: sa.Table) -> list[sa.ColumnElement]:
    c = table.c
    if table in LINK_TABLES:
        return [sa.func.count(c.id), sa.func.max(c.id), sa.func.count(c.ended_at), sa.func.max(c.ended_at)]
    aggregates = [sa.func.count(c.id), sa.func.max(c.id), sa.func.sum(sa.cast(c.active, sa.Integer)),
                  sa.func.max(c.updated_at), sa.func.max(c.deactivated_at)]
    if table is users:
        aggregates += [sa.func.count(c.email), sa.func.sum(sa.cast(c.has_access, sa.Integer))]
    return aggregates


def unchanged_since_last_sync(conn: sa.Connection, organisation_id: int, fingerprint: str) -> bool:
    """True when the model and the store are what the last committed sync left."""
    remembered = conn.execute(
        sa.select(organisations.c.synced_model_fingerprint, organisations.c.synced_store_signature).where(
            organisations.c.id == organisation_id
        )
    ).one()
    if remembered.synced_model_fingerprint != fingerprint or remembered.synced_store_signature is None:
        return False
    return remembered.synced_store_signature == store_signature(conn, organisation_id)


def remember(conn: sa.Connection, organisation_id: int, fingerprint: str | None) -> None:
    """Called by the sync inside its transaction, after its writes."""
    signature = store_signature(conn, organisation_id) if fingerprint else None
    conn.execute(
        sa.update(organisations)
        .where(organisations.c.id == organisation_id)
        .values(synced_model_fingerprint=fingerprint, synced_store_signature=signature)
    )


def forget(conn: sa.Connection, organisation_id: int) -> None:
    """The next sync runs the full diff (hand edits call this)."""
    remember(conn, organisation_id, None)
