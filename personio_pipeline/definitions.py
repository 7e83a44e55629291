"""The code location: every definition in `defs/`, found by Dagster's defs-folder loader.

Each module under `personio_pipeline/defs/` is imported and what it defines at module scope
(assets, checks, jobs, schedules, sensors) is collected; `@dg.definitions` functions add what is
built from the environment each time (`defs/shared/resources.py`: resources; `defs/shared/
execution.py`: executor and loggers). `dg check defs` / `dg list defs` read the same folder
through `[tool.dg]` in pyproject.toml.

`dg.load_from_defs_folder` finds the folder through pyproject.toml, which an installed wheel
(`pip install .`, the container image) does not ship; the tree is therefore built from the
package itself, the same loader without the lookup.
"""

import os
import warnings
from pathlib import Path

import dagster as dg

import personio_pipeline.defs

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Dagster's own defs-folder loader calls its module loaders, which are marked preview: a warning
# about Dagster's internals on every CLI call and run would only be noise.
warnings.filterwarnings("ignore", r"Function `load_definitions_from_modules?` is currently in preview", dg.PreviewWarning)


def build_defs() -> dg.Definitions:
    """The definitions with resources read from the environment now (the CLI calls this per
    command, so a changed environment is honoured within one process)."""
    tree = dg.ComponentTree.from_module(defs_module=personio_pipeline.defs, project_root=PROJECT_ROOT)
    return tree.build_defs()


_environment_of_defs = dict(os.environ)
defs = build_defs()


def current_defs() -> dg.Definitions:
    """`defs`, built again only when the environment changed since it was built (the demo points
    Apideck at its sandbox first; tests set their own): a run started from the CLI does not pay
    for the definitions twice (~0.3-0.7 s)."""
    global defs, _environment_of_defs
    if os.environ != _environment_of_defs:
        _environment_of_defs = dict(os.environ)
        defs = build_defs()
    return defs
