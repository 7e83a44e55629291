"""A digest of some of the project's own source files: what a remembered result was computed by.

Results kept between runs (the model a listing was built into, the plan a sync applied, the
verification report) are reused only while the code that made them is the same; a release that
changes it makes them once more.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # personio_pipeline/


@lru_cache(maxsize=None)
def source_digest(*patterns: str) -> str:
    """SHA-256 over the files matching `patterns` (globs relative to the package), each with its path."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(PACKAGE.glob(pattern)):
            digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
