"""Registering and listing customer companies (organisations) in Teammeter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from personio_pipeline.teammeter.schema import organisations

CONSUMER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$")


class UnknownCompanyError(LookupError):
    def __init__(self, consumer_id: str):
        super().__init__(
            f"Company '{consumer_id}' is not registered. Remedy: register it with "
            f"`personio-pipeline tenants add {consumer_id} --name NAME`."
        )


@dataclass(frozen=True)
class Organisation:
    id: int
    consumer_id: str
    name: str
    service_id: str
    connection_state: str
    auto_sync: bool
    first_synced_at: datetime | None
    last_synced_at: datetime | None
    verified_at: datetime | None
    max_deactivation_share: float | None = None


def validate_consumer_id(consumer_id: str) -> str:
    """Consumer ids become Dagster partition keys, so `,` `|` and spaces are refused."""
    if not CONSUMER_ID_PATTERN.match(consumer_id or ""):
        raise ValueError(
            f"'{consumer_id}' is not a usable company id: use letters, digits and . _ : @ - "
            "(no spaces, commas or pipes), at most 255 characters."
        )
    return consumer_id


def register(conn: sa.Connection, consumer_id: str, name: str, service_id: str = "personio") -> Organisation:
    """Create the organisation, or update its name/service if it exists; returns it."""
    validate_consumer_id(consumer_id)
    existing = get(conn, consumer_id, missing_ok=True)
    if existing is None:
        conn.execute(sa.insert(organisations).values(consumer_id=consumer_id, name=name, service_id=service_id))
    elif (existing.name, existing.service_id) != (name, service_id):
        conn.execute(
            sa.update(organisations)
            .where(organisations.c.consumer_id == consumer_id)
            .values(name=name, service_id=service_id)
        )
    return get(conn, consumer_id)


def get(conn: sa.Connection, consumer_id: str, *, missing_ok: bool = False) -> Organisation | None:
    row = conn.execute(sa.select(organisations).where(organisations.c.consumer_id == consumer_id)).first()
    if row is None:
        if missing_ok:
            return None
        raise UnknownCompanyError(consumer_id)
    return _from_row(row)


def lock(conn: sa.Connection, consumer_id: str) -> Organisation:
    """The organisation, its row locked until the transaction ends so company writes never
    interleave (SELECT ... FOR UPDATE on PostgreSQL; SQLite needs a BEGIN IMMEDIATE transaction)."""
    query = sa.select(organisations).where(organisations.c.consumer_id == consumer_id).with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise UnknownCompanyError(consumer_id)
    return _from_row(row)


def set_max_deactivation_share(conn: sa.Connection, consumer_id: str, share: float | None) -> None:
    """Per-company safeguard override; None returns to the default."""
    if share is not None and not 0 <= share <= 1:
        raise ValueError(f"max_deactivation_share must be between 0 and 1, got {share}.")
    get(conn, consumer_id)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(max_deactivation_share=share)
    )


def list_all(conn: sa.Connection) -> list[Organisation]:
    rows = conn.execute(sa.select(organisations).order_by(organisations.c.consumer_id))
    return [_from_row(row) for row in rows]


def _from_row(row: sa.Row) -> Organisation:
    return Organisation(**{k: row._mapping[k] for k in Organisation.__dataclass_fields__})


# -- lifecycle: connection state, auto-sync ---------------------------------------------------

CONNECTED = "callable"


def set_connection_state(conn: sa.Connection, consumer_id: str, state: str) -> bool:
    """Record the Vault connection state; True when it changed."""
    result = conn.execute(
        sa.update(organisations)
        .where(organisations.c.consumer_id == consumer_id, organisations.c.connection_state != state)
        .values(connection_state=state)
    )
    return result.rowcount > 0


def set_auto_sync(conn: sa.Connection, consumer_id: str, enabled: bool) -> None:
    get(conn, consumer_id)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(auto_sync=enabled)
    )


def awaiting_connection(conn: sa.Connection) -> list[Organisation]:
    """Companies whose Personio connection is not (or no longer) usable."""
    rows = conn.execute(
        sa.select(organisations)
        .where(organisations.c.connection_state != CONNECTED)
        .order_by(organisations.c.consumer_id)
    )
    return [_from_row(row) for row in rows]


def due_for_daily_sync(conn: sa.Connection) -> list[Organisation]:
    """Connected companies with auto-sync on whose first (manual) sync has happened."""
    rows = conn.execute(
        sa.select(organisations)
        .where(
            organisations.c.connection_state == CONNECTED,
            organisations.c.auto_sync.is_(True),
            organisations.c.first_synced_at.is_not(None),
        )
        .order_by(organisations.c.consumer_id)
    )
    return [_from_row(row) for row in rows]
