"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

- `smtp_server`: a server offering SMTPUTF8, as relays do today; `.messages` holds
  (recipients, parsed message) pairs; `.fail_with = "451 try later"` simulates an outage.
- `start_relay`: starts relays with per-recipient behaviour (refuse at RCPT, drop the connection
  after the data, hang up after N messages), with or without SMTPUTF8.
- `received(inbox)`: messages per recipient address.
"""

from __future__ import annotations

from collections import Counter
from email import message_from_bytes, message_from_string, policy

import pytest

from personio_pipeline_tests.support.net import free_port


class SmtpInbox:
    """aiosmtpd handler that keeps every delivered message (parsed) in memory. The server offers
    SMTPUTF8, as relays do today (the invitation tests also run without it)."""

    def __init__(self):
        self.messages = []
        self.fail_with: str | None = None  # e.g. "451 try later" to simulate an outage

    async def handle_DATA(self, server, session, envelope):
        if self.fail_with:
            return self.fail_with
        if envelope.smtp_utf8:  # UTF-8 headers (RFC 6532): addresses with non-ASCII local parts
            message = message_from_string(envelope.content.decode("utf-8"), policy=policy.default)
        else:
            message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    controller.start()
    inbox.host, inbox.port = controller.hostname, controller.port
    try:
        yield inbox
    finally:
        controller.stop()


def received(inbox) -> Counter:
    """Messages per recipient address (of an `SmtpInbox` or a `Relay`)."""
    return Counter(address for recipients, _ in inbox.messages for address in recipients)


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
