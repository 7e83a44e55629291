"""Apideck's webhook signature, as Apideck computes it.

Apideck's documentation (developers.apideck.com/guides/webhook-signature-verification,
help.apideck.com/en/articles/4231810): `x-apideck-signature` is the hex HMAC-SHA256, keyed with the
application's API key, of the whole request body with every object's keys sorted alphabetically,
recursively (arrays keep their order), serialised as JavaScript's `JSON.stringify` does. The body
as delivered need not be in that form (another key order, whitespace), so a delivery is accepted
when the signature matches the canonical form *or* the raw bytes, both compared in constant time.

`canonical_json` reproduces `JSON.stringify(sortKeys(JSON.parse(body)))` byte for byte; the test
`test_signature_canonical.py` proves it against Node.js on generated hostile payloads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

SIGNATURE_HEADER = "x-apideck-signature"

# JSON.stringify escapes `"`, `\`, the C0 controls (short forms where JSON has them, else \u00xx in
# lower case) and lone surrogates (\udxxx); everything else, U+2028/U+2029 included, as it is.
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ARRAY_INDEX_LIMIT = 2**32 - 1  # ECMAScript array indexes are 0 .. 2**32 - 2


def sign(body: bytes, api_key: str) -> str:
    """The lower-case hex HMAC-SHA256 of `body` under `api_key`."""
    return hmac.new(api_key.encode(), body, hashlib.sha256).hexdigest()


def sign_event(document: Any, api_key: str) -> str:
    """The signature Apideck sends with a delivery of `document` (whatever its bytes look like)."""
    return sign(canonical_json(document).encode("utf-8", "surrogatepass"), api_key)


def is_valid(body: bytes, api_key: str, signature: str | None) -> bool:
    """True when `signature` is the HMAC under `api_key` of the body's canonical form or of its raw
    bytes; an empty key or signature never verifies; a body that is not JSON only has the raw form."""
    if not api_key or not signature:
        return False
    # compare_digest on bytes of any content: a non-ASCII header must not raise, just fail.
    given = signature.strip().lower().encode("utf-8", "replace")
    if hmac.compare_digest(sign(body, api_key).encode(), given):
        return True
    canonical = canonical_body(body)
    return canonical is not None and hmac.compare_digest(sign(canonical, api_key).encode(), given)


def canonical_body(body: bytes) -> bytes | None:
    """The canonical bytes Apideck signs for `body`, or None when `body` is not JSON as
    JavaScript's `JSON.parse` reads it (UTF-8 text; no NaN or Infinity literals)."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return canonical_json(document).encode("utf-8", "surrogatepass")


def canonical_json(value: Any) -> str:
    """`JSON.stringify` of `value` with every object's keys sorted the way `Object.keys(o).sort()`
    sorts them and then re-ordered the way a JavaScript object holds them (array-index keys first,
    ascending)."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=_js_property_order)
        return "{" + ",".join(_string(key) + ":" + canonical_json(value[key]) for key in keys) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _string(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _js_property_order(key: str) -> tuple[int, int, bytes]:
    """Array-index keys ("0", "17") first in numeric order, then the others by UTF-16 code units:
    the order of a JavaScript object built from `Object.keys(o).sort()`."""
    if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < _ARRAY_INDEX_LIMIT:
        return (0, int(key), b"")
    return (1, 0, key.encode("utf-16-be", "surrogatepass"))


def _number(value: int | float) -> str:
    """A number as JavaScript prints it (Number::toString): shortest round-trip digits, exponent
    form outside 1e-7 <= |x| < 1e21, `1.0` → `1`, `-0` → `0`; Infinity (1e400) → `null`."""
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a double: JSON.parse makes it Infinity
        return "null"
    if number != number or number in (float("inf"), float("-inf")):
        return "null"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction.rstrip("0")) if fraction != "0" else whole
    point = len(whole) + int(exponent or 0)  # position of the decimal point after the first digit of `digits`
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        shown = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{shown}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + text
