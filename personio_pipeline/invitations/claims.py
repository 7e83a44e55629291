"""The claim protocol of one invitation (see `outbox.py` for the whole): `claim` moves it pending →
claimed with a fresh token before anything is sent, and the outcome is recorded only on the row
as that claim left it (`mark_sent`, `mark_refused`, `mark_ambiguous`, `release_claim`); a claim
whose sender never recorded an outcome turns ambiguous (`mark_stale`). The token is returned to
the sender and only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from personio_pipeline.companies import registry
from personio_pipeline.invitations.eligibility import can_receive
from personio_pipeline.invitations.outcomes import classify, describe_error
from personio_pipeline.invitations.state import NEEDS_DECISION, STALE_AFTER, stale_claim, utc
from personio_pipeline.notify.mail import DeliveryUnknown
from personio_pipeline.store.schema import invitations, organisations, users

MAX_ATTEMPTS = 5
RETRY_DELAY = timedelta(minutes=5)  # after the first failed attempt; doubles with each further one
MAX_RETRY_DELAY = timedelta(hours=2)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def retry_delay(attempts: int) -> timedelta:
    """Wait after `attempts` failed attempts before the sensor retries: 5, 10, 20, 40 min, …"""
    return min(RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY)


@dataclass(frozen=True)
class Claim:
    """One claimed invitation: everything the message needs. `token` exists only here and in it."""

    invitation_id: int
    consumer_id: str
    company_name: str
    employee_id: str
    display_name: str
    email: str
    attempt: int
    token: str = field(repr=False)

    @property
    def token_hash(self) -> str:
        return hash_token(self.token)


def claim(conn: sa.Connection, invitation_id: int, now: datetime) -> Claim | None:
    """pending → claimed with a fresh token; None when another sender has it (or it is no longer
    pending, or its user lost access). Commit before sending."""
    token = secrets.token_urlsafe(32)
    current_email = sa.select(users.c.email).where(users.c.id == invitations.c.user_id).scalar_subquery()
    claimed = conn.execute(
        sa.update(invitations)
        .where(invitations.c.id == invitation_id, invitations.c.status == "pending", can_receive())
        .values(
            status="claimed",
            claimed_at=utc(now),
            token_hash=hash_token(token),
            attempts=invitations.c.attempts + 1,
            email=current_email,  # a pending invitation follows a corrected address
        )
    )
    if claimed.rowcount != 1:
        return None
    org = organisations
    row = conn.execute(
        sa.select(
            org.c.consumer_id, org.c.name, users.c.employee_id, users.c.display_name, invitations.c.email,
            invitations.c.attempts,
        )
        .select_from(
            invitations.join(users, users.c.id == invitations.c.user_id).join(
                org, org.c.id == invitations.c.organisation_id
            )
        )
        .where(invitations.c.id == invitation_id)
    ).one()
    return Claim(
        invitation_id, row.consumer_id, row.name, row.employee_id, row.display_name, row.email, row.attempts, token
    )


def _this_claim(claimed: Claim) -> sa.ColumnElement[bool]:
    """Outcomes are recorded only on the row as this claim left it."""
    return sa.and_(invitations.c.id == claimed.invitation_id, invitations.c.token_hash == claimed.token_hash)


def mark_sent(conn: sa.Connection, claimed: Claim, now: datetime) -> bool:
    """The server accepted the message. Also resolves an ambiguous mark the claim went stale into."""
    result = conn.execute(
        sa.update(invitations)
        .where(_this_claim(claimed), invitations.c.status.in_(("claimed", NEEDS_DECISION)))
        .values(status="sent", sent_at=utc(now), failure_reason=None)
    )
    return result.rowcount == 1


def mark_refused(
    conn: sa.Connection, claimed: Claim, error: BaseException, *, max_attempts: int = MAX_ATTEMPTS
) -> str | None:
    """The message certainly was not accepted: pending for a retry, or failed after `max_attempts`
    attempts or at once when retrying cannot help. Returns the new status (None if the claim was
    superseded)."""
    outcome = classify(error)
    status = "failed" if outcome.permanent or claimed.attempt >= max_attempts else "pending"
    result = conn.execute(
        sa.update(invitations)
        .where(_this_claim(claimed), invitations.c.status == "claimed")
        .values(status=status, last_error=describe_error(error), failure_reason=outcome.reason, token_hash=None)
    )
    return status if result.rowcount == 1 else None


def mark_ambiguous(conn: sa.Connection, claimed: Claim, error: BaseException) -> bool:
    """The message may or may not have been accepted: left for an operator's decision."""
    result = conn.execute(
        sa.update(invitations)
        .where(_this_claim(claimed), invitations.c.status == "claimed")
        .values(
            status=NEEDS_DECISION,
            last_error="delivery unknown: " + describe_error(error),
            failure_reason=DeliveryUnknown.kind,
        )
    )
    return result.rowcount == 1


def release_claim(conn: sa.Connection, claimed: Claim) -> bool:
    """A claim whose message was never handed to the relay (claimed ahead of a send that stopped
    the batch): back to pending, the attempt not counted (its backoff counts from this run)."""
    result = conn.execute(
        sa.update(invitations)
        .where(_this_claim(claimed), invitations.c.status == "claimed")
        .values(
            status="pending",
            attempts=invitations.c.attempts - 1,
            token_hash=None,
            claimed_at=sa.case((invitations.c.attempts <= 1, sa.null()), else_=invitations.c.claimed_at),
        )
    )
    return result.rowcount == 1


def mark_stale(conn: sa.Connection, consumer_id: str, now: datetime, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Claims older than `stale_after` whose sender never recorded an outcome become ambiguous."""
    company = registry.get(conn, consumer_id)
    stale = (invitations.c.organisation_id == company.id, stale_claim(now, stale_after))
    ids = sorted(conn.execute(sa.select(invitations.c.id).where(*stale)).scalars())
    if ids:
        conn.execute(
            sa.update(invitations)
            .where(invitations.c.id.in_(ids), *stale)
            .values(
                status=NEEDS_DECISION,
                last_error=f"delivery unknown: claimed but no outcome recorded within {stale_after} (sender stopped)",
                failure_reason=DeliveryUnknown.kind,
            )
        )
    return ids
