"""Text from HR made safe to store, identical for SQLite and PostgreSQL.

A JSON string may hold anything: NUL (which PostgreSQL text cannot store), other control
characters, lone surrogates (which no UTF-8 store can encode), decomposed accents, 10,000
characters. SQLite accepts most of that silently, PostgreSQL refuses it and fails the whole
company's write. So every text the model takes from a record passes through here, and the
limits of the Teammeter columns are enforced in the model, where the SQLite tests see them too:

- `clean_text`: control characters removed (tabs, line and paragraph breaks become spaces),
  surrogates removed, NFC-normalised, whitespace runs collapsed, trimmed; empty means None.
  Format characters stay: emoji sequences need the zero-width joiner, right-to-left names the
  direction marks.
- `fit_display`: a display text (names, titles, team/unit names) longer than the store's 255
  characters is cut visibly, ending in "…"; the full value stays in the raw extract.
- `fit_key`: an identifier or key longer than 255 characters keeps its start and gets a hash of
  the whole, so different long keys stay different and the same one maps the same way each day.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

DISPLAY_LIMIT = 255  # users.display_name/first_name/last_name, units/teams/roles.name: String(255)
KEY_LIMIT = 255  # users.employee_id, unit/team/role keys: String(255)
ELLIPSIS = "…"

# C0/C1 controls and DEL that mean a break become a space; the others, and surrogates, go.
_BREAKS = re.compile("[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]")
_REMOVED = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")
_KEY_HASH_LENGTH = 32
_KEY_PREFIX_LENGTH = KEY_LIMIT - _KEY_HASH_LENGTH - 1


def clean_text(value: object) -> str | None:
    """Storable text, or None for null, non-text and blank values. Idempotent. Plain printable
    text without double spaces (nearly every real value) only gets trimmed."""
    if type(value) is not str:
        return None
    if value.isascii() and value.isprintable() and "  " not in value:  # the common case: only trim
        return value.strip() or None
    if not value.isprintable() or "  " in value:
        value = " ".join(_REMOVED.sub("", _BREAKS.sub(" ", value)).split())
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    return value.strip() or None


def fit_display(value: str | None, limit: int = DISPLAY_LIMIT) -> str | None:
    """At most `limit` characters; a longer text ends in '…', cut between whole characters (a
    base letter keeps its combining marks, an emoji sequence is not split at a joiner)."""
    if value is None or len(value) <= limit:
        return value
    cut = limit - len(ELLIPSIS)
    while cut > 0 and _continues(value, cut):
        cut -= 1
    return value[:cut].rstrip() + ELLIPSIS


def fit_key(value: str | None) -> str | None:
    """At most KEY_LIMIT characters: a longer key keeps its first characters and ends in '~'
    plus a hash of the whole key (deterministic, so the key is stable from run to run)."""
    if value is None or len(value) <= KEY_LIMIT:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_KEY_HASH_LENGTH]
    return f"{value[:_KEY_PREFIX_LENGTH]}~{digest}"


def fallback_name(kind: str, key: str) -> str:
    """The deterministic name of a team, unit or role HR serves without one ('Team 4711'), so its
    members still have a team the customer can see and rename."""
    return fit_display(f"{kind} {key}")


def _continues(text: str, position: int) -> bool:
    """Whether the character at `position` belongs to the one before it: a combining mark, a
    variation selector or emoji modifier, a zero-width joiner or what follows one."""
    char, before = text[position], text[position - 1]
    return (
        unicodedata.combining(char) != 0
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
        or char == "\u200d"
        or before == "\u200d"
        or unicodedata.category(char) == "Mn"
        or "\udc00" <= char <= "\udfff"
    )
