"""How the project prints tables and lists and orders employee ids, in one place.

Plain-text tables (CLI output) go through `tabulate`; markdown cells (Dagster metadata) are
escaped by `markdown_cell`. No Dagster, no database: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tabulate import tabulate


def natural_order(employee_id: str) -> tuple:
    """Sort key: numeric ids in numeric order (2 before 10), others after them alphabetically."""
    return (0, int(employee_id), "") if employee_id.isascii() and employee_id.isdigit() else (1, 0, employee_id)


def listed(values: Iterable[Any], limit: int = 20, separator: str = ", ") -> str:
    """The first `limit` values for a message, saying how many more there are:
    `a, b, c … and 7 more`."""
    values = [str(value) for value in values]
    more = f" … and {len(values) - limit} more" if len(values) > limit else ""
    return separator.join(values[:limit]) + more


def cell(value: Any, limit: int | None = None) -> str:
    """A value as table text: None blank, booleans yes/no, cut to `limit` characters with '…'."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def markdown_cell(value: Any) -> str:
    """Text safe inside a markdown table cell: pipes escaped, line breaks flattened."""
    return "" if value is None else " ".join(str(value).split()).replace("|", "\\|")


def format_table(rows: Iterable[Sequence[Any]], headers: Sequence[str], *, right: Sequence[str] = ()) -> str:
    """A plain-text table: header underlined, columns two spaces apart, left-aligned except the
    `right` ones, no trailing blanks. Cells are shown as given (`cell` them first)."""
    align = ["right" if header in right else "left" for header in headers]
    text = tabulate(
        [list(row) for row in rows], headers=list(headers), tablefmt="simple", colalign=align, disable_numparse=True,
        preserve_whitespace=True,
    )
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
