"""A company's raw Apideck listing on disk, as JSON Lines.

Pages are appended to a spool file while the listing runs and read back in chunks, so a
100,000-person company never sits in memory as 100,000 Python dicts (peak memory per
sync: the README's Performance section). The spool only
becomes the stored extract once the whole listing succeeded: a failed listing leaves the previous
extract untouched. The SHA-256 of the bytes identifies the extract (same data, same digest).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from pyarrow import json as pa_json

SPOOL_PREFIX, SPOOL_SUFFIX = "personio-raw-", ".jsonl.part"
STALE_SPOOL_SECONDS = 24 * 3600  # left behind by a killed process: swept by the next listing
READ_CHUNK_BYTES = 1 << 20  # ~1 MB of JSON (about 1,000 records) per orjson call
ARROW_BLOCK_BYTES = 8 << 20  # Arrow's JSON reader: a block must hold whole lines; a record is ~1 KB


@dataclass
class RawExtract:
    """A JSON Lines file of employee records, one JSON object per line. `move_to` moves the file
    and this handle with it."""

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

    def iter_records(self, chunk_bytes: int = READ_CHUNK_BYTES) -> Iterator[Any]:
        """The records in file order, parsed a block of whole lines at a time: the block's line
        breaks become commas of one JSON array (one orjson call, no Python work per line)."""
        with self.path.open("rb") as data:
            rest = b""
            while block := data.read(chunk_bytes):
                block = rest + block
                cut = block.rfind(b"\n") + 1
                yield from _parse_lines(block[:cut])
                rest = block[cut:]
            yield from _parse_lines(rest)

    def read_table(self, schema: pa.Schema) -> pa.Table | None:
        """The records' attributes in `schema` as one Arrow table (other attributes skipped
        unparsed), or None when Arrow cannot read the file with those types: a value of another
        JSON type, a line that is not an object, no records. The caller then reads the records
        one by one (`iter_records`), which accepts all of that."""
        try:
            return pa_json.read_json(
                self.path,
                read_options=pa_json.ReadOptions(use_threads=False, block_size=ARROW_BLOCK_BYTES),
                parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
            )
        except pa.ArrowInvalid:
            return None

    def records(self) -> list[Any]:
        return list(self.iter_records())

    def move_to(self, destination: Path) -> RawExtract:
        """Put the file at `destination` atomically (a reader sees the old or the new extract,
        never half of one), also across file systems; two movers never share a staging name."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        rows, sha256 = self.rows, self.sha256
        staging = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.tmp")
        try:
            shutil.move(self.path, staging)
            os.replace(staging, destination)
        finally:
            staging.unlink(missing_ok=True)
        self.path, self.known_rows, self.known_sha256 = destination, rows, sha256
        return self


def _parse_lines(block: bytes) -> list[Any]:
    """The JSON values of a block of whole lines; blank lines are skipped."""
    body = block.strip()
    if not body:
        return []
    try:
        return orjson.loads(b"[" + body.replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError:  # blank lines inside the block (or a broken line: raised below)
        return orjson.loads(b"[" + b",".join(line for line in body.split(b"\n") if line.strip()) + b"]")


class RawExtractSpool:
    """Collects pages into a temporary file in `directory` (best on the file system of the stored
    extracts, so that storing it is a rename); `finish()` returns the extract, and leaving the
    `with` block without finishing (an exception) deletes the file. Spool files older than a day
    in the directory (a killed process) are removed on the way."""

    def __init__(self, directory: str | Path | None = None, *, company: str | None = None):
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            sweep_stale_spools(Path(directory))
        prefix = SPOOL_PREFIX if company is None else spool_prefix(company)
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=SPOOL_SUFFIX, dir=directory)
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


def spool_prefix(company: str) -> str:
    """Spool names of one company's listings (found and deleted when it is removed): a digest of
    its id, as ids may be up to 255 characters and file names may not be longer."""
    return f"{SPOOL_PREFIX}{hashlib.sha256(company.encode()).hexdigest()[:16]}~"


def sweep_stale_spools(directory: Path, max_age_seconds: float = STALE_SPOOL_SECONDS) -> int:
    """Delete spool files older than `max_age_seconds` (they hold personal data); how many."""
    cutoff, removed = time.time() - max_age_seconds, 0
    for path in directory.glob(f"{SPOOL_PREFIX}*{SPOOL_SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed
