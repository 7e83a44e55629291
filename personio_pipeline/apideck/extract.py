"""A company's raw Apideck listing on disk, as JSON Lines.

Pages are appended to a spool file while the listing runs and read back in chunks, so a
100,000-person company never sits in memory as 100,000 Python dicts (~300 MB). The spool only
becomes the stored extract once the whole listing succeeded: a failed listing leaves the previous
extract untouched. The SHA-256 of the bytes identifies the extract (same data, same digest).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

SPOOL_SUFFIX = ".jsonl.part"
READ_CHUNK_LINES = 2_000  # ~1 MB of JSON per orjson call: one call per chunk, not per line


@dataclass(frozen=True)
class RawExtract:
    """A JSON Lines file of employee records, one JSON object per line."""

    path: Path
    known_rows: int | None = None
    known_sha256: str | None = None

    @cached_property
    def rows(self) -> int:
        if self.known_rows is not None:
            return self.known_rows
        with self.path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())

    @cached_property
    def sha256(self) -> str:
        if self.known_sha256 is not None:
            return self.known_sha256
        digest = hashlib.sha256()
        with self.path.open("rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def iter_records(self, chunk_lines: int = READ_CHUNK_LINES) -> Iterator[Any]:
        """The records in file order, parsed a chunk of lines at a time."""
        with self.path.open("rb") as lines:
            while chunk := list(islice(lines, chunk_lines)):
                body = b",".join(stripped for line in chunk if (stripped := line.strip()))
                if body:
                    yield from orjson.loads(b"[" + body + b"]")

    def records(self) -> list[Any]:
        return list(self.iter_records())

    def move_to(self, destination: Path) -> RawExtract:
        """Put the file at `destination` atomically (a reader sees the old or the new extract,
        never half of one), also across file systems."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = destination.with_name(destination.name + ".tmp")
        shutil.move(self.path, staging)
        os.replace(staging, destination)
        return RawExtract(destination, self.rows, self.sha256)


class RawExtractSpool:
    """Collects pages into a temporary file; `finish()` returns the extract, and leaving the
    `with` block without finishing (an exception) deletes the file."""

    def __init__(self, directory: str | Path | None = None):
        handle, name = tempfile.mkstemp(prefix="personio-raw-", suffix=SPOOL_SUFFIX, dir=directory)
        self._file = os.fdopen(handle, "wb")
        self._path = Path(name)
        self._digest = hashlib.sha256()
        self._rows = 0
        self._extract: RawExtract | None = None

    def write(self, records: Iterable[Any]) -> None:
        data = b"".join(orjson.dumps(record) + b"\n" for record in records)
        if data:
            self._digest.update(data)
            self._file.write(data)
            self._rows += data.count(b"\n")

    def finish(self) -> RawExtract:
        self._file.close()
        self._extract = RawExtract(self._path, self._rows, self._digest.hexdigest())
        return self._extract

    def __enter__(self) -> RawExtractSpool:
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is not None or self._extract is None:
            self._file.close()
            self._path.unlink(missing_ok=True)


def write_extract(path: Path, records: Iterable[Any]) -> RawExtract:
    """Store records as an extract at `path` (tests and tools; the asset spools page by page)."""
    with RawExtractSpool(path.parent if path.parent.exists() else None) as spool:
        spool.write(records)
        return spool.finish().move_to(path)
