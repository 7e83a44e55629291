"""Sending mail over SMTP (STARTTLS when offered or required), or into a file outbox for the demo.

Messages are built with the stdlib `email.message.EmailMessage`, which refuses CR/LF in
header values, so names from HR data cannot inject headers.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol


class MailTransport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def build_message(
    *, sender: str, to: str, subject: str, text: str, to_name: str | None = None
) -> EmailMessage:
    """A plain-text message; display names are encoded, never spliced into raw headers. An address
    with a non-ASCII local part (`zoë.rossi@…`) cannot be written in ASCII headers: such a message
    is an SMTPUTF8 (RFC 6531) one, which `smtplib` sends only to servers that offer SMTPUTF8."""
    message = EmailMessage(policy=policy.default if to.isascii() else policy.SMTPUTF8)
    message["From"] = sender
    clean_name = " ".join((to_name or "").split())
    if to.isascii():
        message["To"] = Address(display_name=clean_name, addr_spec=to) if clean_name else to
    else:  # `addr_spec=` refuses non-ASCII local parts whatever the policy; the parts are taken as they are
        username, _, domain = to.rpartition("@")
        message["To"] = Address(display_name=clean_name, username=username, domain=domain)
    message["Subject"] = " ".join(subject.split())
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(text)
    return message


@dataclass(frozen=True)
class SmtpTransport:
    """One SMTP connection per `send`; STARTTLS when the server offers it or `require_tls` is set."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    require_tls: bool = False
    timeout_seconds: float = 30.0

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            elif self.require_tls:
                raise smtplib.SMTPException(f"{self.host}:{self.port} does not offer STARTTLS")
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


@dataclass(frozen=True)
class FileOutbox:
    """Writes each message as an .eml file: the embedded default, so the demo sends nothing."""

    directory: str

    def send(self, message: EmailMessage) -> None:
        folder = Path(self.directory)
        folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("/", "_").replace("@", "_at_")
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(message.as_bytes())
        tmp.replace(folder / f"{name}.eml")
