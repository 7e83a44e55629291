"""Invitation fixtures: the store's databases (SQLite and PostgreSQL, from the teammeter tests),
a verified ACME company synced from the ACME story, and helpers to read what the real SMTP
server on loopback received."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, message_from_string, policy

import pytest
import sqlalchemy as sa

from personio_pipeline.defs.shared.resources import DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.invitations import claims
from personio_pipeline.invitations.message import build_invitation
from personio_pipeline.notify.mail import SmtpTransport
from personio_pipeline.store import hand_edits
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.schema import invitations, users
from personio_pipeline_tests.conftest import free_port
from personio_pipeline_tests.teammeter.conftest import (  # noqa: F401 - fixtures
    day_one,
    engine,
    postgres_admin,
    postgres_database,
    postgres_template,
    register,
    sqlite_template,
    sync,
)

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
    transport = SmtpTransport(inbox.host, port or inbox.port, timeout_seconds=5)

    def send(claim: claims.Claim) -> None:
        transport.send(
            build_invitation(
                sender=SENDER, to=claim.email, display_name=claim.display_name,
                company_name=claim.company_name, token=claim.token,
            )
        )

    return send


def clock(at: datetime):
    return lambda: at


def received(inbox) -> Counter:
    """Messages per recipient address."""
    return Counter(address for recipients, _ in inbox.messages for address in recipients)


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


def database_url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def resources(engine: sa.Engine, inbox, port: int | None = None, alerts_to: str | None = None) -> dict:
    mailer = Mailer(smtp_host=inbox.host, smtp_port=port or inbox.port, sender=SENDER)
    return {
        "teammeter_db": TeammeterDatabase(url=database_url(engine)),
        "mailer": mailer,
        "data_team_alerts": DataTeamAlerts(email_to=alerts_to, mailer=mailer),
    }


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- a relay with per-recipient behaviour (aiosmtpd on loopback) --------------------------------------


class Relay:
    """An aiosmtpd handler that keeps every accepted message, like `SmtpInbox`, and can refuse
    chosen recipients at RCPT, drop the connection after the data of a chosen recipient (before
    its final reply), and hang up on the next MAIL FROM once a connection carried a number of
    messages (as after an idle timeout or a per-connection limit)."""

    def __init__(self):
        self.messages: list = []
        self.fail_with: str | None = None
        self.refuse: dict[str, str] = {}  # recipient -> RCPT reply
        self.drop_after_data: set[str] = set()  # recipients whose final reply never comes (once)
        self.close_after: int | None = None  # messages per connection
        self.sessions: list = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.close_after and getattr(session, "delivered", 0) >= self.close_after:
            server.transport.close()  # hangs up without a reply, as after an idle timeout or a limit
            return "421 closing"
        envelope.mail_from, envelope.mail_options = address, mail_options
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_with:
            return self.fail_with
        if not any(known is session for known in self.sessions):
            self.sessions.append(session)
        if envelope.smtp_utf8:  # UTF-8 headers (RFC 6532)
            message = message_from_string(envelope.content.decode("utf-8"), policy=policy.default)
        else:
            message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        session.delivered = getattr(session, "delivered", 0) + 1
        dropped = self.drop_after_data & set(envelope.rcpt_tos)
        if dropped:
            self.drop_after_data -= dropped
            server.transport.close()  # accepted, but the reply never reaches the sender
            return "250 OK"
        return "250 OK"


@pytest.fixture
def start_relay():
    """Starts relays on loopback: `start_relay(smtputf8=True)` → a `Relay` with .host and .port."""
    from aiosmtpd.controller import Controller

    controllers = []

    def start(smtputf8: bool = True) -> Relay:
        relay = Relay()
        controller = Controller(relay, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
        controller.start()
        controllers.append(controller)
        relay.host, relay.port, relay.smtputf8 = controller.hostname, controller.port, smtputf8
        return relay

    try:
        yield start
    finally:
        for controller in controllers:
            controller.stop()


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
