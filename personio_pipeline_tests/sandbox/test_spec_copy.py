"""The Apideck specs shipped with the package are unchanged copies of the shared ones."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from personio_pipeline.sandbox.contract import SPEC_DIR

CHECKOUT = Path(__file__).resolve().parents[2]


def _shared_dir() -> Path:
    """`../shared/apideck` beside this checkout or, for a clone (CI clones main afresh), beside
    the local repository it was cloned from."""
    candidates = [CHECKOUT.parent / "shared" / "apideck"]
    origin = subprocess.run(["git", "-C", str(CHECKOUT), "remote", "get-url", "origin"],
                            capture_output=True, text=True, check=False).stdout.strip()
    if origin and "://" not in origin and not origin.startswith("git@"):
        candidates.append(Path(origin.removeprefix("file:")).resolve().parent / "shared" / "apideck")
    return next((path for path in candidates if path.is_dir()), candidates[0])


SHARED_DIR = _shared_dir()
COPIED = ("hris.yml", "vault.yml", "webhook.yml", "LICENSE")  # README.md is our own note


@pytest.mark.parametrize("name", COPIED)
def test_copy_equals_the_shared_file(name):
    if not SHARED_DIR.is_dir():
        message = f"no shared Apideck specs at {SHARED_DIR} to compare the shipped copy with"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    assert (SPEC_DIR / name).read_bytes() == (SHARED_DIR / name).read_bytes(), (
        f"personio_pipeline/sandbox/spec/{name} differs from {SHARED_DIR / name}; copy it again"
    )


def test_every_shipped_spec_is_checked():
    assert {path.name for path in SPEC_DIR.glob("*.yml")} <= set(COPIED)
