"""Data-team alerts about people without a usable email: who is new since the last alert, and
the message text. Pure functions; the sensor in `defs/missing_email_alerts.py` does the I/O.

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
