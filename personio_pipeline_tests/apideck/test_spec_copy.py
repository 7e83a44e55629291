"""The Apideck specs shipped with the package are unchanged copies of the shared ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from personio_pipeline.apideck.sandbox.contract import SPEC_DIR

SHARED_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "apideck"
COPIED = ("hris.yml", "vault.yml", "webhook.yml", "LICENSE")  # README.md is our own note


@pytest.mark.parametrize("name", COPIED)
def test_copy_equals_the_shared_file(name):
    if not SHARED_DIR.is_dir():
        message = f"no shared Apideck specs at {SHARED_DIR} to compare the shipped copy with"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    assert (SPEC_DIR / name).read_bytes() == (SHARED_DIR / name).read_bytes(), (
        f"personio_pipeline/apideck/spec/{name} differs from {SHARED_DIR / name}; copy it again"
    )


def test_every_shipped_spec_is_checked():
    assert {path.name for path in SPEC_DIR.glob("*.yml")} <= set(COPIED)
