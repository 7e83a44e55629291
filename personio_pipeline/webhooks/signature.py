"""Apideck's webhook signature: `x-apideck-signature` is the hex HMAC-SHA256 of the raw request
body, keyed with the application's API key. Checked over the bytes as received (never a re-encoded
parse) and in constant time."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "x-apideck-signature"


def sign(body: bytes, api_key: str) -> str:
    """The signature Apideck sends with `body` (lower-case hex)."""
    return hmac.new(api_key.encode(), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, api_key: str, signature: str | None) -> bool:
    """True when `signature` is the body's HMAC under `api_key`; an empty key never verifies."""
    if not api_key or not signature:
        return False
    expected = sign(body, api_key).encode()
    # compare_digest on bytes of any content: a non-ASCII header must not raise, just fail.
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace"))
