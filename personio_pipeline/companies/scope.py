"""Which of a company's people Teammeter gets: everyone, or a rollout's departments and teams.

Rollouts often start with a pilot (Engineering first). A company's scope is a set of include
lists, written `department=Engineering,Sales;team=Platform` (`tenants set ID --scope …`): a person
is in scope when their department *or* their team is listed (names compared case- and
whitespace-insensitively); an empty scope means everyone. People outside scope are counted, not
stored; a person who leaves the scope is deactivated like a leaver (and counted by the safeguard);
a manager outside scope is not invented: the reporting line is left out and counted. Pure.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import pandas as pd

from personio_pipeline.org.employees import name_key

DIMENSIONS = {"department": "unit_name", "team": "team_name"}


class Scope(NamedTuple):
    """Include lists by dimension (department, team), as the operator wrote the names."""

    lists: dict[str, tuple[str, ...]]

    @property
    def everyone(self) -> bool:
        return not any(self.lists.values())

    def text(self) -> str:
        return ";".join(f"{dimension}={','.join(names)}" for dimension, names in self.lists.items() if names)

    def stored(self) -> str | None:
        return None if self.everyone else json.dumps(self.lists, ensure_ascii=False, sort_keys=True)

    def in_scope(self, employees: pd.DataFrame) -> pd.Series:
        """True for the people of `employees` (org/employees columns) inside the scope."""
        if self.everyone:
            return pd.Series(True, index=employees.index)
        inside = pd.Series(False, index=employees.index)
        for dimension, names in self.lists.items():
            wanted = {name_key(name) for name in names}
            column = employees[DIMENSIONS[dimension]]
            inside |= column.map(lambda value: isinstance(value, str) and name_key(value) in wanted).astype(bool)
        return inside


EVERYONE = Scope({})


def parse(text: str) -> Scope:
    """`department=Engineering,Sales;team=Platform` -> Scope; '' -> everyone. ValueError names the
    part that is wrong and what is allowed."""
    lists: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (piece.strip() for piece in (text or "").split(";"))):
        dimension, equals, names = part.partition("=")
        dimension = dimension.strip().lower()
        if not equals or dimension not in DIMENSIONS:
            raise ValueError(f"'{part}' is not a scope part: write department=NAME,NAME or team=NAME,NAME "
                             "(parts separated by ';'), or '' for everyone.")
        listed = tuple(name.strip() for name in names.split(",") if name.strip())
        if not listed:
            raise ValueError(f"'{part}' lists no {dimension}.")
        lists[dimension] = lists.get(dimension, ()) + listed
    return Scope(lists)


def load(stored: str | None) -> Scope:
    """The scope as `organisations.scope` keeps it (JSON, NULL for everyone)."""
    return EVERYONE if not stored else Scope({k: tuple(v) for k, v in json.loads(stored).items()})
