"""Dagster types of asset values.

The raw listing travels between steps as a `RawExtract` (a file and its digest), never as a
list of records: Dagster's inferred `list[dict[str, Any]]` type would check every key and value
of every record (~50 s per 100,000 employees), and the list itself would cost ~300 MB.
"""

import dagster as dg

from personio_pipeline.apideck.extract import RawExtract

RawEmployeeRecords = dg.DagsterType(
    name="ApideckEmployeeRecords",
    type_check_fn=lambda _context, value: isinstance(value, RawExtract),
    description="Apideck employee records as served, restricted to the needed fields: a JSON Lines extract.",
)
