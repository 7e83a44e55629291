"""When the org model need not be rebuilt: the listing is byte for byte the one the stored
tables were built from, the company's date is the same (statuses depend on it) and so is the
code that builds them (`model_key`).

Next to the stored employees table (`<data>/org/employees/<company>.model.json`) the step
remembers the key it built for, each table's metadata and each check's verdict; a kept model
yields them again, so the run shows the same materializations and check results as the one that
built it. The record is removed before a rebuild writes anything and written after its last
table, so a failed rebuild never leaves a record that vouches for half-written tables.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow
from dagster._serdes import deserialize_value, serialize_value

from personio_pipeline.common.source_digest import source_digest
from personio_pipeline.defs.shared.check_results import to_result
from personio_pipeline.defs.shared.keys import ORG_EMPLOYEES, org
from personio_pipeline.org.checks import CheckOutcome

CODE = ("org/*.py", "defs/org/*.py", "apideck/extract.py", "common/*.py")  # what turns a listing into the model


def model_key(raw_sha256: str, today: date) -> str:
    """SHA-256 of the listing, the company's date and the model's code."""
    return hashlib.sha256(f"{_code_digest()}|{raw_sha256}|{today.isoformat()}".encode()).hexdigest()


def _code_digest() -> str:
    return source_digest(*CODE) + f"|pandas {pd.__version__}|pyarrow {pyarrow.__version__}"


@dataclass(frozen=True)
class KeptCheck:
    name: str
    asset_key: dg.AssetKey
    outcome: CheckOutcome


@dataclass(frozen=True)
class Kept:
    outputs: dict[str, dict[str, Any]]  # output name -> its metadata
    checks: list[KeptCheck]


class Recorder:
    """Passes a build's results on, remembering each table's metadata and each check's verdict."""

    def __init__(self) -> None:
        self.outputs: dict[str, dict[str, Any]] = {}
        self.checks: list[KeptCheck] = []

    def record(self, result: dg.Output | tuple[str, dg.AssetKey, CheckOutcome]):
        if isinstance(result, dg.Output):
            self.outputs[result.output_name] = dict(result.metadata)
            return dg.Output(result.value, output_name=result.output_name, metadata={**result.metadata, "rebuilt": True})
        name, asset_key, outcome = result
        self.checks.append(KeptCheck(name, asset_key, outcome))
        return to_result(name, outcome, asset_key)


class StoredModel:
    """The company's stored model tables as the IO manager keeps them, and the record of what
    they were built from. An IO manager that cannot say where it keeps them: always rebuilt."""

    def __init__(self, io_manager: Any, partition: str, outputs: list[str]):
        self._io = io_manager if hasattr(io_manager, "stored_file") else None
        self._partition = partition
        self._outputs = outputs

    def _file(self, name: str, suffix: str) -> Path:
        key = ORG_EMPLOYEES if name == "employees" else org(name)
        return self._io.stored_file(key, self._partition, suffix)

    @property
    def _record(self) -> Path:
        return self._file("employees", ".model.json")

    def _complete_record(self) -> dict | None:
        """The record of what the stored model was built from, when it and all its tables are there."""
        if self._io is None:
            return None
        try:
            record = json.loads(self._record.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        present = all(self._file(name, ".parquet").exists() for name in self._outputs)
        return record if present else None

    def kept_for(self, key: str) -> Kept | None:
        """What the stored model yields again when it was built for `key` and all its tables
        are there; None when it must be built."""
        record = self._complete_record()
        if record is None or record.get("key") != key or set(record.get("outputs", {})) != set(self._outputs):
            return None
        outputs = {name: {**deserialize_value(text, dict), "path": dg.MetadataValue.path(str(self._file(name, ".parquet")))}
                   for name, text in record["outputs"].items()}
        checks = [KeptCheck(c["name"], dg.AssetKey(c["asset_key"]), CheckOutcome(**c["outcome"]))
                  for c in record["checks"]]
        return Kept(outputs, checks)

    def recorded_key(self) -> str | None:
        """The key the stored model was built for, when its record and tables are there."""
        record = self._complete_record()
        return None if record is None else record.get("key")

    def load(self, name: str) -> pd.DataFrame | None:
        """A stored model table (None when the IO manager cannot say where, or it is not there)."""
        if self._io is None:
            return None
        path = self._file(name, ".parquet")
        return pd.read_parquet(path) if path.exists() else None

    def forget(self) -> None:
        """Before a rebuild writes its first table."""
        if self._io is not None:
            self._record.unlink(missing_ok=True)

    def remember(self, key: str, built: Recorder) -> None:
        """After a rebuild wrote its last table."""
        if self._io is None:
            return
        record = {
            "key": key,
            "outputs": {name: serialize_value(metadata) for name, metadata in built.outputs.items()},
            "checks": [{"name": c.name, "asset_key": list(c.asset_key.path), "outcome": dataclasses.asdict(c.outcome)}
                       for c in built.checks],
        }
        path = self._record
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, path)
