"""An operator's decisions on invitations the send protocol cannot settle alone (see `outbox`):
release an ambiguous one, confirm it arrived, or retry a failed one. Each is all or nothing and
takes the company lock, like a sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from personio_pipeline.companies import registry
from personio_pipeline.invitations.state import NEEDS_DECISION, OPEN, STALE_AFTER, stale_claim
from personio_pipeline.store.schema import invitations


class InvitationDecisionError(ValueError):
    """The decision does not fit some of the invitations; nothing was changed."""


def release_stale(
    conn: sa.Connection,
    consumer_id: str,
    invitation_ids: Iterable[int],
    *,
    now: datetime | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> list[int]:
    """Operator's decision that ambiguous invitations (or claims older than `stale_after`) were not
    delivered: back to pending, due at once; the next run sends a new message with a new token.
    All or nothing: raises InvitationDecisionError naming ids that are not of this company or
    not awaiting a decision."""
    return _decide(
        conn, consumer_id, invitation_ids, sa.or_(invitations.c.status == NEEDS_DECISION, stale_claim(now, stale_after)),
        "ambiguous (or a claim older than " + str(stale_after) + ")",
        status="pending", token_hash=None, claimed_at=None, failure_reason=None,
    )


def confirm_delivered(conn: sa.Connection, consumer_id: str, invitation_ids: Iterable[int]) -> list[int]:
    """Operator's decision that ambiguous invitations did arrive: sent (at the time they were claimed)."""
    return _decide(
        conn, consumer_id, invitation_ids, invitations.c.status == NEEDS_DECISION, "ambiguous",
        status="sent", sent_at=invitations.c.claimed_at, failure_reason=None,
    )


def retry_failed(conn: sa.Connection, consumer_id: str, invitation_ids: Iterable[int]) -> list[int]:
    """Failed invitations back to pending with a fresh allowance of attempts (e.g. after fixing the
    mail server). Refused for a person who meanwhile has an open or sent invitation."""
    other = invitations.alias("other")
    superseded = (
        sa.select(other.c.id)
        .where(
            other.c.user_id == invitations.c.user_id,
            other.c.id != invitations.c.id,
            other.c.status.in_((*OPEN, "sent")),
        )
        .exists()
    )
    return _decide(
        conn, consumer_id, invitation_ids, sa.and_(invitations.c.status == "failed", ~superseded),
        "failed (and the person has no newer invitation)",
        status="pending", attempts=0, token_hash=None, claimed_at=None, failure_reason=None,
    )


def _decide(
    conn: sa.Connection, consumer_id: str, invitation_ids: Iterable[int], allowed, what: str, **values
) -> list[int]:
    company = registry.lock(conn, consumer_id)
    wanted = sorted(set(invitation_ids))
    condition = sa.and_(invitations.c.organisation_id == company.id, invitations.c.id.in_(wanted), allowed)
    found = set(conn.execute(sa.select(invitations.c.id).where(condition)).scalars())
    refused = [i for i in wanted if i not in found]
    if refused:
        raise InvitationDecisionError(
            f"Invitation(s) {', '.join(map(str, refused))} of company '{consumer_id}' are not {what}; nothing was "
            "changed. List them with their status first."
        )
    if wanted:
        conn.execute(sa.update(invitations).where(condition).values(**values))
    return wanted
