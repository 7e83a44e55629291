"""What the verification report says, in Teammeter's words (units, teams, roles, managers), as
plain values: no database, no HTML. `from_store.py` fills these from the store; `page.py` prints
them. The pure decisions live here too: why someone cannot log in and what to fix in Personio,
and how the manager lines become a tree in which nobody appears twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime
from typing import NamedTuple

from personio_pipeline.common.tables import natural_order

SEPARATOR = ", "  # between the names in one cell (teams, roles)

# Why an active person cannot log in yet: short label, what to fix in Personio.
NO_EMAIL = ("no email", "Enter a work email address for this person in Personio.")
INVALID_EMAIL = ("invalid email", "Correct the email address in Personio.")
NO_VALID_EMAIL = ("no valid email", "Enter or correct this person's work email address in Personio.")
SHARED_EMAIL = ("shared email", "Give each of these people their own work email address in Personio.")
QUARANTINED = ("quarantined", "Correct the supervisor of one person on this cycle in Personio.")
NO_ACCESS = ("no access", "Ask the data team: Personio has an address but Teammeter grants no access.")
STARTS_LATER = ("starts later", "Nothing to fix: access and the invitation follow on the access day.")
STATUS_UNKNOWN = ("status not active", "Nothing to fix for a leave: access and the invitation follow when Personio "
                  "shows the person as active again.")
REASONS = (NO_EMAIL, INVALID_EMAIL, NO_VALID_EMAIL, SHARED_EMAIL, QUARANTINED, NO_ACCESS, STARTS_LATER)

# Where an invitation stands, and what each status means (the page's legend), in the page's order.
INVITED = "invited"
AFTER_VERIFICATION = "after verification"
NEXT_RUN = "next invitation run"
ON_ITS_WAY = "on its way"
FAILED = "failed"
WAITING = "waiting"
INVITATION_STATUSES = {
    FAILED: "the invitation could not be delivered; the data team is looking into it",
    WAITING: "whether the invitation arrived is unclear; the data team decides whether to send it again",
    AFTER_VERIFICATION: "invited once you have confirmed that the organisation is right",
    NEXT_RUN: "the organisation is verified; the invitation goes out with the next invitation run",
    ON_ITS_WAY: "the invitation is being sent",
    INVITED: "the invitation was sent",
}

# Why someone sits outside the manager tree.
UNKNOWN_MANAGER = "manager not in Personio's export (HR id {manager_id})"
INACTIVE_MANAGER = "manager {manager} has left"
NO_MANAGER = "no supervisor set in Personio"
MANAGER_CYCLE = "on or below a management cycle"


@dataclass(frozen=True)
class Header:
    company: str
    consumer_id: str
    last_synced_at: datetime | None
    verified_at: datetime | None
    generated_at: datetime
    people: int  # active
    with_access: int
    without_access: int


class Invitee(NamedTuple):
    """An active person who can log in: where the invitation stands. The per-person types are
    named tuples: a big company makes hundreds of thousands of them, and they are cheap to build."""

    employee_id: str
    name: str
    email: str
    teams: str
    status: str  # a key of INVITATION_STATUSES
    invited_on: str = ""  # for INVITED: the day it was sent
    note: str = ""  # e.g. held back with an older address


class ExistingAccount(NamedTuple):
    """An account Teammeter had before Personio listed the person, or has outside Personio."""

    name: str
    employee_id: str | None  # None: outside Personio (a coach, someone added in Teammeter)
    how: str  # 'linked by address' | 'rehire: the former account is back' | 'outside Personio'


class KeptOnUnknownStatus(NamedTuple):
    """A person whose HR status is unknown (e.g. a leave) whom the company's policy keeps."""

    name: str
    employee_id: str
    has_access: bool


@dataclass(frozen=True)
class ScopeSummary:
    """The company's rollout scope and what it left out (people counted, never stored)."""

    text: str  # e.g. "department=Engineering,Sales"
    people_outside: int | None  # None: the org model was not at hand


class Blocked(NamedTuple):
    """An active person who cannot log in yet, why, and what to fix in Personio."""

    employee_id: str
    name: str
    reason: str
    detail: str
    fix: str
    email: str = ""  # the address Teammeter holds, if any (a shared one, a pre-hire's)
    teams: str = ""


class Member(NamedTuple):
    name: str
    employee_id: str
    from_teammeter: bool = False  # the membership was added in Teammeter


@dataclass(frozen=True)
class Team:
    name: str
    from_teammeter: bool
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Unit:
    """A unit with its teams; `name` None groups the teams in no single unit."""

    name: str | None
    from_teammeter: bool
    teams: tuple[Team, ...]
    without_team: tuple[Member, ...]


class OrgPerson(NamedTuple):
    employee_id: str
    name: str
    roles: str = ""


@dataclass(frozen=True)
class OrgChart:
    """The manager tree: `roots` are the top managers (no manager, at least one report);
    `reports[id]` lists who reports to `id` (each person under one manager only); `also` names the
    further managers of people with more than one; `outside` lists people shown apart, with why."""

    people: dict[str, OrgPerson]
    roots: tuple[str, ...]
    reports: dict[str, tuple[str, ...]]
    from_teammeter: frozenset[str]  # people whose line to their manager was added in Teammeter
    also: dict[str, str]
    outside: tuple[tuple[str, str], ...]  # (employee id, why)

    @cached_property
    def _sizes(self) -> dict[str, int]:
        return self.team_sizes()

    def sizes(self) -> dict[str, int]:
        """`team_sizes()`, computed once."""
        return self._sizes

    def team_sizes(self) -> dict[str, int]:
        """Per manager, everyone below them (iteratively: chains can be thousands deep)."""
        below: dict[str, int] = {}
        order: list[str] = []
        stack = list(self.roots)
        while stack:
            person = stack.pop()
            order.append(person)
            stack.extend(self.reports.get(person, ()))
        for person in reversed(order):
            reports = self.reports.get(person)
            below[person] = len(reports) + sum(map(below.__getitem__, reports)) if reports else 0
        return below


@dataclass(frozen=True)
class Role:
    name: str
    holders: int
    from_teammeter: bool
    variants: tuple[tuple[str, int], ...] = ()  # merged spellings as served, with their records


@dataclass(frozen=True)
class Edit:
    """Something added in Teammeter by hand, which the sync leaves alone."""

    kind: str
    what: str


@dataclass(frozen=True)
class Changes:
    """What the latest sync changed, compared with the one before it."""

    synced_at: datetime
    previous_at: datetime
    hires: tuple[tuple[str, str], ...] = ()  # (name, teams)
    leavers: tuple[str, ...] = ()
    moves: tuple[tuple[str, str], ...] = ()  # (name, what moved)
    new_managers: tuple[tuple[str, str], ...] = ()  # (name, new manager)
    other: int = 0  # renames, titles, addresses: in the change log

    @property
    def empty(self) -> bool:
        return not (self.hires or self.leavers or self.moves or self.new_managers or self.other)


@dataclass(frozen=True)
class ReportContent:
    header: Header
    invitees: tuple[Invitee, ...]
    blocked: tuple[Blocked, ...]
    units: tuple[Unit, ...]
    team_sizes: tuple[tuple[str, int], ...]  # (team, active members), largest first
    org_chart: OrgChart
    roles: tuple[Role, ...]
    variants_known: bool  # False: the org model was not at hand, variants unknown
    edits: tuple[Edit, ...]
    changes: Changes | None  # None: no earlier sync to compare with
    accounts: tuple[ExistingAccount, ...] = ()  # linked existing accounts, then those outside Personio
    kept_on_unknown_status: tuple[KeptOnUnknownStatus, ...] = ()
    unknown_status_policy: str = "keep"
    scope: ScopeSummary | None = None  # None: everyone is in scope

    def counts(self) -> dict[str, int]:
        """What the page holds, as numbers only (asset metadata: no names, no addresses)."""
        return {
            "people": self.header.people,
            "with_access": self.header.with_access,
            "without_access": self.header.without_access,
            "units": sum(1 for unit in self.units if unit.name is not None),
            "teams": len(self.team_sizes),
            "roles": len(self.roles),
            "top_managers": len(self.org_chart.roots),
            "outside_manager_tree": len(self.org_chart.outside),
            "teammeter_edits": len(self.edits),
            "linked_accounts": sum(1 for account in self.accounts if account.employee_id is not None),
            "outside_personio": sum(1 for account in self.accounts if account.employee_id is None),
            "kept_on_unknown_status": len(self.kept_on_unknown_status),
            "outside_scope": (self.scope.people_outside or 0) if self.scope else 0,
        }

    def people_listed(self) -> list[str]:
        """Employee ids in the people list (invitees, then the blocked)."""
        return [p.employee_id for p in self.invitees] + [p.employee_id for p in self.blocked]


def access_problem(
    *, email: str | None, held_back: dict[str, str], email_problem: str | None, access_from: str | None = None,
    unknown_status: bool = False,
) -> tuple[str, str, str]:
    """(reason, detail, fix) for an active person without access. `held_back` maps the store's
    open problems (duplicate_email, management_cycle) to their detail; `email_problem` is the
    model's ('missing', 'invalid: …') when the model is at hand, else None; `access_from` the day a
    pre-hire gets access (start date minus the company's pre-start days); `unknown_status`: Personio's
    status arrives as neither active nor inactive (a leave, probably) and the company keeps them."""
    if "duplicate_email" in held_back:
        return SHARED_EMAIL[0], held_back["duplicate_email"], SHARED_EMAIL[1]
    if "management_cycle" in held_back:
        return QUARANTINED[0], "management cycle " + held_back["management_cycle"], QUARANTINED[1]
    if access_from is not None and email is not None:
        return STARTS_LATER[0], f"a pre-hire: access from {access_from}", STARTS_LATER[1]
    if email is None:
        if email_problem == "missing":
            return NO_EMAIL[0], "Personio has no email address for this person", NO_EMAIL[1]
        if email_problem and email_problem.startswith("invalid"):
            why = email_problem.partition(":")[2].strip()
            return INVALID_EMAIL[0], why or "the address is not valid", INVALID_EMAIL[1]
        return NO_VALID_EMAIL[0], "Personio has no usable address (missing or invalid)", NO_VALID_EMAIL[1]
    if unknown_status:
        return STATUS_UNKNOWN[0], "Personio's status is not active (a leave, probably)", STATUS_UNKNOWN[1]
    return NO_ACCESS[0], "", NO_ACCESS[1]


def build_org_chart(
    people: dict[str, OrgPerson],
    lines: list[tuple[str, str, bool]],
    problems: dict[str, str],
    rank: dict[str, int] | None = None,
) -> OrgChart:
    """The tree from open lines (report, manager, added in Teammeter) between active people,
    HR lines before Teammeter ones. Each person hangs under their first manager only (the others
    are named in `also`); walking down from the top managers reaches everyone at most once, and
    people a walk cannot reach (a cycle made of Teammeter lines) are shown apart. `problems`
    (employee id -> why, from the model) explains people without a manager; `rank` (employee id ->
    position by name, then id) is computed when not given."""
    first: dict[str, str] = {}
    teammeter_line: set[str] = set()
    also: dict[str, list[str]] = defaultdict(list)
    for report, manager, from_teammeter in lines:
        if report not in people or manager not in people or report == manager:
            continue
        if report in first:
            if manager != first[report]:
                also[report].append(manager)
            continue
        first[report] = manager
        if from_teammeter:
            teammeter_line.add(report)
    reports: dict[str, list[str]] = defaultdict(list)
    for report, manager in first.items():
        reports[manager].append(report)

    if rank is None:
        ordered = sorted(people, key=lambda i: (people[i].name.casefold(), natural_order(i)))
        rank = {person: position for position, person in enumerate(ordered)}

    def by_name(ids) -> tuple[str, ...]:
        return tuple(sorted(ids, key=rank.__getitem__))

    ordered = {manager: by_name(rs) for manager, rs in reports.items()}
    roots = by_name(p for p in people if p not in first and p in ordered)
    reached: set[str] = set()
    stack = list(roots)
    while stack:
        person = stack.pop()
        reached.add(person)
        stack.extend(ordered.get(person, ()))
    outside = []
    for person in by_name(people):
        if person in reached and person not in problems:
            continue
        if person not in reached and person in first:
            outside.append((person, MANAGER_CYCLE))
        elif person in problems:
            outside.append((person, problems[person]))
        elif person not in reached:
            outside.append((person, NO_MANAGER))
    names = {p: people[p].name for p in people}
    return OrgChart(
        people=people,
        roots=roots,
        reports={m: rs for m, rs in ordered.items() if m in reached},
        from_teammeter=frozenset(teammeter_line & reached),
        also={p: ", ".join(names[m] for m in ms) for p, ms in also.items()},
        outside=tuple(outside),
    )
