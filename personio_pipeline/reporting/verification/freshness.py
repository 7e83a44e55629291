"""When the verification report need not be rebuilt: a key over everything the page shows.

A daily sync where nothing changed must not pay for the report (at 100,000 people gathering and
rendering it costs seconds). The key covers what `gather` reads: the company's settings and its
date, the store's rows (the sync's own store signature plus the account columns it leaves out),
invitations, held-back records, the latest sync that changed something (the "latest changes"
section), the org model's employees, and this package's code. Only the page's "Last sync" time
changes on a no-op; `patch_last_sync` rewrites it in place of a rebuild.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.common.source_digest import source_digest
from personio_pipeline.companies import clock, registry
from personio_pipeline.companies.sync_runs import SUCCEEDED
from personio_pipeline.org.columns import MODEL_KEY_ATTR
from personio_pipeline.store.schema import held_back_records, invitations, sync_runs
from personio_pipeline.store.unchanged import store_signature

LAST_SYNC = re.compile(rb"Last sync: (never|\d{4}-\d\d-\d\d \d\d:\d\d UTC)\.")


def report_key(conn: sa.Connection, org: registry.Company, employees: pd.DataFrame | None, *,
               model_key: str | None = None) -> str:
    """SHA-256 over what the company's page shows, except the time of the last sync. The org
    model's employees count by the key the org model step built them for (`model_key`, else the
    one they carry), else by their rows."""
    if model_key is None and employees is not None:
        model_key = employees.attrs.get(MODEL_KEY_ATTR)
    digest = hashlib.sha256(_code_digest().encode())
    settings = (org.name, org.verified_at, org.pre_start_days, org.scope, org.unknown_status, org.timezone,
                clock.company_today(org.timezone))
    digest.update(repr(settings).encode())
    digest.update(store_signature(conn, org.id).encode())
    for query in _aggregates(org.id):
        digest.update(repr(tuple(conn.execute(query).one())).encode())
    if model_key:
        digest.update(f"model {model_key}".encode())
    elif employees is None:
        digest.update(b"no model")
    elif len(employees):
        digest.update(repr(list(employees.columns)).encode())
        digest.update(pd.util.hash_pandas_object(employees, index=False, categorize=False).to_numpy().tobytes())
    return digest.hexdigest()


def _aggregates(organisation_id: int) -> list[sa.Select]:
    """What the page shows beyond the rows the store signature covers (accounts, structures,
    links, including registered, start dates and how accounts were linked)."""
    f, i, h, s = sa.func, invitations.c, held_back_records.c, sync_runs.c
    return [
        sa.select(f.count(), f.max(i.id), f.count(i.sent_at), f.max(i.sent_at), f.sum(f.length(i.status)),
                  f.count(i.failure_reason)).where(i.organisation_id == organisation_id),
        sa.select(f.count(), f.max(h.id), f.count(h.released_at)).where(h.organisation_id == organisation_id),
        sa.select(f.max(s.id)).where(s.organisation_id == organisation_id, s.status == SUCCEEDED, s.rows_written > 0),
    ]


def _code_digest() -> str:
    """The reporting code's source: a new release rebuilds every page once."""
    return source_digest("reporting/verification/*.py")


def patch_last_sync(path: Path, last_synced_at: datetime | None) -> bool:
    """Rewrite the page's "Last sync" time (atomically: a reader never sees half a page); False
    when the page has no such line (then it must be rebuilt)."""
    page = path.read_bytes()
    when = last_synced_at.strftime("%Y-%m-%d %H:%M UTC") if last_synced_at else "never"
    patched, found = LAST_SYNC.subn(f"Last sync: {when}.".encode(), page, count=1)
    if not found:
        return False
    if patched != page:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(patched)
        os.replace(tmp, path)
    return True
