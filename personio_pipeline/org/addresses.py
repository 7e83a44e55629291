"""The address policy: which email addresses are valid, in which form they are stored, and in
which form they go to the mail relay. Pure (no Dagster, no I/O); used by the model's email
choice (who has access) and by the invitation sender (who can be invited), so both agree.

Validity is email-validator's verdict with its defaults and `check_deliverability=False`:
RFC 6531 internationalised local parts (`zoë.rossi@acme.example`) are valid, quoted local parts,
IP literals and special-use domains (`.local`, `.invalid`, …) are not. `check` returns exactly
what `email_validator.validate_email` returns (normalised form, ASCII form, whether SMTPUTF8 is
needed, or its error message), but at a cost that does not depend on who the people are:

- a domain is validated once per process (companies have a handful; email-validator spends most
  of its time per address in the domain: IDNA, UTS-46, special-use names);
- a local part that is a plain ASCII dot-atom, or an NFC-normalised internationalised dot-atom
  made only of letters, digits, marks, punctuation and symbols, is decided by email-validator's
  own regular expressions and a set lookup per character;
- everything else (quotes, angle brackets, several @-signs, unsafe characters, over-long
  addresses, invalid domains) goes through email-validator in full, so its error message is the
  one shown. `personio_pipeline_tests/org/test_addresses.py` proves the verdicts equal.

Sending (`sending_form`): the envelope carries the local part as is and the domain in its IDNA
(ASCII) form, so an address whose only non-ASCII part is the domain needs nothing from the relay;
a non-ASCII local part can only travel through a relay that offers SMTPUTF8 (RFC 6531).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    DOT_ATOM_TEXT_INTL,
    EMAIL_MAX_LENGTH,
)

# What email-validator is asked: syntax only (no DNS), its defaults for everything else.
VALIDATOR_OPTIONS = {"check_deliverability": False}


class Verdict(NamedTuple):
    """email-validator's answer for one address: `normalized`, `ascii_email`, `ascii_domain` and
    `smtputf8` as in its `ValidatedEmail`, or `reason` (its error message) when the address is
    invalid. A named tuple: made 100,000 times per company sync, it must be cheap to build."""

    normalized: str | None
    ascii_email: str | None = None
    ascii_domain: str | None = None
    smtputf8: bool = False
    reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.normalized is not None


@dataclass(frozen=True, slots=True)
class SendingForm:
    """How one valid address travels. `envelope` is for MAIL FROM / RCPT TO (IDNA domain);
    `header` for From/To (the ASCII form, or the normalised Unicode form when the local part is
    non-ASCII); `smtputf8`: only a relay offering SMTPUTF8 can carry it."""

    envelope: str
    header: str
    local_part: str
    header_domain: str
    smtputf8: bool


class AddressNotValid(ValueError):
    """The address is not valid under the policy (`reason`: email-validator's message)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check(address: str) -> Verdict:
    """email-validator's verdict on `address` as given (no trimming, no case change)."""
    return _fast(address) or _full(address)


def sending_form(address: str) -> SendingForm:
    """The form in which a valid address is sent; raises AddressNotValid otherwise."""
    verdict = check(address)
    if not verdict.valid:
        raise AddressNotValid(verdict.reason or "not a valid email address")
    local, _, domain = verdict.normalized.rpartition("@")
    if verdict.ascii_email:
        return SendingForm(verdict.ascii_email, verdict.ascii_email, local, verdict.ascii_domain, False)
    return SendingForm(f"{local}@{verdict.ascii_domain}", verdict.normalized, local, domain, True)


def as_sent(address: str) -> SendingForm:
    """`sending_form`, and for an address the policy rejects (a relay's own `.local` sender, an
    address stored before the policy) the address as it is: the relay decides about it."""
    try:
        return sending_form(address)
    except AddressNotValid:
        local, _, domain = address.rpartition("@")
        return SendingForm(address, address, local, domain, not address.isascii())


def needs_smtputf8(address: str) -> bool:
    """True when the address can only be sent through a relay offering SMTPUTF8."""
    return as_sent(address).smtputf8


# -- the fast path: only ever answers "valid", and exactly as email-validator would --------------------

# email-validator's check_unsafe_chars: letters, numbers, punctuation, symbols, and combining
# marks except as the first character (they would combine with whatever precedes the address).
_ALLOWED_CATEGORIES = frozenset("LNPSM")
_MARK = "M"
_SURELY_SHORT = EMAIL_MAX_LENGTH // 4  # at most 4 UTF-8 bytes per character
_known_safe: set[str] = set()
_known_unsafe: set[str] = set()


def _fast(address: str) -> Verdict | None:
    if address.count("@") != 1:
        return None
    local, domain = address.split("@")
    domain_verdict = _domain(domain)
    if domain_verdict is None:
        return None
    normalized_domain, ascii_domain = domain_verdict
    if DOT_ATOM_TEXT.match(local):
        if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
            local = local.lower()  # RFC 2142 role names (postmaster, info, …), as email-validator does
        smtputf8 = False
    elif _safe_international(local):
        smtputf8 = True
    else:
        return None
    normalized = f"{local}@{normalized_domain}"
    ascii_form = f"{local}@{ascii_domain}"
    # email-validator's length rule: the input, the normalised form and the IDNA form, in UTF-8.
    for form in (address, normalized, ascii_form):
        if len(form) > _SURELY_SHORT and len(form.encode()) > EMAIL_MAX_LENGTH:
            return None
    return Verdict(normalized, None if smtputf8 else ascii_form, ascii_domain, smtputf8, None)


def _safe_international(local: str) -> bool:
    """An internationalised dot-atom that email-validator accepts unchanged: its RFC 6531 pattern,
    already NFC (else it renormalises and checks again), and only characters its
    `check_unsafe_chars` allows, a combining mark not first."""
    if not DOT_ATOM_TEXT_INTL.match(local) or not unicodedata.is_normalized("NFC", local):
        return False
    characters = set(local)
    if not characters <= _known_safe:
        for character in characters - _known_safe:
            if character in _known_unsafe:
                return False
            if unicodedata.category(character)[0] in _ALLOWED_CATEGORIES:
                _known_safe.add(character)
            else:
                _known_unsafe.add(character)
                return False
    return unicodedata.category(local[0])[0] != _MARK


@lru_cache(maxsize=65_536)
def _domain(domain: str) -> tuple[str, str] | None:
    """(normalised domain, IDNA ASCII domain) as email-validator returns them, or None when the
    domain is invalid (or too long to probe with a one-letter local part): once per domain."""
    try:
        validated = validate_email(f"a@{domain}", **VALIDATOR_OPTIONS)
    except EmailNotValidError:
        return None
    return validated.domain, validated.ascii_domain


def _full(address: str) -> Verdict:
    try:
        validated = validate_email(address, **VALIDATOR_OPTIONS)
    except EmailNotValidError as error:
        return Verdict(None, reason=str(error))
    return Verdict(validated.normalized, validated.ascii_email, validated.ascii_domain, validated.smtputf8)
