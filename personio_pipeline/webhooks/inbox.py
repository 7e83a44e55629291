"""The webhook inbox (`webhook_events`): each event stored once, and what became of it.

The receiver writes; the webhook sensor reads pending events and settles them. Statuses:
`pending` (work to do), `handled` (a sync run was requested for it, `run_key`, or its connection
state recorded), `ignored` (`ignored_reason`: an unknown company, an event that asks nothing of
the pipeline, a company without auto-sync …). Plain SQLAlchemy Core on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import organisations, webhook_events
from personio_pipeline.webhooks.events import WebhookEvent

PENDING, HANDLED, IGNORED = "pending", "handled", "ignored"
REQUESTED = "requested"  # reported only: a pending event with a run key
UNKNOWN_COMPANY = "unknown_company"
NO_ACTION = "no_action"


@dataclass(frozen=True)
class Stored:
    """The receiver's answer for one event: whether it is new, and its status in the inbox."""

    new: bool
    status: str
    reason: str | None = None


def store(conn: sa.Connection, events: Iterable[WebhookEvent], received_at: datetime,
          known: dict[str, int] | None = None) -> list[Stored]:
    """Insert each event unless its idempotency key is known (a redelivery, or a duplicate in the
    same batch); one multi-row INSERT per batch. Events of unknown companies are kept as
    `ignored`: they never create one. `known` (consumer id → organisation id) may be kept across
    calls by a long-lived writer: organisations are never deleted, so only misses are looked up."""
    events = list(events)
    known = {} if known is None else known
    missing = {event.consumer_id for event in events if event.consumer_id and event.consumer_id not in known}
    if missing:
        known.update(conn.execute(sa.select(organisations.c.consumer_id, organisations.c.id)
                                  .where(organisations.c.consumer_id.in_(missing))).all())
    rows: dict[str, dict] = {}  # the first of each idempotency key in the batch
    for event in events:
        if event.idempotency_key not in rows:
            rows[event.idempotency_key] = _row(event, known.get(event.consumer_id), received_at)
    # One INSERT ... ON CONFLICT DO NOTHING RETURNING for the batch (SQLAlchemy sends the rows as
    # multi-row VALUES): the keys it returns are new; the others were stored before.
    inserted = set(conn.execute(_insert_ignoring_duplicates(conn.dialect.name), list(rows.values())).scalars())
    stored_before = [key for key in rows if key not in inserted]
    earlier = {
        row.idempotency_key: Stored(False, row.status, row.ignored_reason)
        for row in conn.execute(
            sa.select(webhook_events.c.idempotency_key, webhook_events.c.status, webhook_events.c.ignored_reason)
            .where(webhook_events.c.idempotency_key.in_(stored_before))
        )
    } if stored_before else {}
    results, seen = [], set()
    for event in events:
        key = event.idempotency_key
        row = rows[key]
        if key in inserted and key not in seen:
            results.append(Stored(True, row["status"], row["ignored_reason"]))
        else:
            results.append(earlier.get(key) or Stored(False, row["status"], row["ignored_reason"]))
        seen.add(key)
    return results


@functools.lru_cache(maxsize=None)
def _insert_ignoring_duplicates(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(webhook_events).on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(webhook_events.c.idempotency_key)
    )


def _row(event: WebhookEvent, organisation_id: int | None, received_at: datetime) -> dict:
    if organisation_id is None:
        status, reason = IGNORED, UNKNOWN_COMPANY
    elif not (event.triggers_sync or event.changes_connection):
        status, reason = IGNORED, NO_ACTION
    else:
        status, reason = PENDING, None
    return dict(
        idempotency_key=event.idempotency_key,
        event_id=event.event_id,
        event_type=event.event_type,
        consumer_id=event.consumer_id,
        organisation_id=organisation_id,
        service_id=event.service_id,
        entity_id=event.entity_id,
        connection_state=event.connection_state,
        occurred_at=event.occurred_at,
        received_at=received_at,
        status=status,
        ignored_reason=reason,
        handled_at=received_at if status == IGNORED else None,
    )


# -- the sensor's side ------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingSync:
    """A company's pending employee events, not yet given to a run."""

    organisation_id: int
    consumer_id: str
    connection_state: str
    auto_sync: bool
    first_synced: bool
    events: int
    first_received_at: datetime
    last_received_at: datetime
    last_event_id: int


@dataclass(frozen=True)
class RequestedSync:
    """Employee events a run was requested for (`run_key`), until that run is seen to exist."""

    consumer_id: str
    run_key: str
    events: int


@dataclass(frozen=True)
class ConnectionChange:
    id: int
    organisation_id: int
    consumer_id: str
    event_type: str
    connection_state: str


def _employee_events() -> sa.ColumnElement[bool]:
    return sa.and_(webhook_events.c.status == PENDING, webhook_events.c.connection_state.is_(None))


def pending_syncs(conn: sa.Connection) -> list[PendingSync]:
    """Per company: the employee events waiting for a run, oldest and newest receipt."""
    events = webhook_events.c
    query = (
        sa.select(
            organisations.c.id, organisations.c.consumer_id, organisations.c.connection_state,
            organisations.c.auto_sync, organisations.c.first_synced_at,
            sa.func.count().label("events"), sa.func.min(events.received_at).label("first"),
            sa.func.max(events.received_at).label("last"), sa.func.max(events.id).label("last_id"),
        )
        .join(organisations, organisations.c.id == events.organisation_id)
        .where(_employee_events(), events.run_key.is_(None))
        .group_by(organisations.c.id, organisations.c.consumer_id, organisations.c.connection_state,
                  organisations.c.auto_sync, organisations.c.first_synced_at)
        .order_by(organisations.c.consumer_id)
    )
    return [
        PendingSync(row.id, row.consumer_id, row.connection_state, bool(row.auto_sync),
                    row.first_synced_at is not None, row.events, as_utc(row.first), as_utc(row.last), row.last_id)
        for row in conn.execute(query)
    ]


def requested_syncs(conn: sa.Connection) -> list[RequestedSync]:
    events = webhook_events.c
    query = (
        sa.select(events.consumer_id, events.run_key, sa.func.count().label("events"))
        .where(_employee_events(), events.run_key.is_not(None))
        .group_by(events.consumer_id, events.run_key)
        .order_by(events.consumer_id)
    )
    return [RequestedSync(row.consumer_id, row.run_key, row.events) for row in conn.execute(query)]


def assign_run(conn: sa.Connection, organisation_id: int, up_to_id: int, run_key: str) -> int:
    """Give a company's pending employee events up to `up_to_id` to the run `run_key`."""
    events = webhook_events.c
    return conn.execute(
        sa.update(webhook_events)
        .where(_employee_events(), events.run_key.is_(None), events.organisation_id == organisation_id,
               events.id <= up_to_id)
        .values(run_key=run_key)
    ).rowcount


def settle_run(conn: sa.Connection, run_key: str, at: datetime) -> int:
    """The run exists: its events are handled."""
    return conn.execute(
        sa.update(webhook_events)
        .where(_employee_events(), webhook_events.c.run_key == run_key)
        .values(status=HANDLED, handled_at=at)
    ).rowcount


def ignore_pending(conn: sa.Connection, organisation_id: int, up_to_id: int, reason: str, at: datetime) -> int:
    """Employee events of a company that is not synced on events (the daily schedule decides)."""
    events = webhook_events.c
    return conn.execute(
        sa.update(webhook_events)
        .where(_employee_events(), events.run_key.is_(None), events.organisation_id == organisation_id,
               events.id <= up_to_id)
        .values(status=IGNORED, ignored_reason=reason, handled_at=at)
    ).rowcount


def pending_connection_changes(conn: sa.Connection) -> list[ConnectionChange]:
    events = webhook_events.c
    query = (
        sa.select(events.id, events.organisation_id, events.consumer_id, events.event_type, events.connection_state)
        .where(events.status == PENDING, events.connection_state.is_not(None))
        .order_by(events.id)
    )
    return [ConnectionChange(*row) for row in conn.execute(query)]


def mark_handled(conn: sa.Connection, event_id: int, at: datetime) -> None:
    conn.execute(sa.update(webhook_events).where(webhook_events.c.id == event_id)
                 .values(status=HANDLED, handled_at=at))


@dataclass(frozen=True)
class Backlog:
    by_status: dict[str, int]
    pending_by_company: dict[str, int]
    oldest_pending_at: datetime | None
    last_received_at: datetime | None


def backlog(conn: sa.Connection) -> Backlog:
    """What `webhooks status` shows: events per status (`requested` apart from `pending`), pending
    per company, oldest pending."""
    events = webhook_events.c
    # `requested`: pending events already given to a run that the sensor has not yet seen start.
    status = sa.case((sa.and_(events.status == PENDING, events.run_key.is_not(None)), REQUESTED), else_=events.status)
    by_status = dict(conn.execute(sa.select(status, sa.func.count()).group_by(status)).all())
    pending = dict(conn.execute(
        sa.select(events.consumer_id, sa.func.count()).where(events.status == PENDING)
        .group_by(events.consumer_id).order_by(events.consumer_id)
    ).all())
    oldest = conn.execute(sa.select(sa.func.min(events.received_at)).where(events.status == PENDING)).scalar()
    last = conn.execute(sa.select(sa.func.max(events.received_at))).scalar()
    return Backlog(
        {status: by_status.get(status, 0) for status in (PENDING, REQUESTED, HANDLED, IGNORED)},
        pending,
        as_utc(oldest) if oldest else None,
        as_utc(last) if last else None,
    )
