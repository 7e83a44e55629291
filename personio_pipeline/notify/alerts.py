"""Data-team alerts about people without a usable email: who is new since the last alert, and
the message text. Pure functions; the sensor in `defs/sensors.py` does the I/O.

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
    consumer_id: str, people: list[dict[str, Any]], already_alerted: set[str]
) -> MissingEmailAlert | None:
    """An alert for the people not reported before, or None when everyone was already reported."""
    new_people = [person for person in people if str(person["employee_id"]) not in already_alerted]
    if not new_people:
        return None
    return MissingEmailAlert(consumer_id=consumer_id, new_people=new_people, still_missing=len(people))


@dataclass(frozen=True)
class ConnectionAlert:
    """A company's Personio connection stopped working (Apideck reported it revoked): syncs fail
    until the customer's admin re-authorises it."""

    consumer_id: str
    name: str
    state: str

    @property
    def subject(self) -> str:
        return f"[personio_pipeline] {self.consumer_id}: Personio connection {self.state}"

    @property
    def text(self) -> str:
        return (
            f"Company '{self.consumer_id}' ({self.name}): Apideck reports its Personio connection as {self.state}. "
            "Its syncs cannot read employees until it is re-authorised. Remedy: ask the customer's admin to "
            f"connect Personio again with a new link: `personio-pipeline connect {self.consumer_id} --name ...`.\n"
        )

    def as_json(self) -> dict[str, Any]:
        return {"kind": "connection", "consumer_id": self.consumer_id, "state": self.state, "text": self.text}
