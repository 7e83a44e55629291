"""Who the data team has been told about: per company and asset check, the people an alert named
who are still reported. The missing-email alert reads it to name only people not alerted before.

One open row (`cleared_at` NULL) per person alerted and still reported; a result that no longer
reports someone closes their row, so a problem that comes back is alerted again and the history
of what was said stays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from personio_pipeline.companies import registry
from personio_pipeline.store.schema import alerted_people

KEY_LIMIT = 255  # alerted_people.employee_id


def person_key(employee_id: object) -> str:
    """The id as stored: the HR id itself, or a digest of it when the database cannot hold it
    (NUL characters, longer than the column). The same id always gives the same key."""
    text = str(employee_id)
    if "\x00" in text or len(text) > KEY_LIMIT:
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text


def alerted(conn: sa.Connection, consumer_id: str, check_name: str) -> set[str]:
    """Keys (`person_key`) of the people already alerted and still reported; raises
    `UnknownCompanyError` for a company that is not registered."""
    company = registry.get(conn, consumer_id)
    query = sa.select(alerted_people.c.employee_id).where(
        alerted_people.c.organisation_id == company.id,
        alerted_people.c.check_name == check_name,
        alerted_people.c.cleared_at.is_(None),
    )
    return set(conn.scalars(query))


def remember(
    conn: sa.Connection,
    consumer_id: str,
    check_name: str,
    *,
    alerted_now: Iterable[object],
    still_reported: Iterable[object] | None,
    at: datetime,
) -> None:
    """Record an alert about `alerted_now` and close the rows of people no longer reported.

    `still_reported` is everyone the latest result reports, or None when that list was cut short
    (then nobody is closed: an unlisted person may still be affected)."""
    company = registry.get(conn, consumer_id)
    scope = (
        alerted_people.c.organisation_id == company.id,
        alerted_people.c.check_name == check_name,
        alerted_people.c.cleared_at.is_(None),
    )
    open_keys = set(conn.scalars(sa.select(alerted_people.c.employee_id).where(*scope)))
    if still_reported is not None:
        gone = open_keys - {person_key(person) for person in still_reported}
        for chunk in _chunks(sorted(gone)):
            closing = alerted_people.c.employee_id.in_(chunk)
            conn.execute(sa.update(alerted_people).where(*scope, closing).values(cleared_at=at))
    new_keys = sorted({person_key(person) for person in alerted_now} - open_keys)
    if new_keys:
        conn.execute(
            sa.insert(alerted_people),
            [
                {"organisation_id": company.id, "check_name": check_name, "employee_id": key, "alerted_at": at}
                for key in new_keys
            ],
        )


def _chunks(keys: list[str], size: int = 500) -> Iterable[list[str]]:
    """IN lists of bounded length (SQLite limits bound parameters per statement)."""
    for start in range(0, len(keys), size):
        yield keys[start : start + size]
