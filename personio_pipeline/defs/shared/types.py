"""Dagster types of asset values.

The raw listing travels between steps as a `RawExtract` (a file and its digest), never as a
list of records: Dagster's inferred `list[dict[str, Any]]` type would check every key and value
of every record, and the list itself would hold every record in memory as a Python dict.
"""

import dagster as dg

from personio_pipeline.apideck.extract import RawExtract

RawEmployeeRecords = dg.DagsterType(
    name="ApideckEmployeeRecords",
    type_check_fn=lambda _context, value: isinstance(value, RawExtract),
    description="Apideck employee records as served, restricted to the needed fields: a JSON Lines extract.",
)
