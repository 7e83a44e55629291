"""Who is invited: a company's users once the company is verified (`organisations.verified_at`).
A user is eligible while active, linked to HR, not yet signed in (`registered`), with access and
an email address, and without an invitation
that is sent or still open (pending, claimed, ambiguous) and without a failed one to the same
address. So a person who gets an email later (from a coach, or a new hire from a later sync) is
invited on the next run, and a person whose invitation failed for good is invited again once
their address is corrected. Plain SQL over the Teammeter store; the protocol that sends them is
`outbox.py`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from personio_pipeline.companies import registry
from personio_pipeline.invitations.state import OPEN, utc
from personio_pipeline.store.schema import invitations, users


class NotVerifiedError(RuntimeError):
    def __init__(self, consumer_id: str):
        super().__init__(
            f"Company '{consumer_id}' is not verified, so no invitations are sent. Remedy: review the imported "
            f"organisation with `personio-pipeline review {consumer_id}`, "
            f"then `personio-pipeline verify {consumer_id}`."
        )


def require_verified(conn: sa.Connection, consumer_id: str) -> registry.Company:
    company = registry.get(conn, consumer_id)
    if company.verified_at is None:
        raise NotVerifiedError(consumer_id)
    return company


def eligible_users() -> sa.ColumnElement[bool]:
    """Users to invite now (the sensor and `enqueue_eligible` share this condition)."""
    earlier = sa.select(invitations.c.id).where(
        invitations.c.user_id == users.c.id,
        sa.or_(
            invitations.c.status.in_((*OPEN, "sent")),
            sa.and_(invitations.c.status == "failed", invitations.c.email == users.c.email),
        ),
    )
    # Accounts outside HR (coaches, people added in Teammeter) are Teammeter's to invite, and a
    # person who has signed in already needs no invitation.
    return sa.and_(users.c.active, users.c.has_access, users.c.email.is_not(None), users.c.employee_id.is_not(None),
                   users.c.registered.is_(False), ~earlier.exists())


def can_receive() -> sa.ColumnElement[bool]:
    """The invitation's user still has access (else a pending invitation waits)."""
    return (
        sa.select(users.c.id)
        .where(users.c.id == invitations.c.user_id, users.c.active, users.c.has_access, users.c.email.is_not(None),
               users.c.registered.is_(False))
        .exists()
    )


def enqueue_eligible(conn: sa.Connection, consumer_id: str, now: datetime) -> int:
    """One pending invitation per eligible user of a verified company; returns how many.

    Concurrent calls cannot create two open invitations for one user (unique index; on
    PostgreSQL the loser's rows are skipped with ON CONFLICT DO NOTHING, SQLite serialises writes).
    """
    company = require_verified(conn, consumer_id)
    rows = sa.select(
        users.c.organisation_id, users.c.id, users.c.email, sa.literal(utc(now), sa.DateTime(timezone=True))
    ).where(users.c.organisation_id == company.id, eligible_users())
    columns = ["organisation_id", "user_id", "email", "created_at"]
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(invitations).from_select(columns, rows).on_conflict_do_nothing()
    else:
        statement = sa.insert(invitations).from_select(columns, rows)
    return len(conn.execute(statement.returning(invitations.c.id)).all())


def pending_ids(conn: sa.Connection, consumer_id: str) -> list[int]:
    """Pending invitations whose user still has access, fewest attempts first."""
    company = registry.get(conn, consumer_id)
    query = (
        sa.select(invitations.c.id)
        .where(invitations.c.organisation_id == company.id, invitations.c.status == "pending", can_receive())
        .order_by(invitations.c.attempts, invitations.c.id)
    )
    return list(conn.execute(query).scalars())
