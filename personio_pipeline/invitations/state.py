"""A company's invitations as the data team reads them: counts and the people awaiting a decision
(`invitation_state`, for the send report, the asset's metadata and check) and the full list
(`list_invitations`, for the CLI). A claim older than `stale_after` reads as ambiguous everywhere;
the statuses and that rule are defined here and shared by `outbox`, `decisions` and `due`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from personio_pipeline.common.tables import cell, format_table, natural_order
from personio_pipeline.companies import registry
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import invitations, users

OPEN = ("pending", "claimed", "ambiguous")
NEEDS_DECISION = "ambiguous"  # the outcome of a send is unknown: an operator decides (`decisions`)
STALE_AFTER = timedelta(minutes=15)  # a claim without an outcome after this long reads as ambiguous


@dataclass(frozen=True)
class InvitationState:
    """A company's invitations by effective status (a stale claim counts as ambiguous)."""

    counts: dict[str, int]
    failed: list[str]  # employee ids
    ambiguous: list[str]
    # employee id -> failure_reason of their failed, ambiguous or pending-after-a-failure invitation
    reasons: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, status: str) -> int:
        return self.counts.get(status, 0)


def _effective_status(now: datetime, stale_after: timedelta) -> sa.ColumnElement[str]:
    return sa.case((stale_claim(now, stale_after), sa.literal(NEEDS_DECISION)), else_=invitations.c.status)


def invitation_state(
    conn: sa.Connection, consumer_id: str, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> InvitationState:
    company = registry.get(conn, consumer_id)
    status = _effective_status(utc(now), stale_after).label("status")
    rows = conn.execute(
        sa.select(status, users.c.employee_id, invitations.c.failure_reason)
        .select_from(invitations.join(users, users.c.id == invitations.c.user_id))
        .where(invitations.c.organisation_id == company.id)
        .order_by(invitations.c.id)
    ).all()
    counts: dict[str, int] = defaultdict(int)
    people: dict[str, list[str]] = defaultdict(list)
    reasons: dict[str, str] = {}
    for row in rows:
        counts[row.status] += 1
        people[row.status].append(row.employee_id)
        if row.status in ("failed", NEEDS_DECISION, "pending") and row.failure_reason:
            reasons[row.employee_id] = row.failure_reason
        else:
            reasons.pop(row.employee_id, None)
    failed, ambiguous = sorted(people["failed"], key=natural_order), sorted(people[NEEDS_DECISION], key=natural_order)
    return InvitationState(dict(counts), failed, ambiguous, {e: reasons[e] for e in sorted(reasons, key=natural_order)})


LIST_COLUMNS = (
    "id", "employee_id", "name", "email", "status", "attempts", "failure_reason", "last_error", "created_at",
    "claimed_at", "sent_at",
)


def list_invitations(
    conn: sa.Connection, consumer_id: str, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> list[dict[str, Any]]:
    """Every invitation of the company (CLI-ready, JSON-serialisable, never a token or its hash),
    by employee id; a claim older than `stale_after` shows as 'ambiguous'."""
    company = registry.get(conn, consumer_id)
    rows = conn.execute(
        sa.select(
            invitations.c.id, users.c.employee_id, users.c.display_name.label("name"), invitations.c.email,
            _effective_status(utc(now), stale_after).label("status"), invitations.c.attempts,
            invitations.c.failure_reason, invitations.c.last_error, invitations.c.created_at,
            invitations.c.claimed_at, invitations.c.sent_at,
        )
        .select_from(invitations.join(users, users.c.id == invitations.c.user_id))
        .where(invitations.c.organisation_id == company.id)
    ).all()
    listed = [{c: plain(row._mapping[c]) for c in LIST_COLUMNS} for row in rows]
    return sorted(listed, key=lambda row: (natural_order(row["employee_id"]), row["id"]))


def format_invitations(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of `list_invitations` rows (errors cut to 60 characters)."""
    columns = [c for c in LIST_COLUMNS if c != "created_at"]
    cells = ([cell(row[c], 60 if c == "last_error" else None) for c in columns] for row in rows)
    return format_table(cells, columns)


def utc(now: datetime | None) -> datetime:
    """`now` (default: this moment) as aware UTC."""
    return datetime.now(timezone.utc) if now is None else as_utc(now)


def stale_claim(now: datetime | None, stale_after: timedelta) -> sa.ColumnElement[bool]:
    """A claim older than `stale_after`: its sender stopped before recording an outcome."""
    return sa.and_(invitations.c.status == "claimed", invitations.c.claimed_at < utc(now) - stale_after)


def plain(value: Any) -> Any:
    """A JSON-ready value: timestamps as ISO 8601 UTC."""
    if isinstance(value, datetime):
        return utc(value).isoformat()
    return value
