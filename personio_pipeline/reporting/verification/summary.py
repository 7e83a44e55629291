"""The summary page of a large company's report (pure: content in, text out), for companies above
`lists.SUMMARY_FROM` active people, whose single page would be tens of megabytes.

The same head as the single page (the same Content-Security-Policy, no script, the same style),
the same header and sections, the same escaping; every long list shows its first `FIRST` rows and
links to the CSV file next to the page that holds all of it (`lists.py`). The only links besides
the page's own sections are those relative links to its CSV files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from personio_pipeline.reporting.verification.content import (
    INACTIVE_MANAGER,
    INVITATION_STATUSES,
    UNKNOWN_MANAGER,
    ReportContent,
)
from personio_pipeline.reporting.verification.lists import LISTS, list_href, list_name
from personio_pipeline.reporting.verification.page import (
    TM,
    _accounts,
    _blocked_row,
    _changes,
    _e,
    _edits,
    _header,
    _n,
    _org_label,
    _roles,
    _section,
    _status_and_scope,
    _team_sizes,
    page_foot,
    page_head,
)

FIRST = 100  # rows of a long list shown on the summary page


def render_summary(content: ReportContent, stem: str, sizes: dict[str, int] | None = None) -> str:
    """The summary page; its CSV files are `stem.<list>.csv` next to it (`sizes`: their bytes)."""
    parts = page_head(content)
    parts += _header(content)
    parts += _downloads(content, stem, sizes or {})
    parts += _people(content, stem)
    parts += _units(content, stem)
    parts += _first_of(_team_sizes(content.team_sizes[:FIRST]), len(content.team_sizes), "teams", stem,
                       f"Team sizes <small>{_n(len(content.team_sizes), 'team')}</small>")
    parts += _org_chart(content, stem)
    roles = content.roles
    parts += _first_of(_roles(replace(content, roles=roles[:FIRST])), len(roles), "roles", stem,
                       f"Roles <small>{_n(len(roles), 'role')}, {sum(1 for r in roles if r.variants)} merged from "
                       "several spellings</small>")
    parts += _first_of(_edits(replace(content, edits=content.edits[:FIRST])), len(content.edits), "edits", stem,
                       f"Added in Teammeter <small>{len(content.edits)}</small>")
    parts += _first_of(_accounts(replace(content, accounts=_first_accounts(content))), len(content.accounts),
                       "accounts", stem, _accounts_title(content))
    kept = content.kept_on_unknown_status
    parts += _first_of(_status_and_scope(replace(content, kept_on_unknown_status=kept[:FIRST])), len(kept),
                       "people", stem, _status_title(content))
    parts += _first_of(_changes(_first_changes(content)), _changed(content), "changes", stem, _changes_title(content))
    parts.append(page_foot(content))
    return "".join(parts)


def _link(stem: str, which: str) -> str:
    return f'<a href="{_e(list_href(stem, which))}" download>{_e(list_name(stem, which))}</a>'


def _downloads(content: ReportContent, stem: str, sizes: dict[str, int]) -> list[str]:
    items = []
    for which, what in LISTS.items():
        size = f" <small>{sizes[which] / 1e6:.1f} MB</small>" if sizes.get(which, 0) >= 100_000 else ""
        items.append(f"<li>{_link(stem, which)}: {_e(what)}{size}</li>\n")
    return [f'<section id="lists"><h2>The full lists</h2>\n<p>With {content.header.people} people, this page '
            f"summarises: each long list shows its first {FIRST} rows. The full lists are CSV files next to this page "
            "(keep them in the same folder; they open in any spreadsheet):</p>\n<ul>\n", *items, "</ul></section>\n"]


def _more(shown: int, total: int, stem: str, which: str) -> str:
    if total <= shown:
        return ""
    return f'<p class="sub">The first {shown} of {total}; all of them in {_link(stem, which)}.</p>\n'


def _first_of(section: list[str], total: int, which: str, stem: str, title: str) -> list[str]:
    """A section of the single page, drawn from the first rows of its list, retitled with the whole
    list's counts and a link to its CSV file when rows were left out."""
    head, *body, end = section
    anchor = head.split('"')[1]
    more = _more(min(total, FIRST), total, stem, which)
    return [f'<section id="{anchor}"><details><summary><h2>{title}</h2></summary>\n', more, *body, end]


def _first_accounts(content: ReportContent):
    linked = [a for a in content.accounts if a.employee_id is not None][:FIRST]
    outside = [a for a in content.accounts if a.employee_id is None][:FIRST]
    return tuple(linked + outside)


def _accounts_title(content: ReportContent) -> str:
    linked = sum(1 for a in content.accounts if a.employee_id is not None)
    return (f"Existing accounts <small>{linked} linked, {len(content.accounts) - linked} outside Personio"
            "</small>")


def _status_title(content: ReportContent) -> str:
    scope = content.scope
    return f"Status and scope <small>{len(content.kept_on_unknown_status)} kept on an unknown status" + (
        f", {scope.people_outside} outside the scope" if scope and scope.people_outside is not None else "") + "</small>"


def _first_changes(content: ReportContent):
    changes = content.changes
    if changes is None:
        return None
    return replace(changes, hires=changes.hires[:FIRST], leavers=changes.leavers[:FIRST], moves=changes.moves[:FIRST],
                   new_managers=changes.new_managers[:FIRST])


def _changed(content: ReportContent) -> int:
    c = content.changes
    return 0 if c is None else len(c.hires) + len(c.leavers) + len(c.moves) + len(c.new_managers)


def _changes_title(content: ReportContent) -> str:
    if content.changes is None:
        return "Latest changes"
    return f"Latest changes <small>{_n(_changed(content), 'person', 'people')}</small>"


def _people(content: ReportContent, stem: str) -> list[str]:
    invitees, blocked = content.invitees, content.blocked
    statuses = Counter(p.status for p in invitees)
    body = [f"<h3>Can log in: {len(invitees)}</h3>\n"
            '<table><thead><tr><th>Invitation<th class="n">People<th>What it means</thead><tbody>\n']
    body += [f'<tr><td>{_e(status)}<td class="n">{statuses[status]}<td>{_e(meaning)}\n'
             for status, meaning in INVITATION_STATUSES.items() if statuses[status]]
    body.append(f"</tbody></table>\n<p>Everyone who can log in, with their address, teams and invitation: "
                f"{_link(stem, 'people')}.</p>\n")
    by_reason: dict[str, list] = {}
    for p in blocked:
        by_reason.setdefault(p.reason, []).append(p)
    body.append(f"<h3>Cannot log in yet: {len(blocked)}</h3>\n")
    if not blocked:
        body.append("<p>Everyone can log in.</p>\n")
    for reason, people in sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[0])):
        # What to fix, once per reason, then the first people it applies to.
        body.append(f"<details><summary><b>{_e(reason)}: {len(people)}</b> <small>{_e(people[0].fix)}</small>"
                    f"</summary>\n{_more(min(len(people), FIRST), len(people), stem, 'people')}"
                    "<table><thead><tr><th>Name<th>HR id<th>Reason<th>Details<th>What to fix in Personio"
                    "</thead><tbody>\n")
        body += [_blocked_row(p) for p in people[:FIRST]]
        body.append("</tbody></table></details>\n")
    title = f"People and access <small>{_n(len(invitees) + len(blocked), 'person', 'people')}</small>"
    return _section("people", title, body)


def _units(content: ReportContent, stem: str) -> list[str]:
    units = content.units
    rows = []
    for unit in units[:FIRST]:
        people = len({m.employee_id for t in unit.teams for m in t.members} | {m.employee_id for m in unit.without_team})
        name = ("<i>Teams in no single unit, people in no unit</i>" if unit.name is None
                else _e(unit.name) + (TM if unit.from_teammeter else ""))
        rows.append(f'<tr><td>{name}<td class="n">{len(unit.teams)}<td class="n">{people}'
                    f'<td class="n">{len(unit.without_team)}\n')
    body = [_more(min(len(units), FIRST), len(units), stem, "teams"),
            '<table><thead><tr><th>Unit<th class="n">Teams<th class="n">People<th class="n">Not in a team'
            "</thead><tbody>\n", *rows, "</tbody></table>\n",
            f"<p>Every team with its unit and size: {_link(stem, 'teams')}; everyone's unit and teams: "
            f"{_link(stem, 'people')}.</p>\n"] if units else ["<p>No units or teams yet.</p>\n"]
    return _section("units", f"Units and teams <small>{_n(len(units), 'group')}</small>", body)


def _outside_kind(why: str) -> str:
    for template in (UNKNOWN_MANAGER, INACTIVE_MANAGER):
        if why.startswith(template.split("{")[0]) and why.endswith(template.split("}")[-1]):
            return template.split("{")[0].strip() + " …" + template.split("}")[-1]
    return why  # NO_MANAGER, MANAGER_CYCLE


def _org_chart(content: ReportContent, stem: str) -> list[str]:
    """The top managers and their direct reports (the single page opens as much), the first
    `FIRST` of each; who sits outside the tree, counted by why, the first `FIRST` named."""
    chart = content.org_chart
    sizes = chart.sizes()
    body = ['<ul class="tree">\n']
    for root in chart.roots[:FIRST]:
        reports = chart.reports.get(root, ())
        body.append(f'<li data-id="{_e(root)}"><details open><summary>{_org_label(chart, root)} <small>'
                    f"{len(reports)} direct, {sizes[root]} in total</small></summary><ul>\n")
        for report in reports[:FIRST]:
            below = chart.reports.get(report, ())
            count = f" <small>{len(below)} direct, {sizes[report]} in total</small>" if below else ""
            body.append(f'<li data-id="{_e(report)}">{_org_label(chart, report)}{count}</li>\n')
        if len(reports) > FIRST:
            body.append(f"<li><small>and {len(reports) - FIRST} more</small></li>\n")
        body.append("</ul></details></li>\n")
    body.append("</ul>\n")
    body.append(_more(min(len(chart.roots), FIRST), len(chart.roots), stem, "managers"))
    body.append(f"<p>Everyone's manager, level and team size: {_link(stem, 'managers')}.</p>\n")
    if not chart.roots:
        body.append("<p>No manager lines yet.</p>\n")
    if chart.outside:
        kinds = Counter(_outside_kind(why) for _, why in chart.outside)
        body.append(f'<h3>Outside the tree: {len(chart.outside)}</h3>\n<p class="sub">People without a known, '
                    "active manager in Teammeter (top managers are in the tree as well).</p>\n<ul>"
                    + "".join(f"<li>{_e(kind)}: {count}</li>" for kind, count in kinds.most_common()) + "</ul>\n"
                    + _more(min(len(chart.outside), FIRST), len(chart.outside), stem, "managers")
                    + "<table><thead><tr><th>Name<th>HR id<th>Why</thead><tbody>\n")
        body += [f"<tr><td>{_e(chart.people[p].name)}<td>{_e(p)}<td>{_e(why)}\n" for p, why in chart.outside[:FIRST]]
        body.append("</tbody></table>\n")
    title = f"Managers <small>{_n(len(chart.roots), 'top manager')}, {len(chart.outside)} outside the tree</small>"
    return _section("managers", title, body)
