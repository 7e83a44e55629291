"""Watches Apideck Vault for companies whose Personio connection becomes usable.

When a connection is `callable` and enabled, the company is recorded as connected and its
partition added. The first sync is deliberately not started: the data team launches it by hand
(UI: materialise the partition; CLI: `personio-pipeline sync ID`) once they are ready to review.
"""

import dagster as dg

from personio_pipeline.apideck.errors import ApideckError
from personio_pipeline.defs.partitions import companies
from personio_pipeline.defs.resources import ApideckResource, TeammeterDatabase
from personio_pipeline.teammeter import organisations


def observed_state(status) -> str:
    """The state to record: Vault's state, with 'disabled' for a callable but switched-off connection."""
    if status.state == organisations.CONNECTED and not status.enabled:
        return "disabled"
    if status.health == "revoked":
        return "revoked"
    return status.state


@dg.sensor(
    name="connection_sensor",
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records Vault connection states of companies not yet connected; adds a company's "
    "partition once its Personio connection is callable.",
)
def connection_sensor(context: dg.SensorEvaluationContext, apideck: ApideckResource, teammeter_db: TeammeterDatabase):
    engine = teammeter_db.engine()
    with engine.connect() as conn:
        waiting = organisations.awaiting_connection(conn)
    if not waiting:
        return dg.SkipReason("every registered company is connected")
    known = set(context.instance.get_dynamic_partitions(companies.name))
    connected: list[str] = []
    with apideck.vault_client(logger=context.log) as vault:
        for organisation in waiting:
            try:
                status = vault.connection_status(organisation.consumer_id, organisation.service_id)
            except ApideckError as error:
                context.log.warning(str(error))
                continue
            state = observed_state(status)
            with engine.begin() as conn:
                changed = organisations.set_connection_state(conn, organisation.consumer_id, state)
            if changed and state == organisations.CONNECTED:
                context.log.info(
                    f"company '{organisation.consumer_id}' is connected; launch its first sync by hand: "
                    f"`personio-pipeline sync {organisation.consumer_id}` or materialise the partition in the UI"
                )
            elif changed and state in ("invalid", "revoked", "disabled"):
                context.log.warning(
                    f"company '{organisation.consumer_id}': Personio connection is {state}; ask the customer's "
                    f"admin to re-authorise it (`personio-pipeline connect {organisation.consumer_id} --name ...` "
                    "creates a new link)"
                )
            elif changed:
                context.log.info(f"company '{organisation.consumer_id}': connection state {state}")
            if status.syncable and organisation.consumer_id not in known:
                connected.append(organisation.consumer_id)
    if not connected:
        return dg.SkipReason(f"checked {len(waiting)} companies; none newly connected")
    return dg.SensorResult(dynamic_partitions_requests=[companies.build_add_request(connected)])
