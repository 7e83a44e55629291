"""The invitation message: the link carries the token under the configured base URL, and names
from HR data cannot add headers (checked on the bytes and through a real SMTP server)."""

from __future__ import annotations

from email import message_from_bytes, policy

from personio_pipeline.common.settings import DEFAULT_INVITE_URL
from personio_pipeline.invitations.message import (
    build_invitation,
    invitation_text,
    invite_link,
)
from personio_pipeline.notify.mail import SmtpTransport

EVIL_NAME = "Eve Ek\r\nBcc: evil@x"
EXPECTED_HEADERS = {
    "From", "To", "Subject", "Date", "Message-ID", "Content-Type", "Content-Transfer-Encoding", "MIME-Version"
}


def test_link_uses_the_configured_base_url(monkeypatch):
    monkeypatch.delenv("TEAMMETER_INVITE_URL", raising=False)
    assert invite_link("tok") == f"{DEFAULT_INVITE_URL}/tok"
    monkeypatch.setenv("TEAMMETER_INVITE_URL", "https://teammeter.example.com/join/")
    assert invite_link("tok") == "https://teammeter.example.com/join/tok"


def test_text_names_the_company_and_person_and_carries_the_link():
    content = invitation_text(display_name="Ada  Admin", company_name="ACME GmbH", link="https://x.test/invite/abc")
    assert content.subject == "ACME GmbH invites you to Teammeter"
    assert content.text.startswith("Hello Ada Admin,\n")
    assert "\nhttps://x.test/invite/abc\n" in content.text


def test_a_name_with_crlf_adds_no_header():
    message = build_invitation(
        sender="Teammeter <invite@teammeter.example>", to="eve@acme.test", display_name=EVIL_NAME,
        company_name="ACME\r\nBcc: evil@x GmbH", token="tok",
    )
    raw = message.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert set(parsed.keys()) == EXPECTED_HEADERS
    assert parsed["Bcc"] is None
    assert not any(line.lower().startswith(b"bcc") for line in raw.splitlines())
    assert [address.addr_spec for address in parsed["To"].addresses] == ["eve@acme.test"]
    assert "\n" not in parsed["Subject"]


def test_a_name_with_crlf_reaches_only_its_recipient(smtp_server):
    message = build_invitation(
        sender="invite@teammeter.example", to="eve@acme.test", display_name=EVIL_NAME,
        company_name="ACME GmbH", token="tok",
    )
    SmtpTransport(smtp_server.host, smtp_server.port).send(message)
    [(recipients, delivered)] = smtp_server.messages
    assert recipients == ["eve@acme.test"]
    assert set(delivered.keys()) == EXPECTED_HEADERS
    assert delivered["To"].addresses[0].addr_spec == "eve@acme.test"
