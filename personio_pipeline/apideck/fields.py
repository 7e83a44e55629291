"""The employee attributes the sync needs, and nothing more (data minimisation).

The same list is sent to Apideck as `fields=` and applied locally when a connector rejects
`fields`, so what we store never depends on whether the connector honoured it.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

EMPLOYEE_FIELDS: tuple[str, ...] = (
    "id",
    "first_name",
    "last_name",
    "display_name",
    "preferred_name",
    "emails.email",
    "emails.type",
    "employment_status",
    "title",
    "jobs.title",
    "jobs.is_primary",
    "manager.id",
    "department_id",
    "department_name",
    "department",
    "team.id",
    "team.name",
    "employee_number",
    "employment_start_date",
    "employment_end_date",
    "deleted",
    "created_at",
    "updated_at",
)


def fields_param(fields: Iterable[str] = EMPLOYEE_FIELDS) -> str:
    """The comma-separated `fields=` value Apideck expects."""
    return ",".join(fields)


def _field_tree(fields: Iterable[str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for field in fields:
        node = tree
        parts = field.split(".")
        for part in parts[:-1]:
            existing = node.get(part)
            if existing is True:
                break
            node = node.setdefault(part, {})
        else:
            node[parts[-1]] = True
    return tree


def _project(value: Any, tree: Mapping[str, Any] | bool) -> Any:
    if tree is True or value is None:
        return value
    if isinstance(value, list):
        return [_project(item, tree) for item in value]
    if isinstance(value, Mapping):
        return {key: _project(value[key], sub) for key, sub in tree.items() if key in value}
    return value


def make_projector(fields: Iterable[str] = EMPLOYEE_FIELDS):
    """A projector with the field tree parsed once, for use over many records."""
    tree = _field_tree(fields)
    return lambda record: _project(record, tree)
