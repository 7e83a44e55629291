"""Dagster types of asset values.

Raw Apideck records are checked as a list only: Dagster's inferred `list[dict[str, Any]]` type
checks every key and value of every record, which cost ~50 s per 100,000 employees.
"""

import dagster as dg

RawEmployeeRecords = dg.DagsterType(
    name="ApideckEmployeeRecords",
    type_check_fn=lambda _context, value: isinstance(value, list),
    description="Apideck employee records as served (a list of JSON objects), restricted to the needed fields.",
)
