"""Invitations in tests: ACME registered and synced from the ACME story (`acme`), then verified
(`verified`), on the `engine` store (SQLite and PostgreSQL); sending through the real SMTP
transport; and reading back what was sent and what the outbox recorded."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from personio_pipeline.defs.shared.resources import DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.invitations import claims
from personio_pipeline.invitations.message import build_invitation
from personio_pipeline.notify.mail import SmtpTransport
from personio_pipeline.store import hand_edits
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.schema import invitations, users
from personio_pipeline_tests.support.people import day_one, sync
from personio_pipeline_tests.support.stores import database_url, register

COMPANY = "acme"
SENDER = "Teammeter <invite@teammeter.example>"
# Day one: active with an email are 1, 2, 3, 4, 6, 8, 9 (Eve, 5, has none; Gus, 7, has left).
INVITED_ON_DAY_ONE = ("1", "2", "3", "4", "6", "8", "9")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
LINK = re.compile(r"https://app\.teammeter\.example/invite/([A-Za-z0-9_-]+)")


@pytest.fixture
def acme(engine):
    """ACME registered and synced (day one), not yet verified."""
    register(engine, COMPANY)
    sync(engine, day_one(), run_id="day-one")
    return engine


def verify(engine: sa.Engine, consumer_id: str = COMPANY) -> None:
    with company_transaction(engine) as conn:
        hand_edits.mark_verified(conn, consumer_id)


@pytest.fixture
def verified(acme):
    verify(acme)
    return acme


def smtp_send(inbox, port: int | None = None):
    """A `send` for `outbox.deliver` through the real SMTP transport (another port: nothing listens)."""
    return session_send(SmtpTransport(inbox.host, port or inbox.port, timeout_seconds=5))


def clock(at: datetime):
    return lambda: at


def tokens(inbox) -> dict[str, list[str]]:
    """The invitation tokens each recipient received, in order."""
    found: dict[str, list[str]] = {}
    for recipients, message in inbox.messages:
        (token,) = LINK.findall(message.get_content())
        for address in recipients:
            found.setdefault(address, []).append(token)
    return found


def email_of(employee_id: str) -> str:
    return f"{employee_id}@acme.test"


def rows(engine: sa.Engine, *columns: str) -> dict[str, tuple]:
    """Employee id -> the chosen invitation columns (the newest invitation per person)."""
    query = (
        sa.select(users.c.employee_id, *(invitations.c[c] for c in columns))
        .join(users, users.c.id == invitations.c.user_id)
        .order_by(invitations.c.id)
    )
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(query)}


def invitation_id(engine: sa.Engine, employee_id: str) -> int:
    query = (
        sa.select(sa.func.max(invitations.c.id))
        .join(users, users.c.id == invitations.c.user_id)
        .where(users.c.employee_id == employee_id)
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def resources(engine: sa.Engine, inbox, port: int | None = None, alerts_to: str | None = None) -> dict:
    mailer = Mailer(smtp_host=inbox.host, smtp_port=port or inbox.port, sender=SENDER)
    return {
        "teammeter_db": TeammeterDatabase(url=database_url(engine)),
        "mailer": mailer,
        "data_team_alerts": DataTeamAlerts(email_to=alerts_to, mailer=mailer),
    }


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def session_send(transport: SmtpTransport):
    """A `send` for `outbox.deliver` through one SMTP session (close the transport afterwards)."""

    def send(claim: claims.Claim) -> None:
        transport.send(
            build_invitation(
                sender=SENDER, to=claim.email, display_name=claim.display_name,
                company_name=claim.company_name, token=claim.token,
            )
        )

    return send
