"""Hand-made, spec-valid Apideck employee records for end-to-end cases."""

from __future__ import annotations

from typing import Any


def person(employee_id: str, first: str, last: str, *, email: str | None = None, email_type: str = "work",
           status: str | None = "active", manager: str | None = None, team: tuple[str, str] | None = ("t1", "Platform"),
           department: tuple[str, str] | None = ("d1", "Engineering"), title: str | None = "Engineer",
           end_date: str | None = None, updated_at: str = "2026-11-01T08:00:00.000Z", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": employee_id,
        "first_name": first,
        "last_name": last,
        "emails": [{"email": email, "type": email_type}] if email else [],
        "employment_status": status,
        "title": title,
        "team": {"id": team[0], "name": team[1]} if team else None,
        "department_id": department[0] if department else None,
        "department_name": department[1] if department else None,
        "employment_start_date": "2020-01-01",
        "employment_end_date": end_date,
        "updated_at": updated_at,
    }
    if manager:
        record["manager"] = {"id": manager}
    record.update(extra)
    return record


def crafted_company() -> list[dict[str, Any]]:
    """A small org with every problem the checks must see, and nothing that blocks the sync."""
    return [
        person("1", "Zoë", "Çelik", email="zoe.celik@acme.example", manager=None, title="CEO"),
        person("2", "Łukasz", "Nowak", email="  Lukasz.NOWAK@Acme.Example ", manager="1", title="software engineer"),
        person("3", "José", "Muñoz", email=None, manager="1", title="Software  Engineer"),
        person("4", "Ana", "Privat", email="ana@private.example", email_type="personal", manager="2"),
        person("5", "Olaf", "Broken", email="olaf..broken@acme.example", manager="99"),
        person("6", "Greta", "Gone", email="greta@acme.example", status="terminated", end_date="2025-06-30", manager="1"),
        person("7", "Otto", "Other", email="otto@acme.example", status="other", manager="6"),
        person("8", "Erik", "Ended", email="erik@acme.example", status="active", end_date="2024-01-31", manager="1"),
        person("9", "Ina", "Report", email="ina@acme.example", manager="6", team=("t2", "Data")),
    ]
