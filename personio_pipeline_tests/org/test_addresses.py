"""The address policy gives email-validator's verdict (normalised form, ASCII form, SMTPUTF8,
or its error message) on every address, fast path or not; and sends an address in the form
the relay can carry (IDNA domain, SMTPUTF8 only for a non-ASCII local part)."""

from __future__ import annotations

import unicodedata

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from personio_pipeline.org import addresses
from personio_pipeline.org.employees import check_email


def reference(address: str) -> addresses.Verdict:
    """email-validator itself, with the policy's options."""
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return addresses.Verdict(None, reason=str(error))
    return addresses.Verdict(result.normalized, result.ascii_email, result.ascii_domain, result.smtputf8)


ATEXT = "abcxyzABCXYZ0189!#$%&'*+-/=?^_`{|}~"
INTERNATIONAL = "éëøßłŁñçüÜıİ李雷ДжйαΩاعहि한글ğşąęžčő"
TRICKY = (
    ".@\"<> \\,;:()[]"  # specials: quoting, display names, second @-signs
    "\u0301\u0308\u0338"  # combining marks (first, or composing: not NFC)
    "\u200b\u200d\u202e\u2066\u00ad"  # zero-width, bidi controls, soft hyphen (format: unsafe)
    "\u00a0\u2003\u2028\u0085\u0007"  # non-ASCII spaces, separators, controls
    "\u037e\u212b\u1fef\u2126\uff20\ufe6b"  # NFC singletons (';' Å ` Ω), full-width and small @
    "\ue000\u0378\U0001f600\U0001d400\u0660\u00b2"  # private use, unassigned, emoji, math, digits
)
local_parts = st.one_of(
    st.text(ATEXT + ".", min_size=1, max_size=20),
    st.text(ATEXT + INTERNATIONAL + ".", min_size=1, max_size=20),
    st.text(ATEXT + INTERNATIONAL + TRICKY, max_size=12),
    st.text(max_size=8),
    st.sampled_from(["zoë.rossi", "ZOË.Rossi", "postmaster", "Info", "e\u0301mile", "émile", "a..b", ".a", "a.", ""]),
    st.integers(55, 260).map(lambda n: "é" * (n // 2) + "x" * (n - n // 2)),  # the length limits
)
domains = st.one_of(
    st.sampled_from(
        [
            "acme.example", "Acme.EXAMPLE", "bücher.de", "xn--bcher-kva.de", "MÜNCHEN.example", "例え.jp",
            "日本。jp", "ｅｘａｍｐｌｅ.com", "acme.example.", "x..com", "-a.com", "a-.com", "ab--c.com",
            "xn--a.com", "xn--zca.com", "localhost", "host.local", "a.invalid", "x.123", "[127.0.0.1]",
            "[IPv6:::1]", "ex ample.com", "a_b.com", "موقع.وزارة-الاتصالات.مصر", "1.xn--4dbc.com",
            "ß.de", "straße.de", "a.b.c.d.e.example", "x" * 63 + ".com", "x" * 64 + ".com",
            ".".join(["y" * 60] * 4) + ".com", ".".join(["ü" * 20] * 5) + ".com", "",
        ]
    ),
    st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,3}\.(com|de|example|xn--p1ai)", fullmatch=True),
    st.text(ATEXT + INTERNATIONAL + ".-", min_size=1, max_size=15).map(lambda label: label + ".com"),
)
whole_addresses = st.one_of(
    st.tuples(local_parts, domains).map(lambda parts: "@".join(parts)),
    st.tuples(local_parts, domains).map(lambda parts: f'"{parts[0]}"@{parts[1]}'),
    st.tuples(local_parts, domains).map(lambda parts: f"Ada <{parts[0]}@{parts[1]}>"),
    st.tuples(local_parts, local_parts, domains).map(lambda parts: "@".join(parts)),
    st.emails(),
    st.text(max_size=30),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whole_addresses)
@example("zoë.rossi@acme.example")
@example("ada@xn--bcher-kva.de")
@example("e\u0301mile@acme.example")  # not NFC: email-validator renormalises
@example("a\u037eb@acme.example")  # GREEK QUESTION MARK becomes ';' under NFC: invalid
@example("\u0301a@acme.example")  # a combining mark first: unsafe
@example("INFO@acme.example")  # RFC 2142 role names are lowercased
@example("é" * 100 + "@acme.example")  # 63 characters would do; 213 bytes is still fine
@example("é" * 127 + "@acme.example")  # too long in UTF-8 bytes only
def test_the_policy_gives_email_validators_verdict_on_every_address(address):
    assert addresses.check(address) == reference(address)


@settings(max_examples=300, deadline=None)
@given(whole_addresses)
def test_the_model_check_is_the_policy_on_the_trimmed_lowercased_address(address):
    verdict = reference(address.strip().lower())
    assert check_email(address) == (verdict.normalized, verdict.reason)


@settings(max_examples=500, deadline=None)
@given(whole_addresses)
def test_an_address_is_sent_with_an_ascii_domain_and_smtputf8_only_for_a_non_ascii_local_part(address):
    verdict = reference(address)
    if not verdict.valid:
        with pytest.raises(addresses.AddressNotValid):
            addresses.sending_form(address)
        return
    form = addresses.sending_form(address)
    local, _, domain = form.envelope.rpartition("@")
    assert domain.isascii() and domain == verdict.ascii_domain
    assert form.smtputf8 is (not local.isascii()) is verdict.smtputf8
    assert form.envelope.isascii() is (not form.smtputf8)
    assert form.header == (verdict.normalized if form.smtputf8 else verdict.ascii_email)
    assert unicodedata.is_normalized("NFC", form.envelope)


def test_idn_domains_go_out_in_idna_form_and_only_non_ascii_local_parts_need_smtputf8():
    plain = addresses.sending_form("ada@bücher.de")
    assert (plain.envelope, plain.header, plain.smtputf8) == ("ada@xn--bcher-kva.de", "ada@xn--bcher-kva.de", False)
    international = addresses.sending_form("zoë@bücher.de")
    assert (international.envelope, international.header, international.smtputf8) == (
        "zoë@xn--bcher-kva.de", "zoë@bücher.de", True,
    )
    assert addresses.needs_smtputf8("zoë.rossi@acme.example") and not addresses.needs_smtputf8("a@acme.example")
    with pytest.raises(addresses.AddressNotValid, match="special-use"):
        addresses.sending_form("ada@host.local")


def test_a_domain_is_validated_once_however_many_people_share_it(monkeypatch):
    calls = []
    real = addresses.validate_email
    monkeypatch.setattr(addresses, "validate_email", lambda *a, **k: calls.append(a) or real(*a, **k))
    addresses._domain.cache_clear()
    for n in range(500):
        assert addresses.check(f"zoë.{n}@once-only.example").valid
        assert addresses.check(f"person.{n}@once-only.example").valid
    assert calls == [("a@once-only.example",)]
