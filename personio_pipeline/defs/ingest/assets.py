"""Raw layer: every employee of a company, as Apideck served it (restricted to needed fields)."""


import dagster as dg

from personio_pipeline.apideck.client import FetchStats
from personio_pipeline.apideck.errors import ApideckError
from personio_pipeline.apideck.extract import RawExtractSpool
from personio_pipeline.common import settings
from personio_pipeline.companies import connection_health, registry
from personio_pipeline.defs.shared.keys import APIDECK_GROUP, RAW_EMPLOYEES
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, TeammeterDatabase
from personio_pipeline.defs.shared.retries import retry_transient_errors
from personio_pipeline.defs.shared.types import RawEmployeeRecords

SPOOL_DIR = "spool"  # under the data folder, next to the stored extracts: storing one is a rename


@dg.asset(
    key=RAW_EMPLOYEES,
    partitions_def=companies,
    group_name=APIDECK_GROUP,
    kinds={"apideck", "json"},
    owners=["team:data"],
    pool="apideck",
    dagster_type=RawEmployeeRecords,
)
@retry_transient_errors
def raw_employees(
    context: dg.AssetExecutionContext, apideck: ApideckResource, teammeter_db: TeammeterDatabase
) -> dg.Output:
    """All employees of one company from Apideck `GET /hris/employees`, every page, only the
    attributes the sync needs. Stored as JSON Lines so the data team can open what was read;
    pages go to disk as they arrive, so memory stays flat however large the company."""
    consumer_id = context.partition_key
    stats = FetchStats()
    try:
        with teammeter_db.engine().connect() as conn:
            company = registry.get(conn, consumer_id)
        with RawExtractSpool(settings.data_dir() / SPOOL_DIR, company=consumer_id) as spool:
            with apideck.hris_client(logger=context.log) as client:
                for page in client.iter_employee_pages(consumer_id, company.service_id, stats=stats):
                    spool.write(page.records)
            with teammeter_db.engine().begin() as conn:  # a full listing proves the connection works
                connection_health.set_connection_state(conn, consumer_id, connection_health.CONNECTED)
            extract = spool.finish()  # last: anything failing before it deletes the spool file
    except (ApideckError, registry.UnknownCompanyError) as error:
        raise dg.Failure(description=str(error)) from None
    return dg.Output(
        extract,
        metadata={
            "dagster/row_count": stats.rows,
            "pages": stats.pages,
            "requests": stats.requests,
            "retries": stats.retries,
            "duration_seconds": round(stats.duration_seconds, 3),
            "total_count_reported": stats.total_count if stats.total_count is not None else -1,
            "fields_fallback": stats.fields_fallback,
            "apideck_warnings": len(stats.warnings),
            "service_id": company.service_id,
            "sha256": extract.sha256,
        },
    )
