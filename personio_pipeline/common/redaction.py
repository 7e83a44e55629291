"""Keeps e-mail addresses and secrets out of text that leaves the pipeline (stored failure
messages, JSON log lines). The pipeline already avoids putting them into messages; this is the
last line of defence for text it does not control, such as a driver's or a library's error."""

from __future__ import annotations

import re
from collections.abc import Iterable

from personio_pipeline.common import settings

EMAIL_ADDRESS = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+\.[^\s@<>()\[\]\"',;:]+")
BEARER_TOKEN = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
MIN_SECRET_LENGTH = 6  # shorter values (an empty password, "x" in a test) would mangle any text


def secrets_from_env(names: Iterable[str] = settings.SECRET_ENV_VARS) -> tuple[str, ...]:
    """The values of the secret environment variables that are set (long enough to redact)."""
    return tuple(value for value in settings.secret_values(names) if len(value) >= MIN_SECRET_LENGTH)


def redact(text: str, secrets: Iterable[str] = (), limit: int | None = None) -> str:
    """`text` with secrets, bearer tokens and e-mail addresses replaced, cut to `limit` characters."""
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    text = BEARER_TOKEN.sub(r"\1[secret]", text)
    text = EMAIL_ADDRESS.sub("[email]", text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
