"""Internationalised addresses through a real relay (aiosmtpd on loopback), with SMTPUTF8 on and
off, on SQLite and PostgreSQL: one run delivers every deliverable address exactly once over one
connection; a refused recipient, an address the relay cannot carry and a connection lost after
the data was handed over are each that invitation's problem only, recorded with their reason;
a rerun mails nobody twice."""

from __future__ import annotations

import math
import smtplib

import pytest

from personio_pipeline.invitations import outbox, outcomes
from personio_pipeline.invitations.message import build_invitation
from personio_pipeline.invitations.state import list_invitations
from personio_pipeline.notify.mail import DeliveryError, DeliveryUnknown, FileOutbox, SmtpTransport
from personio_pipeline.org import addresses
from personio_pipeline_tests.support.invitations import SENDER, T0, clock, later, session_send, tokens, verify
from personio_pipeline_tests.support.people import person, sync
from personio_pipeline_tests.support.smtp import received
from personio_pipeline_tests.support.stores import register

COMPANY = "intl"
ASCII = {"1": "ada.lovelace@acme.example", "2": "o'brien+team@acme.example"}
NON_ASCII_LOCAL = {"3": "zoë.rossi@acme.example", "4": "李雷@acme.example", "5": "jürgen@bücher.example"}
IDN_DOMAIN = {"6": "ben@bücher.example"}
REFUSED = {"7": "nobody@acme.example"}
DROPPED = {"8": "dropped@acme.example"}
AFTER_THE_DROP = {str(n): f"person.{n}@acme.example" for n in range(9, 15)}
EVERYONE = {**ASCII, **NON_ASCII_LOCAL, **IDN_DOMAIN, **REFUSED, **DROPPED, **AFTER_THE_DROP}


def envelope(address: str) -> str:
    return addresses.sending_form(address).envelope


@pytest.fixture
def company(engine):
    register(engine, COMPANY, "Ünïcode Gäste GmbH")
    people = [person(e, name=f"Pérson {e}", email=address) for e, address in EVERYONE.items()]
    sync(engine, people, run_id="day-one", consumer_id=COMPANY)
    verify(engine, COMPANY)
    return engine


def deliver(engine, relay, at=T0, **options) -> outbox.DeliveryReport:
    with SmtpTransport(relay.host, relay.port, timeout_seconds=5) as transport:
        return outbox.deliver(engine, COMPANY, session_send(transport), clock=clock(at), **options)


def listed(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {row["employee_id"]: row for row in list_invitations(conn, COMPANY, now=later(0))}


@pytest.mark.parametrize("smtputf8", [True, False], ids=["smtputf8", "ascii-only-relay"])
def test_one_run_delivers_every_deliverable_address_once_and_nobody_twice(company, start_relay, smtputf8):
    relay = start_relay(smtputf8=smtputf8)
    relay.refuse = {envelope(a): "550 5.1.1 no such user" for a in REFUSED.values()}
    relay.drop_after_data = {envelope(a) for a in DROPPED.values()}
    deliverable = {**ASCII, **IDN_DOMAIN, **DROPPED, **AFTER_THE_DROP, **(NON_ASCII_LOCAL if smtputf8 else {})}

    report = deliver(company, relay)

    assert received(relay) == {envelope(a): 1 for a in deliverable.values()}
    assert envelope(IDN_DOMAIN["6"]) == "ben@xn--bcher-kva.example"  # the IDNA form, no SMTPUTF8 needed
    assert report.stopped_by is None and report.not_attempted == 0
    rows = listed(company)
    assert {e for e, row in rows.items() if row["status"] == "sent"} == set(deliverable) - set(DROPPED)
    assert [e for e, row in rows.items() if row["status"] == "ambiguous"] == ["8"]  # only the dropped one
    assert rows["8"]["failure_reason"] == "delivery_unknown"
    assert (rows["7"]["status"], rows["7"]["failure_reason"]) == ("pending", "recipient_refused")
    assert "550" in rows["7"]["last_error"] and report.errors["7"] == "recipient_refused 550"
    if not smtputf8:
        for employee in NON_ASCII_LOCAL:
            assert (rows[employee]["status"], rows[employee]["failure_reason"]) == ("failed", "smtputf8_unsupported")
            assert "SMTPUTF8" in rows[employee]["last_error"]
        assert sorted(report.newly_failed) == sorted(NON_ASCII_LOCAL)
        assert report.state.reasons["3"] == "smtputf8_unsupported"
    else:
        assert report.newly_failed == []
        (utf8_message,) = [m for to, m in relay.messages if to == [NON_ASCII_LOCAL["3"]]]
        assert utf8_message["To"].addresses[0].addr_spec == "zoë.rossi@acme.example"
        assert utf8_message["To"].addresses[0].display_name == "Pérson 3"

    # Tokens: one per message, each matching its invitation's stored hash (only the newest works).
    assert all(len(found) == 1 for found in tokens(relay).values())

    # A rerun after every backoff: the refused one is tried again, nobody gets a second message.
    relay.refuse = {}
    again = deliver(company, relay, at=later(30))
    assert again.sent == ["7"] and again.errors == {}
    assert received(relay) == {envelope(a): 1 for a in {**deliverable, **REFUSED}.values()}
    assert deliver(company, relay, at=later(300)).sent == []
    assert listed(company)["8"]["status"] == "ambiguous"


def test_one_connection_carries_the_batch_and_is_reopened_when_the_relay_closes_it(engine, start_relay):
    register(engine, COMPANY)
    people = [person(str(n), email=f"p{n}@acme.example") for n in range(1, 41)]
    sync(engine, people, run_id="day-one", consumer_id=COMPANY)
    verify(engine, COMPANY)
    relay = start_relay()
    relay.close_after = 7  # a per-connection limit: the relay hangs up after 7 messages

    report = deliver(engine, relay)
    assert len(report.sent) == 40 and report.errors == {}
    assert received(relay) == {f"p{n}@acme.example": 1 for n in range(1, 41)}
    assert len(relay.sessions) == math.ceil(40 / 7)  # reopened only when the relay closed it


def test_a_relay_refusing_everyone_stops_the_batch_after_a_run_of_refusals(engine, start_relay):
    register(engine, COMPANY)
    people = [person(str(n), email=f"p{n}@acme.example") for n in range(1, 31)]
    sync(engine, people, run_id="day-one", consumer_id=COMPANY)
    verify(engine, COMPANY)
    relay = start_relay()
    relay.refuse = {f"p{n}@acme.example": "550 5.7.1 relaying denied" for n in range(1, 31)}

    report = deliver(engine, relay)
    assert len(report.retried) == outbox.REFUSALS_IN_A_ROW and report.not_attempted == 30 - outbox.REFUSALS_IN_A_ROW
    assert report.stopped_by == f"{outbox.REFUSALS_IN_A_ROW} refusals in a row"
    assert report.state.counts == {"pending": 30} and relay.messages == []


def test_a_relay_that_is_down_stops_the_batch_at_the_first_invitation(company):
    from personio_pipeline_tests.support.net import free_port

    with SmtpTransport("127.0.0.1", free_port(), timeout_seconds=5) as transport:
        report = outbox.deliver(company, COMPANY, session_send(transport), clock=clock(T0))
    assert report.stopped_by == "relay_unavailable" and report.not_attempted == len(EVERYONE) - 1
    assert report.errors == {report.retried[0]: "relay_unavailable ConnectionRefusedError"}
    assert report.state.counts == {"pending": len(EVERYONE)}
    # The invitation claimed ahead while the first was tried went back unsent: one attempt in all.
    assert report.released == 1 and sum(row["attempts"] for row in listed(company).values()) == 1


@pytest.mark.parametrize(
    "error, certain, stops",
    [
        (DeliveryError("smtputf8_unsupported", "x", scope="recipient", permanent=True), True, False),
        (DeliveryError("recipient_refused", "x", scope="recipient", code=550), True, False),
        (DeliveryError("relay_unavailable", "x", scope="relay", code=421), True, True),
        (DeliveryError("message_not_encodable", "x", scope="recipient", permanent=True), True, False),
        (DeliveryUnknown("lost after data", relay_wide=False), False, False),
        (DeliveryUnknown("timed out after data", relay_wide=True), False, True),
        (addresses.AddressNotValid("no"), True, False),
        (smtplib.SMTPRecipientsRefused({"a@b.example": (550, b"no")}), True, False),
        (smtplib.SMTPRecipientsRefused({"a@b.example": (421, b"closing")}), True, True),
    ],
)
def test_outcomes_follow_what_the_relay_did(error, certain, stops):
    outcome = outcomes.classify(error)
    assert (outcome.certain, outcome.stops_batch) == (certain, stops)


def test_the_file_outbox_writes_utf8_headers_for_a_non_ascii_local_part(tmp_path):
    message = build_invitation(
        sender=SENDER, to="zoë.rossi@acme.example", display_name="Zoë Rossi", company_name="Ünïcode", token="t" * 43
    )
    FileOutbox(str(tmp_path)).send(message)
    (written,) = tmp_path.glob("*.eml")
    assert "To: Zoë Rossi <zoë.rossi@acme.example>".encode() in written.read_bytes()
