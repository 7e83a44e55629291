"""The long lists of a large company's report as CSV files next to its summary page (pure: content
in, bytes out). A company above `SUMMARY_FROM` active people gets a summary page that links to
these; smaller ones get the whole single page and no files.

Each file is UTF-8 with a byte-order mark (Excel reads it as UTF-8 then), CRLF line ends, and safe
against formula injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
is prefixed with `'`, so a spreadsheet shows `=HYPERLINK("http://x")` as that text and never
evaluates it (OWASP's advice for CSV injection).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from personio_pipeline.reporting.verification.content import ReportContent

SUMMARY_FROM = 2_000  # companies with more active people than this get a summary page and CSV files
FORMULA_STARTS = frozenset("=+-@\t\r")
BOM = "\ufeff"

# The files, in the page's order: suffix -> what the page calls it.
LISTS = {
    "people": "everyone, with their access or what to fix",
    "managers": "reporting lines: everyone's manager and team size",
    "teams": "every team with its unit and size",
    "roles": "every role with its holders and merged spellings",
    "edits": "everything added in Teammeter",
    "accounts": "existing accounts",
    "changes": "the latest changes",
}


def list_name(stem: str, which: str) -> str:
    """The file name next to the page `stem.html`: `stem.people.csv`."""
    return f"{stem}.{which}.csv"


def list_href(stem: str, which: str) -> str:
    """A relative link to the file (percent-encoded: a stem could hold a space or `#`)."""
    return quote(list_name(stem, which))


def safe_cell(value) -> str:
    """A cell's text, with a leading `'` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """UTF-8 with BOM, CRLF, every cell as `safe_cell` has it."""
    rows = list(rows)
    columns = list(zip(*rows)) if rows else [()] * len(header)
    return columns_to_csv(dict(zip(header, columns)))


def columns_to_csv(columns: dict[str, Sequence]) -> bytes:
    """The same from columns (header -> values), all of one length. Column by column: a column in
    which no cell starts like a formula, nearly every one, is checked by a few substring searches."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in columns])
    writer.writerows(zip(*(_safe_column(column) for column in columns.values())))
    return out.getvalue().encode("utf-8")


_FORMULA_AFTER_NUL = re.compile("\x00[=+\\-@\t\r]")


def _safe_column(column: Sequence) -> Sequence[str]:
    if None in column:
        column = ["" if value is None else value for value in column]
    try:
        joined = "\x00" + "\x00".join(column)
    except TypeError:  # numbers
        column = list(map(str, column))
        joined = "\x00" + "\x00".join(column)
    if _FORMULA_AFTER_NUL.search(joined) is None:
        return column
    return [safe_cell(value) for value in column]


def write_lists(content: ReportContent) -> dict[str, bytes]:
    """suffix (a key of LISTS) -> the CSV file."""
    return {
        "people": _people(content),
        "managers": _managers(content),
        "teams": to_csv(["Unit", "Team", "Members", "Added in Teammeter"],
                        ((unit.name or "", team.name, len(team.members), _yes(team.from_teammeter))
                         for unit in content.units for team in unit.teams)),
        "roles": to_csv(["Role", "People", "Added in Teammeter", "Spellings in Personio merged into it (records)"],
                        ((role.name, role.holders, _yes(role.from_teammeter),
                          ", ".join(f"{spelling} ({count})" for spelling, count in role.variants))
                         for role in content.roles)),
        "edits": to_csv(["What", "Added in Teammeter"], ((edit.kind, edit.what) for edit in content.edits)),
        "accounts": to_csv(["Person", "Personio id", "How"],
                           ((a.name, a.employee_id or "", a.how) for a in content.accounts)),
        "changes": _changes(content),
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


def _people(content: ReportContent) -> bytes:
    """Everyone active once (who can log in, then who cannot), in the page's words."""
    units_of: dict[str, str] = {}
    for unit in content.units:
        if unit.name is None:
            continue
        for member in _chain(*(team.members for team in unit.teams), unit.without_team):
            found = units_of.get(member.employee_id)
            if found is None:
                units_of[member.employee_id] = unit.name
            elif unit.name not in found.split(", "):
                units_of[member.employee_id] = found + ", " + unit.name
    roles = {p.employee_id: p.roles for p in content.org_chart.people.values()}
    kept = {k.employee_id for k in content.kept_on_unknown_status}
    invitees, blocked = content.invitees, content.blocked
    everyone = [*invitees, *blocked]
    ids = [p.employee_id for p in everyone]
    blanks = [""] * len(blocked)
    columns = {
        "HR id": ids,
        "Name": [p.name for p in everyone],
        "Email": [p.email for p in invitees] + [p.email for p in blocked],
        "Unit": [units_of.get(i, "") for i in ids],
        "Teams": [p.teams for p in invitees] + [p.teams for p in blocked],
        "Roles": [roles.get(i, "") for i in ids],
        "Personio status": ["not active, kept" if i in kept else "active" for i in ids],
        "Can log in": ["yes"] * len(invitees) + ["no"] * len(blocked),
        "Invitation": [p.status for p in invitees] + blanks,
        "Invited on": [p.invited_on for p in invitees] + blanks,
        "Note": [p.note for p in invitees] + blanks,
        "Reason": [""] * len(invitees) + [p.reason for p in blocked],
        "Details": [""] * len(invitees) + [p.detail for p in blocked],
        "What to fix in Personio": [""] * len(invitees) + [p.fix for p in blocked],
    }
    return columns_to_csv(columns)


def _chain(*parts):
    for part in parts:
        yield from part


def _managers(content: ReportContent) -> bytes:
    """Everyone in the manager tree (walked from the top managers, each once) with their manager,
    then the people outside it with why."""
    chart = content.org_chart
    sizes = chart.sizes()
    reports = chart.reports
    manager_of = {report: manager for manager, below in reports.items() for report in below}
    order, levels = [], []
    stack = [(root, 1) for root in reversed(chart.roots)]
    while stack:
        person, level = stack.pop()
        order.append(person)
        levels.append(level)
        below = reports.get(person)
        if below:
            stack.extend((report, level + 1) for report in reversed(below))
    placed = set(order)
    outside = dict(chart.outside)
    apart = [person for person, _ in chart.outside if person not in placed]
    everyone = order + apart
    names = {person: who.name for person, who in chart.people.items()}
    managers = [manager_of.get(person, "") for person in everyone]
    columns = {
        "HR id": everyone,
        "Name": [names[person] for person in everyone],
        "Level": levels + [""] * len(apart),
        "Manager HR id": managers,
        "Manager": [names.get(manager, "") for manager in managers],
        "Also reports to": [chart.also.get(person, "") for person in everyone],
        "Line added in Teammeter": ["yes" if person in chart.from_teammeter else "" for person in everyone],
        "Direct reports": [len(reports.get(person, ())) for person in everyone],
        "People below": [sizes.get(person, 0) for person in everyone],
        "Outside the tree because": [outside.get(person, "") for person in everyone],
    }
    return columns_to_csv(columns)


def _changes(content: ReportContent) -> bytes:
    changes = content.changes
    rows: list[tuple[str, str, str]] = []
    if changes is not None:
        rows += [("hire or return", name, teams) for name, teams in changes.hires]
        rows += [("leaver", name, "") for name in changes.leavers]
        rows += [("move", name, what) for name, what in changes.moves]
        rows += [("new manager", name, f"now reports to {manager}") for name, manager in changes.new_managers]
    return to_csv(["Change", "Person", "Details"], rows)


__all__ = ["LISTS", "SUMMARY_FROM", "list_href", "list_name", "safe_cell", "to_csv",
           "write_lists"]
