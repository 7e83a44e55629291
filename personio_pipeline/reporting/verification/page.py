"""The verification report as one self-contained HTML page (pure: content in, text out).

Made to be mailed to a customer's HR admin: no script at all, no external font, stylesheet,
image or link (the Content-Security-Policy forbids loading anything, scripts included), every
value escaped with `html.escape`. Sections open and close with `<details>`, which needs no
script; they start closed, so a 10,000-person page opens fast (a closed section is parsed but not
laid out). Printing prints what is open.

Markup per person is kept small (table cells without end tags, which HTML allows): the people
appear three times (people list, teams, manager tree) and a big company has 100,000 of them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from html import escape

from personio_pipeline.reporting.verification.content import (
    INVITATION_STATUSES,
    INVITED,
    Blocked,
    Changes,
    Invitee,
    OrgChart,
    ReportContent,
    Team,
    Unit,
)

# Nothing is loaded from anywhere: no script (not even inline), styles only from the page itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
OPEN_LEVELS = 2  # the manager tree starts with its top managers and their direct reports open
OPEN_BLOCKED_UP_TO = 100  # the to-fix list starts open when it is this short

STYLE = """
:root{--ink:#1d2330;--mute:#5b6475;--line:#d9dde5;--bar:#3b6fb6;--ok:#1f7a3a;--warn:#9a5b00;--tm:#6b3fa0}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{display:inline;font-size:1.2em;margin:0}h3{font-size:1em;margin:16px 0 6px}
summary h3{display:inline}h4{margin:12px 0 2px}h4+p{margin:0}
.sub,.hint,small{color:var(--mute)}small{font-size:.85em}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
.ok{background:var(--ok)}.warn{background:var(--warn)}
.counts{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.counts div{border:1px solid var(--line);border-radius:8px;padding:8px 16px;min-width:140px}
.counts b{display:block;font-size:1.6em}
nav a{margin-right:14px;color:var(--bar)}
section{border-top:1px solid var(--line);padding:10px 0}
summary{cursor:pointer;padding:4px 0}
details details{margin-left:18px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f3f5f8}
td.n,th.n{text-align:right;white-space:nowrap}
.bars td:last-child{width:55%}
.bar{display:inline-block;height:.8em;background:var(--bar);min-width:2px;-webkit-print-color-adjust:exact;
print-color-adjust:exact}
.names{margin:4px 0 10px 18px}ul.cols{columns:3 220px;margin:4px 0 10px}
ul.tree,ul.tree ul{list-style:none;padding-left:18px;margin:0}
ul.tree li{margin:1px 0}ul.tree details{margin-left:0}
.tm{color:var(--tm);font-style:normal;font-size:.85em}
.tm::before{content:"\\2022 "}
@media print{body{max-width:none;padding:0;font-size:10pt}nav,.hint{display:none}
summary{list-style:none}section{break-inside:auto}tr,li{break-inside:avoid}}
"""

TM = ' <em class="tm">added in Teammeter</em>'


def render(content: ReportContent) -> str:
    """The whole page."""
    parts = page_head(content)
    parts += _header(content)
    parts += _people(content)
    parts += _units(content.units)
    parts += _team_sizes(content.team_sizes)
    parts += _org_chart(content.org_chart)
    parts += _roles(content)
    parts += _edits(content)
    parts += _accounts(content)
    parts += _status_and_scope(content)
    parts += _changes(content.changes)
    parts.append(page_foot(content))
    return "".join(parts)


def page_head(content: ReportContent) -> list[str]:
    """Everything before the header: the Content-Security-Policy (no script), the style, the title."""
    return [
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n',
        '<meta name="referrer" content="no-referrer">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{_e(content.header.company)}: organisation check for Teammeter</title>\n",
        f"<style>{STYLE}</style>\n</head>\n<body>\n",
    ]


def page_foot(content: ReportContent) -> str:
    return (f'<p class="sub">Report made {_when(content.header.generated_at)} by the Teammeter data team.</p>\n'
            "</body>\n</html>\n")


def _n(count: int, word: str, plural: str | None = None) -> str:
    """'1 team', '3 teams'."""
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _e(value) -> str:
    return escape(str(value), quote=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _header(content: ReportContent) -> list[str]:
    h = content.header
    if h.verified_at:
        status = f'<span class="badge ok">verified {_when(h.verified_at)}</span>'
    else:
        status = ('<span class="badge warn">not verified yet</span> '
                  '<span class="sub">nobody is invited until the organisation below is confirmed</span>')
    return [
        f"<header>\n<h1>{_e(h.company)}</h1>\n",
        f'<p class="sub">Your organisation as Teammeter imported it from Personio (company id {_e(h.consumer_id)}). '
        f"Last sync: {_when(h.last_synced_at)}.</p>\n<p>{status}</p>\n",
        '<div class="counts">',
        f"<div><b>{h.people}</b>{'person' if h.people == 1 else 'people'}</div>",
        f"<div><b>{h.with_access}</b>with access</div>",
        f"<div><b>{h.without_access}</b>without access</div>",
        "</div>\n</header>\n",
        '<nav><a href="#people">People and access</a><a href="#units">Units and teams</a>'
        '<a href="#sizes">Team sizes</a><a href="#managers">Managers</a><a href="#roles">Roles</a>'
        '<a href="#edits">Added in Teammeter</a><a href="#accounts">Existing accounts</a>'
        '<a href="#status">Status and scope</a><a href="#changes">Changes</a></nav>\n',
        '<p class="hint">Click a heading to open it. Printing prints the sections that are open. '
        "Anything wrong? Correct it in Personio: the next sync brings it over.</p>\n",
    ]


def _section(anchor: str, title: str, body: list[str]) -> list[str]:
    """A top-level section, closed as the page opens."""
    return [f'<section id="{anchor}"><details><summary><h2>{title}</h2></summary>\n', *body,
            "</details></section>\n"]


def _people(content: ReportContent) -> list[str]:
    invitees, blocked = content.invitees, content.blocked
    groups = {status: [p for p in invitees if p.status == status] for status in INVITATION_STATUSES}
    tally = "; ".join(f"{status}: {len(people)}" for status, people in groups.items() if people)
    body = [f"<details><summary><h3>Can log in: {len(invitees)}</h3>"
            f"{' <small>(' + _e(tally) + ')</small>' if tally else ''}</summary>\n"]
    for status, people in groups.items():
        if not people:
            continue
        # One table per invitation status: the status is said once, not on every row.
        dated = status == INVITED
        body.append(f'<h4>{_e(status)}: {len(people)}</h4>\n<p class="sub">{_e(INVITATION_STATUSES[status])}</p>\n'
                    f"<table><thead><tr><th>Name<th>HR id<th>Email<th>Teams{'<th>Invited on' if dated else ''}"
                    "</thead><tbody>\n")
        body += [_invitee_row(p, dated) for p in people]
        body.append("</tbody></table>\n")
    body.append("</details>\n")
    reasons = Counter(p.reason for p in blocked)
    summary = "; ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
    open_ = " open" if len(blocked) <= OPEN_BLOCKED_UP_TO else ""
    body.append(f"<details{open_}><summary><h3>Cannot log in yet: {len(blocked)}</h3>"
                f"{' <small>(' + _e(summary) + ')</small>' if summary else ''}</summary>\n")
    if blocked:
        body.append("<table><thead><tr><th>Name<th>HR id<th>Reason<th>Details<th>What to fix in Personio"
                    "</thead><tbody>\n")
        body += [_blocked_row(p) for p in blocked]
        body.append("</tbody></table>\n")
    else:
        body.append("<p>Everyone can log in.</p>\n")
    body.append("</details>\n")
    title = f"People and access <small>{_n(len(invitees) + len(blocked), 'person', 'people')}</small>"
    return _section("people", title, body)


def _invitee_row(p: Invitee, dated: bool) -> str:
    name = _e(p.name) + (f"<br><small>{_e(p.note)}</small>" if p.note else "")
    return (f"<tr><td>{name}<td>{_e(p.employee_id)}<td>{_e(p.email)}<td>{_e(p.teams)}"
            + (f"<td>{_e(p.invited_on)}\n" if dated else "\n"))


def _blocked_row(p: Blocked) -> str:
    return f"<tr><td>{_e(p.name)}<td>{_e(p.employee_id)}<td>{_e(p.reason)}<td>{_e(p.detail)}<td>{_e(p.fix)}\n"


def _units(units: tuple[Unit, ...]) -> list[str]:
    body = []
    for unit in units:
        people = len({m.employee_id for t in unit.teams for m in t.members} | {m.employee_id for m in unit.without_team})
        if unit.name is None:
            name = "<i>Teams in no single unit, people in no unit</i>"
        else:
            name = _e(unit.name) + (TM if unit.from_teammeter else "")
        body.append(f"<details><summary><b>{name}</b> <small>{_n(len(unit.teams), 'team')}, "
                    f"{_n(people, 'person', 'people')}</small></summary>\n")
        body += [_team(team) for team in unit.teams]
        if unit.without_team:
            body.append(f"<h3>Not in a team: {len(unit.without_team)}</h3>\n{_names(unit.without_team)}\n")
        body.append("</details>\n")
    if not units:
        body.append("<p>No units or teams yet.</p>\n")
    return _section("units", f"Units and teams <small>{_n(len(units), 'group')}</small>", body)


def _team(team: Team) -> str:
    return (f"<details><summary>{_e(team.name)}{TM if team.from_teammeter else ''} "
            f"<small>{_n(len(team.members), 'member')}</small></summary>{_names(team.members)}</details>\n")


def _names(members) -> str:
    """Members as one line of text, not an element each: a unit can have thousands."""
    return '<p class="names">' + ", ".join(_e(m.name) + (TM if m.from_teammeter else "") for m in members) + "</p>"


def _team_sizes(sizes: tuple[tuple[str, int], ...]) -> list[str]:
    largest = max((size for _, size in sizes), default=0) or 1
    rows = [f"<tr><td>{_e(name)}<td class=\"n\">{size}<td><span class=\"bar\" "
            f"style=\"width:{100 * size / largest:.1f}%\"></span>\n" for name, size in sizes]
    body = ['<table class="bars"><thead><tr><th>Team<th class="n">Members<th></thead><tbody>\n', *rows,
            "</tbody></table>\n"] if sizes else ["<p>No teams yet.</p>\n"]
    return _section("sizes", f"Team sizes <small>{_n(len(sizes), 'team')}</small>", body)


def _org_chart(chart: OrgChart) -> list[str]:
    sizes = chart.sizes()
    body = ['<ul class="tree">\n']
    # Depth-first with an explicit stack (a management chain can be thousands deep): an entry is
    # a person to open at a depth, or the closing markup of a manager whose reports are done.
    stack: list[tuple[str, int] | str] = [(root, 0) for root in reversed(chart.roots)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            body.append(item)
            continue
        person, depth = item
        label = _org_label(chart, person)
        reports = chart.reports.get(person, ())
        if not reports:
            body.append(f'<li data-id="{_e(person)}">{label}</li>\n')
            continue
        state = " open" if depth < OPEN_LEVELS else ""
        body.append(f'<li data-id="{_e(person)}"><details{state}><summary>{label} <small>{len(reports)} direct, '
                    f"{sizes[person]} in total</small></summary><ul>\n")
        stack.append("</ul></details></li>\n")
        stack.extend((report, depth + 1) for report in reversed(reports))
    body.append("</ul>\n")
    if not chart.roots:
        body.append("<p>No manager lines yet.</p>\n")
    if chart.outside:
        body.append(f'<h3>Outside the tree: {len(chart.outside)}</h3>\n<p class="sub">People without a known, '
                    "active manager in Teammeter (top managers are in the tree as well).</p>\n"
                    "<table><thead><tr><th>Name<th>HR id<th>Why</thead><tbody>\n")
        body += [f"<tr><td>{_e(chart.people[p].name)}<td>{_e(p)}<td>{_e(why)}\n" for p, why in chart.outside]
        body.append("</tbody></table>\n")
    title = f"Managers <small>{_n(len(chart.roots), 'top manager')}, {len(chart.outside)} outside the tree</small>"
    return _section("managers", title, body)


def _org_label(chart: OrgChart, person: str) -> str:
    who = chart.people[person]
    label = f"<b>{_e(who.name)}</b>" if person in chart.reports else _e(who.name)
    if who.roles:
        label += f" <small>{_e(who.roles)}</small>"
    if person in chart.from_teammeter:
        label += TM
    if person in chart.also:
        label += f" <small>also reports to {_e(chart.also[person])}</small>"
    return label


def _roles(content: ReportContent) -> list[str]:
    rows = []
    for role in content.roles:
        variants = ", ".join(f"{_e(spelling)} ({count})" for spelling, count in role.variants)
        rows.append(f"<tr><td>{_e(role.name)}{TM if role.from_teammeter else ''}<td class=\"n\">{role.holders}"
                    f"<td>{variants}\n")
    note = ("" if content.variants_known else
            '<p class="sub">The spellings merged into each role are shown after a sync has run in the pipeline '
            "(they come from the organisation model, which was not at hand for this report).</p>\n")
    merged = sum(1 for role in content.roles if role.variants)
    body = [note, '<table><thead><tr><th>Role<th class="n">People<th>Spellings in Personio merged into it '
            "(records)</thead><tbody>\n", *rows, "</tbody></table>\n"] if rows else [note, "<p>No roles yet.</p>\n"]
    return _section("roles", f"Roles <small>{_n(len(content.roles), 'role')}, {merged} merged from several spellings"
                    "</small>", body)


def _edits(content: ReportContent) -> list[str]:
    if content.edits:
        body = ['<p class="sub">Made by hand in Teammeter; the sync from Personio never changes them.</p>\n'
                "<table><thead><tr><th>What<th>Added in Teammeter</thead><tbody>\n"]
        body += [f"<tr><td>{_e(edit.kind)}<td>{_e(edit.what)}{TM}\n" for edit in content.edits]
        body.append("</tbody></table>\n")
    else:
        body = ["<p>Nothing has been added in Teammeter: everything above comes from Personio.</p>\n"]
    return _section("edits", f"Added in Teammeter <small>{len(content.edits)}</small>", body)


def _accounts(content: ReportContent) -> list[str]:
    linked = [a for a in content.accounts if a.employee_id is not None]
    outside = [a for a in content.accounts if a.employee_id is None]
    body = ['<p class="sub">Accounts people had in Teammeter before Personio was connected keep their '
            "history: the sync links a Personio person to the one account with the same address. Accounts "
            "outside Personio (coaches, people added by hand) are Teammeter's; the sync never changes them.</p>\n"]
    if linked:
        body.append("<table><thead><tr><th>Person<th>Personio id<th>How</thead><tbody>\n")
        body += [f"<tr><td>{_e(a.name)}<td>{_e(a.employee_id)}<td>{_e(a.how)}\n" for a in linked]
        body.append("</tbody></table>\n")
    if outside:
        body.append(f"<p>Outside Personio: {_e(', '.join(a.name for a in outside))}</p>\n")
    if not content.accounts:
        body.append("<p>No existing accounts: everyone above was created from Personio.</p>\n")
    return _section("accounts", f"Existing accounts <small>{len(linked)} linked, {len(outside)} outside Personio"
                    "</small>", body)


def _status_and_scope(content: ReportContent) -> list[str]:
    kept, scope = content.kept_on_unknown_status, content.scope
    policy = ("kept as they are (their account, teams and manager stay)" if content.unknown_status_policy == "keep"
              else "deactivated")
    body = [f'<p class="sub">People whose Personio status arrives as neither active nor inactive (a leave, '
            f"probably) are {policy}, by the company's setting.</p>\n"]
    if kept:
        body.append("<table><thead><tr><th>Person<th>Personio id<th>Access</thead><tbody>\n")
        body += [f"<tr><td>{_e(k.name)}<td>{_e(k.employee_id)}<td>{'yes' if k.has_access else 'not yet'}\n"
                 for k in kept]
        body.append("</tbody></table>\n")
    else:
        body.append("<p>Nobody is kept on an unknown status.</p>\n")
    if scope is None:
        body.append("<p>Scope: everyone Personio lists.</p>\n")
    else:
        left = "" if scope.people_outside is None else f": {_n(scope.people_outside, 'person', 'people')} outside it, not imported"
        body.append(f"<p>Scope: {_e(scope.text)}{left}.</p>\n")
    title = f"Status and scope <small>{len(kept)} kept on an unknown status" + (
        f", {scope.people_outside} outside the scope" if scope and scope.people_outside is not None else "") + "</small>"
    return _section("status", title, body)


def _changes(changes: Changes | None) -> list[str]:
    if changes is None:
        return _section("changes", "Latest changes",
                        ["<p>Nothing has changed since the first sync.</p>\n"])
    body = [f'<p class="sub">The latest sync that changed something ({_when(changes.synced_at)}) compared with '
            f"the one before it ({_when(changes.previous_at)}); the syncs since found nothing new.</p>\n"]
    if changes.empty:
        body.append("<p>Nothing changed.</p>\n")
    body += _change_list("Hires and returns", [f"{_e(n)}{f' <small>{_e(t)}</small>' if t else ''}"
                                               for n, t in changes.hires])
    body += _change_list("Leavers", [_e(n) for n in changes.leavers])
    body += _change_list("Moves", [f"{_e(n)} <small>{_e(what)}</small>" for n, what in changes.moves])
    body += _change_list("New managers", [f"{_e(n)} <small>now reports to {_e(m)}</small>"
                                          for n, m in changes.new_managers])
    if changes.other:
        body.append(f"<p>{changes.other} further changes (names, titles, addresses, structures).</p>\n")
    counted = len(changes.hires) + len(changes.leavers) + len(changes.moves) + len(changes.new_managers)
    return _section("changes", f"Latest changes <small>{_n(counted, 'person', 'people')}</small>", body)


def _change_list(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [f"<h3>{title}: {len(items)}</h3>\n<ul class=\"cols\">", *(f"<li>{item}</li>" for item in items),
            "</ul>\n"]
