"""A local Apideck: unified HRIS `GET /hris/employees` and the Vault calls that connect a
company (`POST /vault/sessions`, `GET /vault/connections/hris/personio`) over real HTTP, with
failures on demand.

The real clients, the demo and the benchmarks talk to it exactly as to unify.apideck.com, so
pagination, retries, error handling and the connect flow are exercised end to end. Tests drive
it through methods (`set_company`, `queue_faults`, `set_connection`, `complete_authorisation`,
`request_log`, `reset`); a sandbox running as its own process is driven the same way under
`/_sandbox/`. Replies and their shapes are `replies.py`, the HTTP plumbing `transport.py`, the
webhook side `webhooks.py`.
"""

from __future__ import annotations

import collections
import hmac
import json
import logging
import random
import re
import secrets
import threading
import time
from typing import Any, Mapping
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from personio_pipeline.sandbox.config import SandboxConfig
from personio_pipeline.sandbox.contract import ContractViolation, shared_contract
from personio_pipeline.sandbox.generator import generate_company
from personio_pipeline.sandbox.replies import (
    ERRORS,
    Listing,
    Reply,
    decode_cursor,
    encode_cursor,
    error_reply,
    fault_reply,
    session_problem,
    unserved,
    validate_fault,
)
from personio_pipeline.sandbox.transport import SandboxHTTPServer
from personio_pipeline.sandbox.vault_state import SERVICE_ID, UNIFIED_API, SandboxConnection, VaultConnections
from personio_pipeline.sandbox.webhooks import SandboxWebhooks

DEFAULT_LIMIT, MAX_LIMIT = 20, 200
STOP_POLL_SECONDS = 0.05  # how long `stop()` may wait; the default 0.5 s adds up over a test suite
CACHED_COMPANIES = 3  # a 100,000-employee company takes ~400 MB with its encodings
_VAULT_CONNECTION = re.compile(r"/vault/connections/([^/]+)/([^/]+)")
_SESSION_TOKEN_BYTES = 32

log = logging.getLogger(__name__)


class SandboxServer:
    """An Apideck-compatible HTTP server on a local port; see `SandboxConfig` for its behaviour."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config or SandboxConfig()
        self._httpd = SandboxHTTPServer((host, port), self)
        self._lock = threading.Lock()
        self._generating = threading.Lock()
        self._companies: collections.OrderedDict[tuple[str, int, int, str, bool], Listing] = collections.OrderedDict()
        self._overrides: dict[str, Listing] = {}
        self._faults: collections.deque[dict[str, Any]] = collections.deque()
        self._log: list[dict[str, Any]] = []
        self._hris_requests = 0
        self._rng = random.Random(self.config.seed)
        self._connections = VaultConnections(lambda: self.config.default_connection_state)
        self.webhooks = SandboxWebhooks(self)  # /webhook/webhooks and signed event deliveries
        self._thread: threading.Thread | None = None
        self._serving = False  # serve_forever is (about to be) running

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "SandboxServer":
        """Serve in a daemon thread and return at once."""
        self._serving = True
        self._thread = threading.Thread(target=self.serve_forever, name=f"sandbox {self.url}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()` or Ctrl-C."""
        self._serving = True
        try:
            self._httpd.serve_forever(poll_interval=STOP_POLL_SECONDS)
        finally:
            self._serving = False

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections, so pooled clients see the server go."""
        if self._serving:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- controls -------------------------------------------------------------------------------

    def set_company(self, consumer_id: str, records: list[dict[str, Any]]) -> None:
        """Serve exactly these records for `consumer_id` (a copy), whatever the size and day."""
        listing = Listing(json.loads(json.dumps(records)))
        with self._lock:
            self._overrides[consumer_id] = listing

    def queue_faults(self, faults: list[Mapping[str, Any]]) -> None:
        """Faults for the next /hris requests that pass the header checks, one per request, in order.

        Kinds: `{"status": 429, "retry_after": 1}`, `{"status": 500|502|503}`,
        `{"status": 400|401|402|403|404|422}`, `{"delay": 2.5}` (then answer normally),
        `{"repeat_cursor": true}` (next page cursor = the cursor just used), `{}` (answer normally).
        Keys combine.
        """
        checked = [validate_fault(fault) for fault in faults]
        with self._lock:
            self._faults.extend(checked)

    def set_connection(self, consumer_id: str, state: str, enabled: bool = True) -> SandboxConnection:
        """Put the consumer's Personio connection in Vault `state`, as Apideck would report it.

        States: available, added, authorized, callable, invalid, and `revoked` (reported as
        `added` with health `revoked`). From now on /hris answers this consumer only while the
        connection is callable and enabled.
        """
        connection = self._connections.set(consumer_id, state, enabled)
        self.webhooks.connection_changed(connection)
        return connection

    def complete_authorisation(self, consumer_id: str) -> SandboxConnection:
        """The customer's admin finished the Vault flow: the connection is callable and enabled."""
        return self.set_connection(consumer_id, "callable", True)

    def connection(self, consumer_id: str) -> SandboxConnection:
        """The consumer's Personio connection as the sandbox holds it."""
        return self._connections.get(consumer_id)

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """API requests served so far: method, path, query, consumer id, status (never credentials)."""
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        """Forget faults, company overrides, connection states and the log; rate limiting and errors
        restart from the seed."""
        self._connections.clear()
        with self._lock:
            self._faults.clear()
            self._overrides.clear()
            self._log.clear()
            self._hris_requests = 0
            self._rng = random.Random(self.config.seed)

    # -- requests -------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one HTTP request; the handler only moves bytes."""
        url = urlsplit(target)
        path = url.path
        if path.startswith("/_sandbox/"):
            return self._control(method, path, body)
        query = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        if self.config.latency_seconds:
            time.sleep(self.config.latency_seconds)
        if path.startswith("/hris/"):
            reply = self._hris(method, path, query, headers)
        elif path.startswith("/vault/"):
            reply = self._vault(method, path, headers, body)
        elif path.startswith("/webhook/"):
            reply = Reply(*self.webhooks.respond(method, path, headers, body))
            reply = self._enforce_contract("webhook.yml", method, path, reply) if self.config.strict else reply
        else:
            reply = error_reply(404, "EntityNotFoundError", "Unknown Resource", f"No route for {method} {path}")
        with self._lock:
            self._log.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "consumer_id": headers.get("x-apideck-consumer-id"),
                    "status": reply.status,
                }
            )
        return reply

    def _hris(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str]) -> Reply:
        if (method, path) != ("GET", "/hris/employees"):
            return error_reply(
                404, "EntityNotFoundError", "Unknown Resource",
                f"The sandbox serves only GET /hris/employees, not {method} {path}",
            )
        reply = self._refuse_headers(headers) or self._refuse_connection(headers["x-apideck-consumer-id"])
        fault: dict[str, Any] = {}
        if reply is None:
            with self._lock:
                fault = self._faults.popleft() if self._faults else {}
                self._hris_requests += 1
                rate_limited = self.config.rate_limit_every and self._hris_requests % self.config.rate_limit_every == 0
                failing = self._rng.random() < self.config.error_rate
            time.sleep(fault.get("delay", 0))
            if "status" in fault:
                default_wait = self.config.retry_after_seconds if fault["status"] == 429 else None
                reply = fault_reply(fault["status"], fault.get("retry_after", default_wait))
            elif rate_limited:
                reply = fault_reply(429, self.config.retry_after_seconds)
            elif failing:
                reply = fault_reply(503)
            else:
                reply = self._employees(headers["x-apideck-consumer-id"], query, fault.get("repeat_cursor", False))
        if self.config.strict:
            reply = self._enforce_contract("hris.yml", method, path, reply)
        return reply

    def _refuse_connection(self, consumer_id: str) -> Reply | None:
        """A 401 for a consumer whose connection was set (or moved by a session) to not callable."""
        connection = self._connections.get(consumer_id)
        if not connection.explicit or connection.callable:
            return None
        type_name, message, _ = ERRORS[401]
        return error_reply(401, type_name, message, connection.refusal)

    def _vault(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        route = _VAULT_CONNECTION.fullmatch(path)
        if path == "/vault/sessions":
            if method != "POST":
                return unserved(method, path)
            reply = self._refuse_headers(headers, service=False) or self._create_session(headers, body)
        elif route:
            if method != "GET":
                return unserved(method, path)
            unified_api, service_id = (unquote(part) for part in route.groups())
            reply = self._refuse_headers(headers, service=False) or self._get_connection(
                headers["x-apideck-consumer-id"], unified_api, service_id
            )
        else:
            return unserved(method, path)
        if self.config.strict:
            reply = self._enforce_contract("vault.yml", method, path, reply)
        return reply

    def _create_session(self, headers: Mapping[str, str], body: bytes) -> Reply:
        problem = session_problem(body)
        if problem:
            return error_reply(400, "RequestValidationError", "Invalid Params", problem)
        self._connections.open_session(headers["x-apideck-consumer-id"])
        token = secrets.token_urlsafe(_SESSION_TOKEN_BYTES)
        data = {"session_uri": f"{self.url}/vault/session/{token}", "session_token": token}
        return Reply(200, {"status_code": 200, "status": "OK", "data": data})

    def _get_connection(self, consumer_id: str, unified_api: str, service_id: str) -> Reply:
        if (unified_api, service_id) != (UNIFIED_API, SERVICE_ID):
            type_name, message, _ = ERRORS[404]
            detail = (
                f"No {unified_api} connection to service '{service_id}'; "
                f"this sandbox serves {UNIFIED_API}/{SERVICE_ID}"
            )
            return error_reply(404, type_name, message, detail)
        body = {"status_code": 200, "status": "OK", "data": self._connections.get(consumer_id).resource()}
        return Reply(200, body)

    def _refuse_headers(self, headers: Mapping[str, str], service: bool = True) -> Reply | None:
        """Apideck's checks, in its order: API key, application, consumer, service (unified APIs only)."""
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error_reply(401, "UnauthorizedError", "Unauthorized Request", "Missing authentication")
        if self.config.api_key is not None and not hmac.compare_digest(token.strip(), self.config.api_key):
            return error_reply(401, "UnauthorizedError", "Unauthorized Request", "Invalid API key")
        app_id = headers.get("x-apideck-app-id")
        if not app_id:
            return error_reply(401, "UnauthorizedError", "Unauthorized Request", "Missing Header: x-apideck-app-id")
        if self.config.app_id is not None and app_id != self.config.app_id:
            return error_reply(401, "UnauthorizedError", "Unauthorized Request", "Unknown application id")
        if not headers.get("x-apideck-consumer-id"):
            return error_reply(
                400, "RequestHeadersValidationError", "Missing Header: x-apideck-consumer-id",
                {"missing": [{"x-apideck-consumer-id": "required"}]},
            )
        service_id = headers.get("x-apideck-service-id") if service else None
        if service_id and service_id != SERVICE_ID:
            detail = f"No HRIS connection to service '{service_id}'; this sandbox serves '{SERVICE_ID}'"
            return error_reply(404, "ConnectionNotFoundError", "Unified API/service not found", detail)
        return None

    def _employees(self, consumer_id: str, query: dict[str, str], repeat_cursor: bool) -> Reply:
        raw_limit = query.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return error_reply(
                400, "RequestValidationError", "Invalid Params",
                f"limit must be an integer from 1 to {MAX_LIMIT}, got '{raw_limit}'",
            )
        fields = None if self.config.ignore_fields else query.get("fields") or None
        if fields and self.config.reject_fields:
            return error_reply(
                400, "RequestValidationError", "Invalid Params",
                "The connector does not support the fields parameter",
            )
        listing = self._listing(consumer_id)
        limit, cursor = int(raw_limit), query.get("cursor") or None
        offset = 0 if cursor is None else decode_cursor(cursor)
        if offset is None or offset > len(listing):
            return error_reply(
                400, "InvalidCursorError", "Invalid Cursor",
                "Use a cursor returned by this API for the same listing",
            )
        current = encode_cursor(offset)
        previous = encode_cursor(max(0, offset - limit)) if offset else None
        following = encode_cursor(offset + limit) if offset + limit < len(listing) else None
        if repeat_cursor:
            following = cursor or current
        body = {
            "status_code": 200,
            "status": "OK",
            "service": SERVICE_ID,
            "resource": "employees",
            "operation": "all",
            "meta": {
                "items_on_page": min(limit, len(listing) - offset),
                "cursors": {"previous": previous, "current": current, "next": following},
                "total_count": len(listing),
            },
            "links": {
                "previous": self._link(query, previous) if previous else None,
                "current": self._link(query, current),
                "next": self._link(query, following) if following else None,
            },
        }
        return Reply(200, body, data=listing.page(offset, offset + limit, fields))

    def _link(self, query: dict[str, str], cursor: str) -> str:
        return f"{self.url}/hris/employees?{urlencode({**query, 'cursor': cursor})}"

    def _listing(self, consumer_id: str) -> Listing:
        """The override if set, else the generated company, built once per (size, day, profile)."""
        with self._lock:
            if consumer_id in self._overrides:
                return self._overrides[consumer_id]
        config = self.config
        key = (consumer_id, config.company_size(consumer_id), config.day, config.profile, config.shared_active_addresses,
               consumer_id in config.history_companies)
        with self._generating:
            if key not in self._companies:
                self._companies[key] = Listing(generate_company(
                    consumer_id, key[1], day=key[2], profile=key[3], shared_active_addresses=key[4], history=key[5]))
                while len(self._companies) > CACHED_COMPANIES:
                    self._companies.popitem(last=False)
            self._companies.move_to_end(key)
            return self._companies[key]

    def _enforce_contract(self, spec_name: str, method: str, path: str, reply: Reply) -> Reply:
        try:
            shared_contract(spec_name).validate_response(path, method, reply.status, json.loads(reply.encoded()))
        except ContractViolation as violation:
            log.error(f"sandbox refused to send a response that breaks {spec_name}: {violation}")
            return error_reply(
                500, "SandboxContractViolation", "The sandbox produced an invalid response",
                "; ".join(violation.problems[:5]),
            )
        return reply

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        """`/_sandbox/` endpoints: the control methods, for a sandbox in another process."""
        try:
            payload = json.loads(body) if body else {}
            company = re.fullmatch(r"/_sandbox/companies/([^/]+)", path)
            if method == "PUT" and company:
                consumer_id = unquote(company.group(1))
                self.set_company(consumer_id, payload["employees"])
                return Reply(200, {"consumer_id": consumer_id, "employees": len(payload["employees"])})
            connection = re.fullmatch(r"/_sandbox/connections/([^/]+)", path)
            if method == "PUT" and connection:
                consumer_id = unquote(connection.group(1))
                held = self.set_connection(consumer_id, payload["state"], payload.get("enabled", True))
                return Reply(
                    200,
                    {"consumer_id": consumer_id, "state": held.state, "enabled": held.enabled, "health": held.health},
                )
            if (method, path) == ("POST", "/_sandbox/faults"):
                self.queue_faults(payload["faults"])
                return Reply(200, {"queued": len(payload["faults"])})
            if (method, path) == ("GET", "/_sandbox/requests"):
                return Reply(200, {"requests": self.request_log})
            if (handled := self.webhooks.control(method, path, payload)) is not None:
                return Reply(*handled)
            if (method, path) == ("POST", "/_sandbox/reset"):
                self.reset()
                return Reply(200, {"reset": True})
        except (ValueError, KeyError, TypeError) as problem:
            return Reply(400, {"error": f"{type(problem).__name__}: {problem}"})
        return Reply(404, {"error": f"no sandbox control {method} {path}"})


def serve(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
    """Run a sandbox in the foreground (for the CLI): print its URL, serve until Ctrl-C."""
    sandbox = SandboxServer(config, host, port)
    print(f"Apideck sandbox listening on {sandbox.url}", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
