"""The invitation sensor: one run request per verified company with something due, with run keys
that repeat exactly while nothing changes, and a tick that stays at two queries for hundreds of
companies."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import sqlalchemy as sa

from personio_pipeline.defs.invitations.sensor import invitation_sensor
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.invitations import outbox
from personio_pipeline.store import hand_edits
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.schema import invitations, organisations, users
from personio_pipeline_tests.support.invitations import COMPANY, smtp_send, verify
from personio_pipeline_tests.support.people import day_one, sync
from personio_pipeline_tests.support.stores import database_url, register


@pytest.fixture
def instance(instance):
    """The shared instance (support/dagster_instance.py) with the company's partition."""
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    return instance


def tick(engine, instance) -> dg.SensorResult | dg.SkipReason:
    resources = {"teammeter_db": TeammeterDatabase(url=database_url(engine))}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return invitation_sensor(context)


def requested(result) -> dict[str, str]:
    """partition -> run key; {} for a skip."""
    if isinstance(result, dg.SkipReason):
        return {}
    return {request.partition_key: request.run_key for request in result.run_requests}


def deliver(engine, inbox, at=None):
    now = at or datetime.now(timezone.utc)
    return outbox.deliver(engine, COMPANY, smtp_send(inbox), clock=lambda: now)


def test_an_unverified_company_is_skipped(acme, instance):
    result = tick(acme, instance)
    assert isinstance(result, dg.SkipReason) and "no verified company" in result.skip_message


def test_a_verified_company_is_requested_once_per_situation(acme, instance, smtp_server):
    verify(acme)
    first, repeat = requested(tick(acme, instance)), requested(tick(acme, instance))
    assert list(first) == [COMPANY] and first[COMPANY].startswith("acme:")
    assert repeat == first  # unchanged: the same run key, which Dagster launches only once

    deliver(acme, smtp_server)
    assert requested(tick(acme, instance)) == {}

    with company_transaction(acme) as conn:  # a coach gives Eve an address: due again, new key
        hand_edits.set_email(conn, COMPANY, "5", "eve@acme-gmbh.com")
    after_edit = requested(tick(acme, instance))
    assert list(after_edit) == [COMPANY] and after_edit[COMPANY] != first[COMPANY]


def test_a_retry_is_requested_once_its_backoff_has_passed(acme, instance, smtp_server):
    verify(acme)
    smtp_server.fail_with = "451 later"
    recently = datetime.now(timezone.utc) - timedelta(minutes=1)
    for _ in range(7):  # one failed attempt for each of the seven (an outage costs one per run)
        deliver(acme, smtp_server, at=recently)
    assert requested(tick(acme, instance)) == {}  # all waiting for their backoff

    long_ago = recently - timedelta(minutes=10)
    with acme.begin() as conn:  # time passes for one of them
        conn.execute(sa.update(invitations).where(invitations.c.id == 1).values(claimed_at=long_ago))
    due = requested(tick(acme, instance))
    assert list(due) == [COMPANY]
    with acme.begin() as conn:
        conn.execute(sa.update(invitations).where(invitations.c.id == 2).values(claimed_at=long_ago))
    assert requested(tick(acme, instance))[COMPANY] != due[COMPANY]


def test_a_company_without_a_partition_on_this_instance_is_skipped(engine, instance):
    register(engine, "globex", "Globex AG")
    sync(engine, day_one(), run_id="globex", consumer_id="globex")
    verify(engine, "globex")
    result = tick(engine, instance)
    assert isinstance(result, dg.SkipReason) and "globex" in result.skip_message


COMPANIES, PEOPLE = 300, 30


def test_hundreds_of_companies_take_two_queries(engine, instance):
    """300 verified companies of 30 people; the odd ones are all invited already."""
    now = datetime.now(timezone.utc)
    keys = [f"co-{n:03}" for n in range(COMPANIES)]
    with engine.begin() as conn:
        conn.execute(sa.insert(organisations), [{"consumer_id": k, "name": k, "verified_at": now} for k in keys])
        org_ids = dict(conn.execute(sa.select(organisations.c.consumer_id, organisations.c.id)).all())
        conn.execute(
            sa.insert(users),
            [
                {
                    "organisation_id": org_ids[k],
                    "employee_id": str(p),
                    "display_name": f"P {p}",
                    "email": f"{p}@{k}.example",
                    "has_access": True,
                }
                for k in keys
                for p in range(PEOPLE)
            ],
        )
        done = [org_ids[k] for k in keys[1::2]]
        invited = conn.execute(
            sa.select(users.c.organisation_id, users.c.id, users.c.email).where(users.c.organisation_id.in_(done))
        ).all()
        conn.execute(
            sa.insert(invitations),
            [{"organisation_id": o, "user_id": u, "email": e, "status": "sent", "sent_at": now} for o, u, e in invited],
        )
    instance.add_dynamic_partitions(companies.name, keys)
    statements = []
    sensor_engine = TeammeterDatabase(url=database_url(engine)).engine()
    count = lambda *_args: statements.append(1)  # noqa: E731
    sa.event.listen(sensor_engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        result = tick(engine, instance)
        elapsed = time.perf_counter() - started
    finally:
        sa.event.remove(sensor_engine, "before_cursor_execute", count)
    assert sorted(requested(result)) == keys[0::2]
    assert len(statements) == 2
    assert elapsed < 5, f"a tick over {COMPANIES} companies took {elapsed:.1f}s"
