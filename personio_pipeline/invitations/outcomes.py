"""What a failed send means for an invitation: certainly not accepted (retry or fail) or unknown
(an operator decides), whether retrying the same relay can help, and whether the relay is failing
for everyone (the batch stops). Read from what the mail transport (`notify/mail.py`) raised.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass

from personio_pipeline.notify.mail import RELAY, DeliveryError, DeliveryUnknown
from personio_pipeline.org.addresses import AddressNotValid

ERROR_LIMIT = 1000


@dataclass(frozen=True)
class Outcome:
    """What a failed send means. `certain`: the relay certainly did not accept the message.
    `permanent`: the same relay will refuse it again (fail now). `stops_batch`: the relay or the
    connection is failing, so the rest of the batch waits for the next run. `refused_by_relay`:
    the relay refused this recipient or message (counts towards REFUSALS_IN_A_ROW)."""

    certain: bool
    permanent: bool
    stops_batch: bool
    reason: str
    refused_by_relay: bool = False


_REFUSALS = ("recipient_refused", "recipient_deferred", "message_refused")


def classify(error: BaseException) -> Outcome:
    """The transport (`notify.mail`) says what the relay did (`DeliveryError`: certainly not
    accepted; `DeliveryUnknown`: handed over, no final reply). For a bare smtplib error the phase
    is unknown: `SMTPServerDisconnected` and a bare `SMTPResponseException` (an odd QUIT) may
    follow acceptance; a refused recipient is that recipient's; every other `SMTPException` and
    a plain `OSError` come before the hand-over. Anything else is unknown."""
    if isinstance(error, DeliveryError):
        return Outcome(True, error.permanent, error.scope == RELAY, error.kind, error.kind in _REFUSALS)
    if isinstance(error, DeliveryUnknown):
        return Outcome(False, False, error.relay_wide, error.kind)
    if isinstance(error, AddressNotValid):
        return Outcome(True, True, False, "invalid_address")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        closing = any(answer[0] == 421 for answer in error.recipients.values())
        return Outcome(True, False, closing, "recipient_refused", not closing)
    if isinstance(error, smtplib.SMTPServerDisconnected) or type(error) is smtplib.SMTPResponseException:
        return Outcome(False, False, True, DeliveryUnknown.kind)
    if isinstance(error, (smtplib.SMTPException, OSError)):
        return Outcome(True, False, True, "relay_unavailable")
    return Outcome(False, False, True, DeliveryUnknown.kind)


def delivery_certainly_failed(error: BaseException) -> bool:
    """True when the send raised before the server could have accepted the message (`classify`)."""
    return classify(error).certain


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_LIMIT]


def error_code(error: BaseException) -> str:
    """Error type (or the transport's reason) and SMTP code, without the server's text (which
    may quote addresses)."""
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(answer[0]) for answer in error.recipients.values()})
        code = "/".join(codes) or None
    if isinstance(error, (DeliveryError, DeliveryUnknown)):
        detail = code or getattr(error, "detail", None)
        return error.kind + (f" {detail}" if detail else "")
    return type(error).__name__ + (f" {code}" if code else "")
