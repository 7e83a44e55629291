"""The invitation e-mail: subject, plain text and the personal link carrying the one-time token.

Pure: no database, no sending. The person's name goes into the `To` header only through
`build_message(to_name=...)`, which encodes it (a name with CR/LF cannot add headers).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from personio_pipeline.common import settings
from personio_pipeline.notify.mail import build_message


@dataclass(frozen=True)
class InvitationText:
    subject: str
    text: str


def invite_link(token: str, base_url: str | None = None) -> str:
    """The personal link: the token as the last path segment of `base_url` (default: the
    configured `TEAMMETER_INVITE_URL`, see `common/settings.py`)."""
    return f"{(base_url or settings.invite_base_url()).rstrip('/')}/{token}"


def invitation_text(*, display_name: str, company_name: str, link: str) -> InvitationText:
    name, company = _one_line(display_name), _one_line(company_name)
    greeting = f"Hello {name}," if name else "Hello,"
    text = "\n".join(
        [
            greeting,
            "",
            f"{company} uses Teammeter for team coaching, and your team is set up for you.",
            "Open your personal link to activate your account:",
            "",
            link,
            "",
            "The link is for you alone; please do not forward it. If a new invitation reaches you",
            "later, only the newest link works.",
            "",
            "Your Teammeter team",
        ]
    )
    return InvitationText(subject=f"{company} invites you to Teammeter", text=text + "\n")


def build_invitation(
    *, sender: str, to: str, display_name: str, company_name: str, token: str, base_url: str | None = None
) -> EmailMessage:
    """The complete message for one invitation; the token appears only in its link."""
    content = invitation_text(display_name=display_name, company_name=company_name, link=invite_link(token, base_url))
    return build_message(sender=sender, to=to, subject=content.subject, text=content.text, to_name=display_name)


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())
