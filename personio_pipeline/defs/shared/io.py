"""Stores asset values per company as files a person can open: JSON Lines for raw records,
Parquet for tables. Writes are atomic (temp file + rename) so a crash never leaves half a file.
Raw extracts arrive already spooled to a file and are moved into place, and load as a
`RawExtract` that reads in chunks, so raw records are never all in memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from personio_pipeline.apideck.extract import RawExtract


class LocalFilesIOManager(dg.ConfigurableIOManager):
    """`<base_dir>/<asset key path>/<partition>.jsonl|.parquet`."""

    base_dir: str

    def _stem(self, context: dg.OutputContext | dg.InputContext) -> Path:
        partition = context.partition_key if context.has_partition_key else "__all__"
        return Path(self.base_dir).joinpath(*context.asset_key.path) / partition

    def stored_file(self, asset_key: dg.AssetKey, partition: str, suffix: str) -> Path:
        """Where an asset's partition is kept (`.parquet`, `.jsonl`), or a file beside it."""
        return Path(self.base_dir).joinpath(*asset_key.path) / f"{partition}{suffix}"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        stem = self._stem(context)
        if isinstance(obj, RawExtract):
            path = obj.move_to(stem.with_suffix(".jsonl")).path
        elif isinstance(obj, pd.DataFrame):
            path = stem.with_suffix(".parquet")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".parquet.tmp")
            obj.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        else:
            raise TypeError(f"{context.asset_key.to_user_string()}: cannot store {type(obj).__name__}")
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        stem = self._stem(context)
        parquet, jsonl = stem.with_suffix(".parquet"), stem.with_suffix(".jsonl")
        if parquet.exists():
            return pd.read_parquet(parquet)
        if jsonl.exists():
            return RawExtract(jsonl)
        raise FileNotFoundError(
            f"No stored value for {context.asset_key.to_user_string()} at {stem}.*: "
            "materialise the upstream asset for this company first."
        )
