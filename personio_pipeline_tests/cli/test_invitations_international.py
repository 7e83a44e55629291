"""`invitations send` after `verify`, through the CLI, for a 50-person company whose people have
internationalised addresses (non-ASCII local parts, IDN domains), served by the sandbox and
synced by the pipeline: one run invites everyone with access exactly once. Through a relay
without SMTPUTF8, the same run invites everyone it can carry and lists the others as failed,
with the reason."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.org import addresses
from personio_pipeline_tests.support.records import person

COMPANY = "intl-gmbh"
NAMES = [
    ("Zoë", "Rossi"), ("Jürgen", "Müller"), ("Ada", "Lovelace"), ("Søren", "Ødegaard"), ("Łukasz", "Wałęsa"),
    ("Émile", "Zola"), ("李", "雷"), ("Иван", "Петров"), ("Γιώργος", "Παπαδόπουλος"), ("Ayşe", "Öztürk"),
]


pytestmark = pytest.mark.slow  # CLI syncs and invitation runs of a 50-person company


def international_people(size: int = 50) -> list[dict]:
    """Addresses built from the names: the name as written (non-ASCII local part), an ASCII
    spelling, or an ASCII spelling on the subsidiary's IDN domain; with HR's case noise."""
    people = []
    for n in range(1, size + 1):
        first, last = NAMES[n % len(NAMES)]
        native = f"{first}.{last}.{n}".lower()
        ascii_name = f"person.{n}"
        address = [f"{native}@acme.example", f"{ascii_name}@acme.example", f"{ascii_name}@bücher-gruppe.example"][n % 3]
        people.append(person(str(n), first, last, email=address.upper() if n % 7 == 0 else address,
                             manager=str((n - 2) // 5 + 1) if n > 1 else None))
    return people


@pytest.fixture
def cli(pipeline_env, sandbox, monkeypatch):
    runner = CliRunner()

    def invoke(*args, ok=True):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    sandbox.set_company(COMPANY, international_people())
    monkeypatch.setenv("SMTP_FROM", "Teammeter <hello@teammeter.example>")
    return invoke


def use_relay(monkeypatch, relay) -> None:
    monkeypatch.setenv("SMTP_HOST", relay.host)
    monkeypatch.setenv("SMTP_PORT", str(relay.port))


def with_access(cli) -> set[str]:
    return {u["email"] for u in json.loads(cli("review", COMPANY, "--format", "json")) if u["has_access"]}


def test_invitations_send_delivers_a_50_person_international_company_in_one_run(cli, start_relay, monkeypatch):
    relay = start_relay(smtputf8=True)
    use_relay(monkeypatch, relay)
    cli("tenants", "add", COMPANY, "--name", "Intl GmbH")
    cli("sync", COMPANY)
    invited = with_access(cli)
    assert len(invited) == 50
    assert sum(not a.rpartition("@")[0].isascii() for a in invited) >= 12  # names as written
    assert sum(not a.rpartition("@")[2].isascii() for a in invited) >= 15  # the IDN subsidiary

    cli("verify", COMPANY)
    cli("invitations", "send", COMPANY)  # one run
    expected = Counter({addresses.sending_form(a).envelope: 1 for a in invited})
    assert Counter(r for to, _ in relay.messages for r in to) == expected
    listed = json.loads(cli("invitations", "list", COMPANY, "--format", "json"))
    assert {row["status"] for row in listed} == {"sent"} and len(listed) == 50

    cli("invitations", "send", COMPANY)  # nobody twice
    assert len(relay.messages) == 50


def test_through_a_relay_without_smtputf8_everyone_else_is_invited_in_the_same_run(cli, start_relay, monkeypatch):
    relay = start_relay(smtputf8=False)
    use_relay(monkeypatch, relay)
    cli("tenants", "add", COMPANY, "--name", "Intl GmbH")
    cli("sync", COMPANY)
    invited = with_access(cli)
    cli("verify", COMPANY)

    output = cli("invitations", "send", COMPANY, ok=False)  # the run fails after recording, for run alerts
    carried = {a for a in invited if not addresses.sending_form(a).smtputf8}
    assert Counter(r for to, _ in relay.messages for r in to) == Counter(
        {addresses.sending_form(a).envelope: 1 for a in carried}
    )
    listed = {row["email"]: row for row in json.loads(cli("invitations", "list", COMPANY, "--format", "json"))}
    for address in invited - carried:
        assert (listed[address]["status"], listed[address]["failure_reason"]) == ("failed", "smtputf8_unsupported")
    assert {listed[a]["status"] for a in carried} == {"sent"}
    table = cli("invitations", "list", COMPANY)
    assert "smtputf8_unsupported" in table and "failure_reason" in table.splitlines()[0]
    assert "smtputf8_unsupported" in output or "failed" in output
