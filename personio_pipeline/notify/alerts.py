"""Data-team alerts about people without a usable email: who is new since the last alert, and
the message text. Pure functions; the sensors in `defs/alerts/sensors.py` do the I/O.

Alerts name people by HR id, name and team, never by email address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MissingEmailAlert:
    consumer_id: str
    new_people: list[dict[str, Any]]
    still_missing: int

    @property
    def subject(self) -> str:
        count = len(self.new_people)
        return f"[personio_pipeline] {self.consumer_id}: {count} new {'person' if count == 1 else 'people'} without a usable email"

    @property
    def text(self) -> str:
        lines = [
            f"Company '{self.consumer_id}': {len(self.new_people)} active people have no usable email "
            f"since the last alert ({self.still_missing} in all). They cannot log in or be invited "
            "until an address exists in Personio or a coach adds one in Teammeter.",
            "",
            "employee id | name | team | problem",
        ]
        for person in self.new_people:
            lines.append(
                f"{person.get('employee_id')} | {person.get('display_name') or '-'} | "
                f"{person.get('team_name') or '-'} | {person.get('problem') or 'missing'}"
            )
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "missing_emails",
            "consumer_id": self.consumer_id,
            "new_people": self.new_people,
            "still_missing": self.still_missing,
            "text": self.text,
        }


def missing_email_alert(
    consumer_id: str, people: list[dict[str, Any]], already_alerted: set[str], still_missing: int | None = None
) -> MissingEmailAlert | None:
    """An alert for the people not reported before, or None when everyone was already reported.
    `still_missing` is the check's full count when `people` is a shortened list."""
    new_people = [person for person in people if str(person["employee_id"]) not in already_alerted]
    if not new_people:
        return None
    total = len(people) if still_missing is None else still_missing
    return MissingEmailAlert(consumer_id=consumer_id, new_people=new_people, still_missing=total)


@dataclass(frozen=True)
class ConnectionAlert:
    """A company's Personio connection stopped working (invalid, revoked, disabled, or gone back
    to a state that needs the admin): the data team is told once per state."""

    consumer_id: str
    name: str
    state: str
    since: str | None = None  # ISO timestamp of the state change, when known

    @property
    def subject(self) -> str:
        return f"[personio_pipeline] {self.consumer_id}: Personio connection {self.state}"

    @property
    def text(self) -> str:
        since = f" since {self.since}" if self.since else ""
        return (
            f"Company '{self.consumer_id}' ({self.name}): Apideck Vault reports its Personio connection as "
            f"{self.state}{since}. The daily sync skips the company until the connection is callable again.\n"
            f"Remedy: ask the customer's admin to re-authorise Personio in Vault; "
            f"`personio-pipeline connect {self.consumer_id} --name '{self.name}'` prints a new link. "
            "The connection sensor notices the reconnection by itself and the daily sync resumes.\n"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "connection_problem",
            "consumer_id": self.consumer_id,
            "name": self.name,
            "state": self.state,
            "since": self.since,
            "text": self.text,
        }


@dataclass(frozen=True)
class HeldBackAlert:
    """People whose HR record the sync held back (shared address, management cycle) and who
    were not reported before: their record needs a fix in Personio."""

    consumer_id: str
    new_people: list[dict[str, Any]]
    still_held_back: int

    @property
    def subject(self) -> str:
        count = len(self.new_people)
        return f"[personio_pipeline] {self.consumer_id}: {count} {'person' if count == 1 else 'people'} held back from the sync"

    @property
    def text(self) -> str:
        lines = [
            f"Company '{self.consumer_id}': the sync held back {len(self.new_people)} people not reported before "
            f"({self.still_held_back} in all). Existing users keep their previous state, new people were created "
            "without access; everyone else was synced. Fix the HR field named below in Personio; the next sync "
            "releases them.",
            "",
            "employee id | name | problem | field | detail",
        ]
        for person in self.new_people:
            lines.append(
                f"{person.get('employee_id')} | {person.get('display_name') or '-'} | {person.get('problem')} | "
                f"{person.get('field')} | {person.get('detail') or '-'}"
            )
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "held_back",
            "consumer_id": self.consumer_id,
            "new_people": self.new_people,
            "still_held_back": self.still_held_back,
            "text": self.text,
        }


def held_back_alert(consumer_id: str, people: list[dict[str, Any]], already_alerted: set[str]) -> HeldBackAlert | None:
    """An alert for the (person, problem) pairs not reported before, or None. Entries are keyed
    '<employee id>|<problem>', so a person held back for a second reason is reported again."""
    new_people = [person for person in people if held_back_key(person) not in already_alerted]
    if not new_people:
        return None
    held = len({str(person["employee_id"]) for person in people})
    return HeldBackAlert(consumer_id=consumer_id, new_people=new_people, still_held_back=held)


def held_back_key(person: dict[str, Any]) -> str:
    return f"{person['employee_id']}|{person.get('problem')}"
