"""Sending mail over SMTP (one connection per batch, STARTTLS when offered or required), or into
a file outbox for the demo.

Messages are built with the stdlib `email.message.EmailMessage`, which refuses CR/LF in
header values, so names from HR data cannot inject headers. Addresses follow the address policy
(`personio_pipeline.org.addresses`): the envelope carries IDN domains in their IDNA (ASCII) form, and
a message to or from a non-ASCII local part is sent with SMTPUTF8 (`SMTPUTF8` in MAIL FROM, UTF-8
headers) — only through a relay that offers it.

What a failed `SmtpTransport.send` raises says what the relay did:

- `DeliveryError`: the relay certainly did not accept the message (nothing was handed over, or
  it answered the message with a refusal). `scope` is "recipient" when only this message is
  affected (RCPT refused, the message refused, SMTPUTF8 needed but not offered, an address or
  message that cannot be encoded) and "relay" when every further message would fail too
  (connection refused, TLS or authentication failure, 421, a timeout, the sender refused, a
  temporary failure of DATA). `permanent`: trying the same relay again cannot help.
- `DeliveryUnknown`: the connection was lost after the message and its end marker were handed
  over and before the relay's final reply: it may have been accepted.

A connection the relay closed between messages (idle timeout, a per-connection limit) is
reopened once for the next message; a message is only ever handed over once per `send`.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from personio_pipeline.org import addresses

RECIPIENT = "recipient"
RELAY = "relay"


class MailTransport(Protocol):
    """Sends messages; a session (`with transport: ...`) may keep a connection for a batch."""

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> "MailTransport": ...

    def __exit__(self, *exc_info) -> None: ...


class DeliveryError(Exception):
    """The relay certainly did not accept the message; `kind` names why (stored with the
    invitation), `code` is the SMTP reply code if there was one."""

    def __init__(
        self, kind: str, reason: str, *, scope: str, permanent: bool = False, code: int | None = None,
        detail: str | None = None,
    ):
        super().__init__(reason)
        self.kind, self.scope, self.permanent, self.smtp_code = kind, scope, permanent, code
        self.detail = detail  # e.g. the exception type of a failed connection (no server text)


class DeliveryUnknown(Exception):
    """The message was handed over and no final reply came: it may have been accepted.
    `relay_wide` when the relay stopped answering (a timeout), not merely closed the connection."""

    kind = "delivery_unknown"

    def __init__(self, reason: str, *, relay_wide: bool):
        super().__init__(reason)
        self.relay_wide = relay_wide


def build_message(
    *, sender: str, to: str, subject: str, text: str, to_name: str | None = None
) -> EmailMessage:
    """A plain-text message to `to` in the form the address policy sends it; display names are
    encoded, never spliced into raw headers."""
    form = addresses.as_sent(to)
    message = EmailMessage()
    message["From"] = sender
    clean_name = " ".join((to_name or "").split())
    message["To"] = Address(display_name=clean_name, username=form.local_part, domain=form.header_domain)
    message["Subject"] = " ".join(subject.split())
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">").strip() or "localhost")
    message.set_content(text)
    return message


@dataclass(frozen=True)
class Envelope:
    """Who the relay is told about (MAIL FROM, RCPT TO) and whether that needs SMTPUTF8."""

    sender: str
    recipients: tuple[str, ...]
    smtputf8: bool


def envelope_of(message: EmailMessage) -> Envelope:
    """The envelope from the From and To/Cc headers in the form the address policy sends them
    (`addresses.as_sent`: IDNA domains; SMTPUTF8 only for a non-ASCII local part)."""
    try:
        (sender,) = [addresses.as_sent(a.addr_spec) for a in message["From"].addresses]
        recipients = [
            addresses.as_sent(a.addr_spec) for header in ("To", "Cc") if message[header] for a in message[header].addresses
        ]
    except (ValueError, TypeError, AttributeError) as error:
        raise DeliveryError("invalid_address", f"the message's addresses cannot be read: {error}",
                            scope=RECIPIENT, permanent=True) from error
    if not recipients:
        raise DeliveryError("invalid_address", "the message has no recipient", scope=RECIPIENT, permanent=True)
    smtputf8 = sender.smtputf8 or any(r.smtputf8 for r in recipients)
    return Envelope(sender.envelope, tuple(r.envelope for r in recipients), smtputf8)


def message_bytes(message: EmailMessage, *, smtputf8: bool) -> bytes:
    """The message as sent (CRLF line ends); UTF-8 headers only for an SMTPUTF8 transaction.
    Raises DeliveryError (permanent) when it cannot be encoded."""
    try:
        return message.as_bytes(policy=message.policy.clone(utf8=smtputf8, linesep="\r\n"))
    except Exception as error:  # noqa: BLE001 - whatever the generator raises, nothing was sent
        raise DeliveryError("message_not_encodable", f"the message cannot be encoded: {type(error).__name__}: "
                            f"{error}", scope=RECIPIENT, permanent=True) from error


class _Session:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        pass


@dataclass
class SmtpTransport(_Session):
    """An SMTP session: connects (STARTTLS when the server offers it or `require_tls` is set,
    then login) on the first `send`, reuses the connection for every further message, reopens it
    when the relay has closed it, and says goodbye on `close()` (use it as a context manager)."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    require_tls: bool = False
    timeout_seconds: float = 30.0
    _smtp: smtplib.SMTP | None = field(default=None, init=False, repr=False)
    _used: bool = field(default=False, init=False, repr=False)  # a message went over this connection
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def offers_smtputf8(self) -> bool:
        """Whether the relay offers SMTPUTF8 (connects if needed)."""
        return self._connection().has_extn("smtputf8")

    def send(self, message: EmailMessage) -> None:
        envelope = envelope_of(message)
        with self._lock:  # one SMTP conversation at a time on the shared connection
            self._send(message, envelope)

    def _send(self, message: EmailMessage, envelope: Envelope) -> None:
        for _ in range(2):
            smtp = self._connection()
            reused = self._used
            try:
                self._transaction(smtp, message, envelope)
                self._used = True
                return
            except _ClosedBeforeHandover as closed:
                self._drop()
                if closed.timed_out or not reused:
                    raise DeliveryError(
                        "relay_unavailable", f"the relay closed the connection before the message was handed "
                        f"over ({closed})", scope=RELAY, detail="timeout" if closed.timed_out else "disconnected",
                    ) from None
                # The relay closed a connection we had used before (idle or per-connection limit): reopen once.
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            smtp, self._smtp, self._used = self._smtp, None, False
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    # -- one connection --------------------------------------------------------------------------------

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        except smtplib.SMTPConnectError as error:
            raise _relay_error(error.smtp_code, "the relay refused the connection") from None
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError("relay_unavailable", f"cannot connect to the relay: {type(error).__name__}: {error}",
                                scope=RELAY, detail=type(error).__name__) from None
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            elif self.require_tls:
                raise DeliveryError("relay_unavailable", f"{self.host}:{self.port} does not offer STARTTLS",
                                    scope=RELAY)
            if self.username:
                smtp.login(self.username, self.password or "")
        except DeliveryError:
            smtp.close()
            raise
        except smtplib.SMTPAuthenticationError as error:
            smtp.close()
            raise DeliveryError("relay_auth_failed", "the relay refused the login", scope=RELAY,
                                code=error.smtp_code) from None
        except (OSError, smtplib.SMTPException) as error:
            smtp.close()
            raise DeliveryError("relay_unavailable", f"the relay failed while opening the session: "
                                f"{type(error).__name__}: {error}", scope=RELAY, detail=type(error).__name__) from None
        self._smtp, self._used = smtp, False
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp, self._used = self._smtp, None, False
        if smtp is not None:
            smtp.close()

    def _reset(self, smtp: smtplib.SMTP) -> None:
        """End a refused transaction so the connection can carry the next message."""
        try:
            code, _ = smtp.rset()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._drop()

    def _transaction(self, smtp: smtplib.SMTP, message: EmailMessage, envelope: Envelope) -> None:
        """MAIL, RCPT, DATA for one message. Everything up to the end-of-data marker is certain."""
        if envelope.smtputf8 and not smtp.has_extn("smtputf8"):
            raise DeliveryError(
                "smtputf8_unsupported",
                "the relay does not offer SMTPUTF8, which this address needs (its part before the @ is not ASCII)",
                scope=RECIPIENT, permanent=True,
            )
        payload = message_bytes(message, smtputf8=envelope.smtputf8)
        options = ["SMTPUTF8"] if envelope.smtputf8 else []
        if not payload.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        code, reply = _command(lambda: smtp.mail(envelope.sender, options))
        if code != 250:
            self._failed(smtp, code)
            raise _relay_error(code, "the relay refused the sender (MAIL FROM)", reply)
        for recipient in envelope.recipients:
            code, reply = _command(lambda: smtp.rcpt(recipient))
            if code not in (250, 251):
                self._failed(smtp, code)
                if code == 421 or code < 400:
                    raise _relay_error(code, "the relay refused the recipient (RCPT TO)", reply)
                kind = "recipient_deferred" if code < 500 else "recipient_refused"
                raise DeliveryError(kind, f"the relay refused the recipient: {code} {_text(reply)}",
                                    scope=RECIPIENT, code=code)
        code, reply = _command(lambda: (smtp.putcmd("data"), smtp.getreply())[1])
        if code != 354:
            self._failed(smtp, code)
            raise _message_refused(code, reply)
        data = re.sub(rb"(?m)^\.", b"..", payload)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        _command(lambda: smtp.send(data + b".\r\n"))  # raises before the marker is fully sent: certain
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise DeliveryUnknown(
                f"the connection was lost after the message was handed over, before the relay's reply ({error})",
                relay_wide=_timed_out(error),
            ) from None
        if code != 250:
            self._failed(smtp, code)
            raise _message_refused(code, reply)

    def _failed(self, smtp: smtplib.SMTP, code: int) -> None:
        if code == 421 or code < 200:
            self._drop()
        else:
            self._reset(smtp)


class _ClosedBeforeHandover(Exception):
    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.timed_out = _timed_out(error)


def _command(call):
    """Run one SMTP exchange before the hand-over: a lost connection becomes `_ClosedBeforeHandover`."""
    try:
        return call()
    except smtplib.SMTPServerDisconnected as error:
        raise _ClosedBeforeHandover(error) from None
    except OSError as error:
        raise _ClosedBeforeHandover(error) from None


def _timed_out(error: BaseException) -> bool:
    cause = error.__context__ or error.__cause__
    return isinstance(error, TimeoutError) or isinstance(cause, TimeoutError) or "timed out" in str(error)


def _relay_error(code: int | None, what: str, reply: bytes | str | None = None) -> DeliveryError:
    detail = f": {code} {_text(reply)}" if code else ""
    return DeliveryError("relay_unavailable" if code in (None, 421) or code < 500 else "sender_refused",
                         what + detail, scope=RELAY, code=code)


def _message_refused(code: int, reply: bytes | str | None) -> DeliveryError:
    """A refused DATA: 5xx refuses this message; 421 and 4xx are the relay's temporary trouble."""
    if code >= 500:
        return DeliveryError("message_refused", f"the relay refused the message: {code} {_text(reply)}",
                             scope=RECIPIENT, code=code)
    return _relay_error(code, "the relay deferred the message (DATA)", reply)


def _text(reply: bytes | str | None) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join((reply or "").split())[:200]


@dataclass(frozen=True)
class FileOutbox(_Session):
    """Writes each message as an .eml file: the embedded default, so the demo sends nothing."""

    directory: str

    def send(self, message: EmailMessage) -> None:
        envelope = envelope_of(message)
        payload = message_bytes(message, smtputf8=envelope.smtputf8)
        folder = Path(self.directory)
        folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("/", "_").replace("@", "_at_")
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(payload)
        tmp.replace(folder / f"{name}.eml")
