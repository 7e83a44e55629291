"""The outbox protocol against a real SMTP server on loopback, on SQLite and PostgreSQL:
invitations only after verification, exactly one message per eligible person, outages that
lose nothing and send nothing twice, crashes between claim and send left for an operator,
concurrent senders, and tokens whose only trace in the store is their hash."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest
import sqlalchemy as sa

from personio_pipeline.invitations import claims, eligibility, outbox, outcomes
from personio_pipeline.invitations.decisions import (
    InvitationDecisionError,
    confirm_delivered,
    release_stale,
    retry_failed,
)
from personio_pipeline.invitations.due import due_work
from personio_pipeline.invitations.state import format_invitations, list_invitations
from personio_pipeline.reporting.review import review_users
from personio_pipeline.store import hand_edits
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.schema import invitations
from personio_pipeline_tests.support.invitations import (
    COMPANY,
    INVITED_ON_DAY_ONE,
    T0,
    clock,
    email_of,
    invitation_id,
    later,
    rows,
    smtp_send,
    tokens,
    verify,
)
from personio_pipeline_tests.support.net import free_port
from personio_pipeline_tests.support.people import day_one, person, replaced, sync
from personio_pipeline_tests.support.smtp import received
from personio_pipeline_tests.support.stores import dump

EVERYONE_ONCE = {email_of(e): 1 for e in INVITED_ON_DAY_ONE}


def deliver(engine, inbox, at=T0, send=None, **options) -> outbox.DeliveryReport:
    return outbox.deliver(engine, COMPANY, send or smtp_send(inbox), clock=clock(at), **options)


def statuses(engine) -> dict[str, str]:
    return {employee: status for employee, (status,) in rows(engine, "status").items()}


# -- who is invited, and when ------------------------------------------------------------------------


def test_nothing_is_queued_or_sent_before_verification(acme, smtp_server):
    before = dump(acme)
    with pytest.raises(eligibility.NotVerifiedError, match=r"personio-pipeline review acme.*personio-pipeline verify acme"):
        deliver(acme, smtp_server)
    with pytest.raises(eligibility.NotVerifiedError), acme.begin() as conn:
        eligibility.enqueue_eligible(conn, COMPANY, T0)
    assert dump(acme) == before
    assert smtp_server.messages == []


def test_each_eligible_person_gets_exactly_one_message_and_a_second_run_sends_nothing(verified, smtp_server):
    report = deliver(verified, smtp_server)
    assert (report.enqueued, sorted(report.sent, key=int)) == (7, list(INVITED_ON_DAY_ONE))
    assert received(smtp_server) == EVERYONE_ONCE
    assert report.state.counts == {"sent": 7} and not report.had_delivery_errors
    assert set(statuses(verified).values()) == {"sent"}

    again = deliver(verified, smtp_server, at=later(60))
    assert (again.enqueued, again.sent, len(smtp_server.messages)) == (0, [], 7)
    assert (again.not_attempted, again.released, again.stopped_by) == (0, 0, None)
    with verified.connect() as conn:
        invited = {row["employee_id"]: row["invited"] for row in review_users(conn, COMPANY)}
    assert invited == {e: e in INVITED_ON_DAY_ONE for e in invited} and invited["5"] is False


def test_the_link_token_matches_the_stored_hash_and_is_never_stored(verified, smtp_server):
    deliver(verified, smtp_server)
    sent = tokens(smtp_server)
    stored = {employee: token_hash for employee, (token_hash,) in rows(verified, "token_hash").items()}
    assert {address: claims.hash_token(t) for address, (t,) in sent.items()} == {
        email_of(e): h for e, h in stored.items()
    }
    assert len({t for (t,) in sent.values()}) == 7 and all(len(t) >= 43 for (t,) in sent.values())
    everything = repr(dump(verified))
    assert not any(t in everything for (t,) in sent.values())


def test_a_person_given_an_email_by_a_coach_later_is_invited_on_the_next_run(verified, smtp_server):
    deliver(verified, smtp_server)
    with company_transaction(verified) as conn:
        hand_edits.set_email(conn, COMPANY, "5", "Eve.Ek@Acme-GmbH.com")
    report = deliver(verified, smtp_server, at=later(10))
    assert (report.enqueued, report.sent) == (1, ["5"])
    assert received(smtp_server) == {**EVERYONE_ONCE, "eve.ek@acme-gmbh.com": 1}


def test_a_new_hire_from_a_later_sync_is_invited_and_nobody_else_again(verified, smtp_server):
    deliver(verified, smtp_server)
    sync(verified, [*day_one(), person("10", name="Jo Jung")], run_id="day-two")
    report = deliver(verified, smtp_server, at=later(10))
    assert report.sent == ["10"]
    assert received(smtp_server) == {**EVERYONE_ONCE, email_of("10"): 1}


def test_a_pending_invitation_waits_while_its_person_has_no_access(verified, smtp_server):
    with verified.begin() as conn:
        eligibility.enqueue_eligible(conn, COMPANY, T0)
    leavers = [replaced(p, status="terminated") if p.employee_id == "2" else p for p in day_one()]
    sync(verified, leavers, run_id="leaver")
    report = deliver(verified, smtp_server)
    assert "2" not in report.sent and email_of("2") not in received(smtp_server)
    assert statuses(verified)["2"] == "pending" and report.state["pending"] == 1
    with verified.connect() as conn:
        assert COMPANY not in due_work(conn, later(60))  # nothing for the sensor to do


# -- outages --------------------------------------------------------------------------------------------


def test_smtp_451_sends_nothing_records_the_attempt_and_recovery_delivers_everyone_once(verified, smtp_server):
    smtp_server.fail_with = "451 4.3.0 try again later"
    report = deliver(verified, smtp_server)
    assert report.sent == [] and smtp_server.messages == []
    assert (report.retried, report.not_attempted, report.errors) == (["1"], 6, {"1": "relay_unavailable 451"})
    assert report.stopped_by == "relay_unavailable"  # a temporary failure of DATA is the relay's
    assert report.had_delivery_errors and report.state.counts == {"pending": 7}
    attempts = rows(verified, "status", "attempts", "last_error", "token_hash")
    assert attempts["1"][:2] == ("pending", 1) and "451" in attempts["1"][2] and attempts["1"][3] is None
    assert all(attempts[e][:2] == ("pending", 0) for e in INVITED_ON_DAY_ONE[1:])

    smtp_server.fail_with = None
    recovered = deliver(verified, smtp_server, at=later(6))
    assert sorted(recovered.sent, key=int) == list(INVITED_ON_DAY_ONE)
    assert received(smtp_server) == EVERYONE_ONCE
    stored = rows(verified, "token_hash")
    assert {a: claims.hash_token(t) for a, (t,) in tokens(smtp_server).items()} == {
        email_of(e): h for e, (h,) in stored.items()
    }


def test_a_stopped_server_sends_nothing_and_recovery_delivers_everyone_once(verified, smtp_server):
    down = smtp_send(smtp_server, port=free_port())  # nothing listens there: connection refused
    for minute in (0, 6, 17):
        report = deliver(verified, smtp_server, at=later(minute), send=down)
        assert report.sent == [] and report.errors == {report.retried[0]: "relay_unavailable ConnectionRefusedError"}
    # An outage costs one attempt per run, spread over the queue (fewest attempts first).
    assert sorted(a for (a,) in rows(verified, "attempts").values()) == [0, 0, 0, 0, 1, 1, 1]
    assert smtp_server.messages == [] and set(statuses(verified).values()) == {"pending"}

    report = deliver(verified, smtp_server, at=later(60))
    assert sorted(report.sent, key=int) == list(INVITED_ON_DAY_ONE)
    assert received(smtp_server) == EVERYONE_ONCE


def test_after_max_attempts_an_invitation_fails_for_good_and_is_not_queued_again(verified, smtp_server):
    smtp_server.fail_with = "451 4.3.0 try again later"
    runs = [deliver(verified, smtp_server, at=later(minute), max_attempts=2) for minute in range(0, 80, 5)]
    # One attempt per run, fewest attempts first: seven retries, then the first failure for good.
    assert [r.retried for r in runs[:7]] == [[e] for e in INVITED_ON_DAY_ONE]
    assert [(r.retried, r.newly_failed) for r in runs[7:9]] == [([], ["1"]), ([], ["2"])]
    assert runs[8].state.failed == ["1", "2"] and runs[8].state["failed"] == 2
    assert runs[-1].state.counts == {"failed": 7} and smtp_server.messages == []
    assert rows(verified, "status", "attempts")["1"] == ("failed", 2)

    smtp_server.fail_with = None
    after = deliver(verified, smtp_server, at=later(90), max_attempts=2)
    assert after.enqueued == 0 and after.sent == [] and smtp_server.messages == []

    with company_transaction(verified) as conn:  # the operator tries again
        assert retry_failed(conn, COMPANY, [invitation_id(verified, "1")]) == [invitation_id(verified, "1")]
    assert deliver(verified, smtp_server, at=later(95)).sent == ["1"]
    assert received(smtp_server) == {email_of("1"): 1}


def test_a_failed_invitation_is_replaced_once_the_address_is_corrected(verified, smtp_server):
    smtp_server.fail_with = "451 4.3.0 try again later"
    deliver(verified, smtp_server, max_attempts=1)
    smtp_server.fail_with = None
    with company_transaction(verified) as conn:
        hand_edits.set_email(conn, COMPANY, "1", "ada@acme-gmbh.com")
    report = deliver(verified, smtp_server, at=later(5))
    assert report.enqueued == 1 and "1" in report.sent
    assert received(smtp_server)["ada@acme-gmbh.com"] == 1 and email_of("1") not in received(smtp_server)
    assert report.state.failed == ["1"]  # the old one stays as history, reported
    with verified.connect() as conn:
        listed = list_invitations(conn, COMPANY)
    assert [(r["email"], r["status"]) for r in listed if r["employee_id"] == "1"] == [
        (email_of("1"), "failed"),
        ("ada@acme-gmbh.com", "sent"),
    ]


def test_a_refused_recipient_does_not_stop_the_others(verified, smtp_server):
    real = smtp_send(smtp_server)

    def send(claim):
        if claim.employee_id == "3":
            raise smtplib.SMTPRecipientsRefused({claim.email: (550, b"no such user")})
        real(claim)

    report = deliver(verified, smtp_server, send=send)
    assert report.retried == ["3"] and report.errors == {"3": "SMTPRecipientsRefused 550"}
    assert len(report.sent) == 6 and report.not_attempted == 0


# -- crashes and unknown outcomes -----------------------------------------------------------------------


def test_a_crash_between_claim_and_send_is_reported_not_resent_and_released_by_an_operator(verified, smtp_server):
    with verified.begin() as conn:
        eligibility.enqueue_eligible(conn, COMPANY, T0)
    crashed = invitation_id(verified, "4")
    with verified.begin() as conn:  # the sender claims, then dies before sending
        assert claims.claim(conn, crashed, T0).employee_id == "4"

    soon = deliver(verified, smtp_server, at=later(5))
    assert "4" not in soon.sent and soon.state.counts == {"sent": 6, "claimed": 1}
    late = deliver(verified, smtp_server, at=later(16))
    assert late.sent == [] and late.state.ambiguous == ["4"] and late.state["ambiguous"] == 1
    assert statuses(verified)["4"] == "ambiguous" and email_of("4") not in received(smtp_server)
    assert deliver(verified, smtp_server, at=later(120)).sent == []  # never resent on its own
    with verified.connect() as conn:
        assert COMPANY not in due_work(conn, later(120))
        listed = {row["employee_id"]: row for row in list_invitations(conn, COMPANY)}
    assert listed["4"]["status"] == "ambiguous" and "sender stopped" in listed["4"]["last_error"]
    assert not any("token" in column for column in listed["4"])

    with company_transaction(verified) as conn:
        with pytest.raises(InvitationDecisionError, match=str(invitation_id(verified, "1"))):
            release_stale(conn, COMPANY, [crashed, invitation_id(verified, "1")])  # 1 was sent
    with company_transaction(verified) as conn:
        assert release_stale(conn, COMPANY, [crashed]) == [crashed]
    with verified.connect() as conn:
        assert COMPANY in due_work(conn, later(121))
    assert deliver(verified, smtp_server, at=later(121)).sent == ["4"]
    assert deliver(verified, smtp_server, at=later(180)).sent == []
    assert received(smtp_server) == EVERYONE_ONCE
    ((token,),) = [tokens(smtp_server)[email_of("4")]]
    assert rows(verified, "token_hash")["4"] == (claims.hash_token(token),)


def test_a_stale_claim_can_be_released_before_a_run_marks_it(verified, smtp_server):
    with verified.begin() as conn:
        eligibility.enqueue_eligible(conn, COMPANY, T0)
    with verified.begin() as conn:
        claimed = claims.claim(conn, invitation_id(verified, "2"), T0)
    with company_transaction(verified) as conn:
        with pytest.raises(InvitationDecisionError):  # still in flight
            release_stale(conn, COMPANY, [claimed.invitation_id], now=later(5))
        release_stale(conn, COMPANY, [claimed.invitation_id], now=later(16))
    assert "2" in deliver(verified, smtp_server, at=later(16)).sent


def test_a_connection_lost_after_the_message_may_have_arrived_is_ambiguous(verified, smtp_server):
    real = smtp_send(smtp_server)

    def send(claim):
        real(claim)
        if claim.employee_id == "1":
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed: timed out")

    report = deliver(verified, smtp_server, send=send)
    assert report.newly_ambiguous == ["1"] and report.state.ambiguous == ["1"] and report.had_delivery_errors
    assert received(smtp_server) == {email_of("1"): 1}  # the run stopped there
    assert deliver(verified, smtp_server, at=later(10)).sent != [] and received(smtp_server) == EVERYONE_ONCE

    with company_transaction(verified) as conn:  # the operator learns it did arrive
        assert confirm_delivered(conn, COMPANY, [invitation_id(verified, "1")])
    assert set(statuses(verified).values()) == {"sent"}
    assert received(smtp_server) == EVERYONE_ONCE


@pytest.mark.parametrize(
    "error, certain",
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("connect timed out"), True),
        (smtplib.SMTPConnectError(421, b"busy"), True),
        (smtplib.SMTPSenderRefused(451, b"later", "a@b"), True),
        (smtplib.SMTPDataError(554, b"no"), True),
        (smtplib.SMTPAuthenticationError(535, b"bad"), True),
        (smtplib.SMTPServerDisconnected("closed"), False),
        (smtplib.SMTPResponseException(500, b"odd QUIT"), False),
        (RuntimeError("unexpected"), False),
    ],
)
def test_only_failures_before_acceptance_count_as_certain(error, certain):
    assert outcomes.delivery_certainly_failed(error) is certain


# -- concurrency -----------------------------------------------------------------------------------------


def test_two_concurrent_senders_never_send_one_invitation_twice(verified, smtp_server):
    sync(verified, [*day_one(), *(person(str(n)) for n in range(10, 40))], run_id="many")
    real = smtp_send(smtp_server)

    def slow(claim):
        time.sleep(0.01)
        real(claim)

    start = threading.Barrier(2)
    reports: list[outbox.DeliveryReport] = []
    errors: list[BaseException] = []

    def sender():
        start.wait()
        try:
            reports.append(outbox.deliver(verified, COMPANY, slow, clock=clock(T0)))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    expected = {**EVERYONE_ONCE, **{email_of(str(n)): 1 for n in range(10, 40)}}
    assert received(smtp_server) == expected
    assert sum(len(r.sent) for r in reports) == 37 and sum(r.enqueued for r in reports) == 37
    assert all(r.sent and r.skipped for r in reports)  # they did overlap: each skipped the other's claims
    assert set(statuses(verified).values()) == {"sent"}


def test_a_second_claim_of_the_same_invitation_gets_nothing(verified):
    with verified.begin() as conn:
        eligibility.enqueue_eligible(conn, COMPANY, T0)
    target = invitation_id(verified, "1")
    with verified.begin() as conn:
        first = claims.claim(conn, target, T0)
    with verified.begin() as conn:
        assert claims.claim(conn, target, T0) is None
    assert first.attempt == 1 and first.token != ""


def test_enqueue_keeps_one_open_invitation_per_person(verified):
    with verified.begin() as conn:
        assert eligibility.enqueue_eligible(conn, COMPANY, T0) == 7
        assert eligibility.enqueue_eligible(conn, COMPANY, T0) == 0
    with verified.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(invitations)).scalar_one() == 7


# -- what the sensor reads -----------------------------------------------------------------------------


def test_due_work_follows_eligibility_and_backoff(acme, smtp_server):
    with acme.connect() as conn:
        assert due_work(conn, T0) == {}  # not verified
    verify(acme)
    with acme.connect() as conn:
        due = due_work(conn, T0)[COMPANY]
    assert len(due.eligible) == 7 and due.retries == []
    first = due.fingerprint()

    smtp_server.fail_with = "451 later"
    deliver(acme, smtp_server)
    with acme.connect() as conn:
        waiting = due_work(conn, later(1))[COMPANY]
        assert (waiting.eligible, len(waiting.retries)) == ([], 6)  # 1 waits for its backoff
        assert len(due_work(conn, later(5))[COMPANY].retries) == 7
        assert waiting.fingerprint() != first
        assert due_work(conn, later(1))[COMPANY].fingerprint() == waiting.fingerprint()
    smtp_server.fail_with = None
    deliver(acme, smtp_server, at=later(5))
    with acme.connect() as conn:
        assert due_work(conn, later(6)) == {}


def test_retry_delays_double_up_to_a_cap():
    assert [claims.retry_delay(n).total_seconds() / 60 for n in range(1, 7)] == [5, 10, 20, 40, 80, 120]


def test_the_invitation_listing_formats_as_a_table(verified, smtp_server):
    deliver(verified, smtp_server)
    with verified.connect() as conn:
        table = format_invitations(list_invitations(conn, COMPANY))
    assert table.splitlines()[0].split() == [
        "id", "employee_id", "name", "email", "status", "attempts", "failure_reason", "last_error", "claimed_at",
        "sent_at",
    ]
    assert len(table.splitlines()) == 2 + 7
