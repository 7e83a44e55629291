"""What the invitation sensor asks: which verified companies have someone to invite or a retry
whose backoff has passed. Two queries for all companies, whatever their number.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from personio_pipeline.invitations.claims import MAX_ATTEMPTS, MAX_RETRY_DELAY, retry_delay
from personio_pipeline.invitations.eligibility import can_receive, eligible_users
from personio_pipeline.invitations.state import plain, utc
from personio_pipeline.store.schema import invitations, organisations, users


@dataclass
class DueWork:
    """What makes a run for one company worthwhile; `fingerprint` changes whenever that does."""

    eligible: list[tuple] = field(default_factory=list)  # (user id, updated_at, earlier invitations)
    retries: list[tuple] = field(default_factory=list)  # (invitation id, attempts)

    def fingerprint(self) -> str:
        payload = repr((sorted(self.eligible), sorted(self.retries)))
        return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _due_retry(now: datetime, max_attempts: int) -> sa.ColumnElement[bool]:
    """Pending and never tried, released by an operator, or its backoff after the last attempt passed."""
    def at(moment: datetime) -> sa.ColumnElement[datetime]:
        return sa.literal(moment, sa.DateTime(timezone=True))

    cutoffs = [(invitations.c.attempts == n, at(now - retry_delay(n))) for n in range(1, max_attempts + 1)]
    last_cutoff = at(now - MAX_RETRY_DELAY)
    return sa.or_(
        invitations.c.attempts == 0,
        invitations.c.claimed_at.is_(None),
        invitations.c.claimed_at <= sa.case(*cutoffs, else_=last_cutoff),
    )


def due_work(conn: sa.Connection, now: datetime, max_attempts: int = MAX_ATTEMPTS) -> dict[str, DueWork]:
    """Verified companies with eligible users or retries due, by consumer id: two queries in all."""
    org = organisations
    now = utc(now)
    work: dict[str, DueWork] = defaultdict(DueWork)
    earlier = sa.select(sa.func.count()).where(invitations.c.user_id == users.c.id).scalar_subquery()
    eligible = (
        sa.select(org.c.consumer_id, users.c.id, users.c.updated_at, earlier)
        .join(org, org.c.id == users.c.organisation_id)
        .where(org.c.verified_at.is_not(None), eligible_users())
    )
    for consumer_id, user_id, updated_at, count in conn.execute(eligible):
        work[consumer_id].eligible.append((user_id, plain(updated_at), count))
    retries = (
        sa.select(org.c.consumer_id, invitations.c.id, invitations.c.attempts)
        .join(org, org.c.id == invitations.c.organisation_id)
        .where(
            org.c.verified_at.is_not(None),
            invitations.c.status == "pending",
            can_receive(),
            _due_retry(now, max_attempts),
        )
    )
    for consumer_id, invitation_id, attempts in conn.execute(retries):
        work[consumer_id].retries.append((invitation_id, attempts))
    return dict(work)
