"""The signature as Apideck computes it: the canonical form equals what JavaScript's
`JSON.stringify` makes of the recursively key-sorted body (proved against Node.js itself on
generated hostile payloads), and the served receiver accepts a delivery whose body is not in that
form but refuses another key, a changed value and a body that is not JSON."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personio_pipeline.webhooks.signature import canonical_body, canonical_json, is_valid, sign, sign_event
from personio_pipeline_tests.support.net import free_port
from personio_pipeline_tests.support.settings import TEST_API_KEY
from personio_pipeline_tests.support.stores import register
from personio_pipeline_tests.support.webhook_events import employee_event, signed_request

# What Apideck's documentation shows: sort every object's keys (Object.keys(o).sort()), arrays
# keep their order, JSON.stringify the result. Reads base64 bodies, one a line; writes base64.
NODE_CANONICAL = r"""
const readline = require('readline');
const sortKeys = (value) => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.keys(value).sort().reduce((sorted, key) => { sorted[key] = sortKeys(value[key]); return sorted; }, {});
};
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const body = Buffer.from(line, 'base64').toString('utf8');
  let out;
  try { out = 'ok:' + Buffer.from(JSON.stringify(sortKeys(JSON.parse(body))), 'utf8').toString('base64'); }
  catch (error) { out = 'error:' + error.name; }
  process.stdout.write(out + '\n');
});
"""


@pytest.fixture(scope="module")
def node_canonical():
    """A Node.js process that answers each body with Apideck's canonical form of it."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing: CI must prove the canonical form against JSON.stringify")
        pytest.skip("node (Node.js) is not installed: the canonical form cannot be compared with JSON.stringify")
    process = subprocess.Popen([node, "-e", NODE_CANONICAL], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def canonical(body: bytes) -> bytes | None:
        process.stdin.write(base64.b64encode(body).decode() + "\n")
        process.stdin.flush()
        kind, _, value = process.stdout.readline().strip().partition(":")
        return base64.b64decode(value) if kind == "ok" else None

    yield canonical
    process.stdin.close()
    process.wait(timeout=10)


# Strings that break naive serialisers: quotes, backslashes, every C0 control, DEL, U+2028/U+2029,
# lone surrogates (high and low), astral characters, non-ASCII letters, and keys that JavaScript
# orders as array indexes ("0", "10", "4294967294") next to ones it does not ("01", "-1", "4294967295").
HOSTILE_CHARACTERS = st.sampled_from(
    ['"', "\\", "/", "\x7f", "\u2028", "\u2029", "\ud800", "\udfff", "\U0001f600", "\ufeff", "ß", "Ł", "ø", "中",
     "\ue000", "\uffff", "a", "B", "0", "9", " ", "e"] + [chr(c) for c in range(0x20)])
TEXT = st.text(HOSTILE_CHARACTERS, max_size=12) | st.text(max_size=8)
KEYS = TEXT | st.sampled_from(["0", "1", "10", "2", "01", "-1", "1.5", "4294967294", "4294967295", "payload",
                               "Z", "a", "é", "\U0001f600", "\uff5e"])
NUMBERS = (
    st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1.0, -1.5, 1e21, 1e20, 1e-7, 1e-6, 123456789.125, 5e-324, 1.7976931348623157e308,
                       0.1, 100.0, 2**53 + 1, 10**21, 10**400])
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


@st.composite
def deliveries(draw) -> bytes:
    """A body as a sender might encode a document: any key order, whitespace or not, non-ASCII
    escaped or not, a duplicate key now and then (JSON.parse keeps the last)."""
    document = {"payload": draw(DOCUMENTS)}
    indent = draw(st.sampled_from([None, 0, 2]))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]))
    text = json.dumps(_shuffled(document, draw), indent=indent, separators=separators, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        text = text[:-1] + ',"payload":' + json.dumps(draw(DOCUMENTS)) + "}"  # a duplicate top-level key
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate can only travel escaped
        return json.dumps(json.loads(text)).encode()


def _shuffled(value, draw):
    if isinstance(value, dict):
        keys = draw(st.permutations(list(value)))
        return {key: _shuffled(value[key], draw) for key in keys}
    if isinstance(value, list):
        return [_shuffled(item, draw) for item in value]
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=deliveries())
def test_the_canonical_form_is_what_json_stringify_makes_of_the_sorted_body(node_canonical, body):
    expected = node_canonical(body)
    assert expected is not None, body
    assert canonical_body(body) == expected
    assert is_valid(body, TEST_API_KEY, sign(expected, TEST_API_KEY))


@pytest.mark.parametrize("body", [
    b'{"b":1,"a":[{"d":1.0,"c":1e21}],"A":-0.0}',
    b'{"x":"\\u2028\\u2029\\ud800\\udc00\\udfff\\u0000\\u001f\\u007f\\"\\\\/"}',
    b'{"10":1,"9":2,"b":3,"01":4,"4294967295":5,"4294967294":6}',
    b'{"n":[1e-7,1e-6,123e-20,0.1,12345678901234567890,1e400,-1e400,5e-324,2.5E+3]}',
    b'{"k":1,"k":2}',
    '{"\U0001f600":1,"\uff5e":2,"é":3}'.encode(),
])
def test_known_hard_cases_match_json_stringify(node_canonical, body):
    assert canonical_body(body) == node_canonical(body)


def test_the_canonical_form_in_figures():
    # Written out, so a reader can see the rules without Node.js.
    assert canonical_json({"b": 1, "a": [{"d": 1.0, "c": 1e21}], "A": -0.0}) == '{"A":0,"a":[{"c":1e+21,"d":1}],"b":1}'
    assert canonical_json({"10": 0, "9": 0, "b": 0, "01": 0}) == '{"9":0,"10":0,"01":0,"b":0}'
    assert canonical_json(["\u2028", "\ud800", "\x00", "\x7f", "ß"]) == '["\u2028","\\ud800","\\u0000","\x7f","ß"]'
    assert canonical_json([1e-7, 1e-6, 0.1, 2**53 + 1, 10**400]) == "[1e-7,0.000001,0.1,9007199254740992,null]"


def test_bodies_that_are_not_json_as_javascript_reads_it_have_only_the_raw_form():
    for body in (b"\xff\xfe not json", b'{"a": NaN}', b'{"a": Infinity}', b"{", b'"\xed\xa0\x80"'):
        assert canonical_body(body) is None
        assert is_valid(body, "k", sign(body, "k"))
        assert not is_valid(body, "k", sign(b"{}", "k"))


def test_either_form_verifies_and_nothing_else_does():
    event = employee_event("acme", "4711", first_name="Zoë")
    spaced = json.dumps(event, indent=2, ensure_ascii=False).encode()
    assert is_valid(spaced, "k", sign_event(event, "k"))  # Apideck: the sorted form
    assert is_valid(spaced, "k", sign(spaced, "k"))  # the bytes as sent
    assert not is_valid(spaced, "other", sign_event(event, "k"))
    assert not is_valid(spaced.replace(b"4711", b"4712"), "k", sign_event(event, "k"))
    assert not is_valid(spaced, "", sign_event(event, ""))
    assert not is_valid(spaced, "k", "") and not is_valid(spaced, "k", None)


@pytest.fixture
def served_receiver(engine, tmp_path):
    """`personio-pipeline webhooks serve` as the operator starts it, on the test database."""
    port = free_port()
    env = {**os.environ, "APIDECK_API_KEY": TEST_API_KEY, "TEAMMETER_DATABASE_URL": engine.url.render_as_string(False),
           "DAGSTER_HOME": str(tmp_path)}
    cli = Path(sys.executable).with_name("personio-pipeline")
    process = subprocess.Popen([str(cli), "webhooks", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the receiver did not answer /healthz within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_served_receiver_accepts_what_apideck_sends_and_refuses_the_rest(engine, served_receiver):
    register(engine, "acme")
    event = employee_event("acme", "4711", first_name="Zoë Łukasz-Nørgaard")
    reordered = {"payload": dict(reversed(list(event["payload"].items())))}
    body = json.dumps(reordered, indent=1, ensure_ascii=False).encode()
    _, headers = signed_request(event)  # signed over the sorted form of the same event
    post = lambda content, headers: httpx.post(f"{served_receiver}/webhooks/apideck", content=content,
                                               headers=headers, timeout=10)
    other_key = {**headers, "x-apideck-signature": sign_event(event, "not-the-api-key")}
    assert post(body, other_key).status_code == 401
    assert post(body.replace(b"4711", b"4712"), headers).status_code == 401
    accepted = post(body, headers)
    assert accepted.status_code == 200 and accepted.json()["stored"] is True
