"""The sandbox's Webhook API and event emitter: subscriptions under `/webhook/webhooks` (as in
webhook.yml) and signed `hris.employee.*` / `vault.connection.*` deliveries to them, so the
event-driven path runs locally end to end.

Like Apideck, the sandbox signs each delivery with the application's API key (the Bearer key
that created the subscription) over the body's canonical form (keys sorted recursively, serialised
as `JSON.stringify` does: `personio_pipeline.webhooks.signature`), and sends a body that is *not*
in that form (keys in delivery order, with whitespace), so a receiver that hashes the raw bytes
alone fails here as it would against Apideck.
A churn day (`advance_day`) emits one event per employee created, changed, terminated or removed
between the previous day and the new one; a Vault connection change emits the matching
`vault.connection.*` event. A URL configured with `SandboxConfig.webhook_url` receives every
event, as if subscribed to `*`.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Mapping

import httpx

from personio_pipeline.sandbox.generator import generate_company
from personio_pipeline.webhooks.signature import sign_event

if TYPE_CHECKING:
    from personio_pipeline.sandbox.config import SandboxHost as SandboxServer
    from personio_pipeline.sandbox.vault_state import SandboxConnection

DEFAULT_SIGNING_KEY = "sandbox-api-key"  # a sandbox that accepts any key signs the configured URL's events with this
DELIVERY_ATTEMPTS = 3
DELIVERY_TIMEOUT_SECONDS = 10.0
_WEBHOOK = re.compile(r"/webhook/webhooks/([^/]+)")
_UNIFIED_APIS = ("hris", "vault")
_EVENT_TYPE = re.compile(r"^(\*|(hris|vault)\.[a-z_-]+(\.[a-z_-]+)*)$")

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, type_name: str, message: str, detail: Any) -> tuple[int, dict[str, Any]]:
    return status, {
        "status_code": status,
        "error": HTTPStatus(status).phrase,
        "type_name": type_name,
        "message": message,
        "detail": detail,
        "ref": f"https://developers.apideck.com/errors#{type_name.lower()}",
    }


def employee_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(event type, employee id) for each employee created, terminated, updated or removed."""
    old = {str(record["id"]): record for record in before}
    new = {str(record["id"]): record for record in after}
    events = []
    for employee_id, record in new.items():
        previous = old.get(employee_id)
        if previous is None:
            events.append(("hris.employee.created", employee_id))
        elif previous != record:
            leaving = record.get("employment_status") in ("terminated", "inactive") and previous.get(
                "employment_status") not in ("terminated", "inactive")
            events.append(("hris.employee.terminated" if leaving else "hris.employee.updated", employee_id))
    events += [("hris.employee.deleted", employee_id) for employee_id in old if employee_id not in new]
    return events


def delivery_body(document: dict[str, Any]) -> bytes:
    """The bytes Apideck might send for `document`: its own key order, whitespace after `:` and `,`,
    non-ASCII text as it is: never the canonical form the signature is computed over."""
    return json.dumps(document, ensure_ascii=False, separators=(", ", ": ")).encode()


class SandboxWebhooks:
    """Subscriptions and deliveries of one sandbox server."""

    def __init__(self, server: "SandboxServer"):
        self.server = server
        self._lock = threading.Lock()
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, str] = {}  # subscription id → the key its events are signed with
        self.deliveries: list[dict[str, Any]] = []  # what was sent: url, event type, consumer, status

    # -- the Webhook API ----------------------------------------------------------------------

    def respond(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        refusal = self._refuse(headers)
        if refusal:
            return refusal
        key = (headers.get("Authorization") or "").partition(" ")[2].strip()
        one = _WEBHOOK.fullmatch(path)
        if path == "/webhook/webhooks" and method == "GET":
            with self._lock:
                data = [dict(hook) for hook in self._subscriptions.values()]
            meta = {"items_on_page": len(data), "cursors": {"previous": None, "current": None, "next": None}}
            links = {"previous": None, "current": f"{self.server.url}/webhook/webhooks", "next": None}
            return 200, {"status_code": 200, "status": "OK", "data": data, "meta": meta, "links": links}
        if path == "/webhook/webhooks" and method == "POST":
            request, problem = self._request(body, create=True)
            if problem:
                return _error(400, "RequestValidationError", "Invalid Params", problem)
            hook_id = uuid.uuid4().hex[:12]
            hook = {
                "id": hook_id,
                "description": request.get("description"),
                "unified_api": request["unified_api"],
                "status": request["status"],
                "disabled_reason": "none",
                "delivery_url": request["delivery_url"],
                "execute_base_url": f"{self.server.url}/webhook/webhooks/{hook_id}/execute",
                "events": list(request["events"]),
                "created_at": _now(),
                "updated_at": _now(),
            }
            self._validate_delivery(hook, key)
            with self._lock:
                self._subscriptions[hook_id], self._keys[hook_id] = hook, key
            return 201, {"status_code": 201, "status": "Created", "data": dict(hook)}
        if one and method in ("GET", "PATCH", "DELETE"):
            hook_id = one.group(1)
            with self._lock:
                hook = self._subscriptions.get(hook_id)
            if hook is None:
                return _error(404, "EntityNotFoundError", "Unknown Resource", f"No webhook with id '{hook_id}'")
            if method == "GET":
                return 200, {"status_code": 200, "status": "OK", "data": dict(hook)}
            if method == "DELETE":
                with self._lock:
                    self._subscriptions.pop(hook_id, None)
                    self._keys.pop(hook_id, None)
                return 200, {"status_code": 200, "status": "OK", "data": dict(hook)}
            request, problem = self._request(body, create=False)
            if problem:
                return _error(400, "RequestValidationError", "Invalid Params", problem)
            updated = {**hook, **request, "updated_at": _now(), "disabled_reason": "none"}
            self._validate_delivery(updated, key)
            with self._lock:
                self._subscriptions[hook_id], self._keys[hook_id] = updated, key
            return 200, {"status_code": 200, "status": "OK", "data": dict(updated)}
        return _error(404, "EntityNotFoundError", "Unknown Resource",
                      f"The sandbox serves GET/POST /webhook/webhooks and GET/PATCH/DELETE /webhook/webhooks/{{id}}, "
                      f"not {method} {path}")

    def _refuse(self, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        config = self.server.config
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "UnauthorizedError", "Unauthorized Request", "Missing authentication")
        if config.api_key is not None and not hmac.compare_digest(token.strip(), config.api_key):
            return _error(401, "UnauthorizedError", "Unauthorized Request", "Invalid API key")
        app_id = headers.get("x-apideck-app-id")
        if not app_id or (config.app_id is not None and app_id != config.app_id):
            return _error(401, "UnauthorizedError", "Unauthorized Request", "Missing or unknown x-apideck-app-id")
        return None

    @staticmethod
    def _request(body: bytes, *, create: bool) -> tuple[dict[str, Any], str | None]:
        """A Create/UpdateWebhookRequest, checked as webhook.yml describes it."""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return {}, "The request body is not valid JSON"
        if not isinstance(request, dict):
            return {}, "The request body must be an object"
        allowed = {"description", "status", "delivery_url", "events"} | ({"unified_api"} if create else set())
        unknown = set(request) - allowed
        if unknown:
            return {}, f"Unknown properties: {sorted(unknown)}"
        missing = [name for name in ("delivery_url", "status", "events", "unified_api") if create and name not in request]
        if missing:
            return {}, f"Missing properties: {missing}"
        if "unified_api" in request and request["unified_api"] not in _UNIFIED_APIS:
            return {}, f"unified_api must be one of {list(_UNIFIED_APIS)} in this sandbox"
        if "status" in request and request["status"] not in ("enabled", "disabled"):
            return {}, "status must be enabled or disabled"
        if "delivery_url" in request and not re.match(r"^https?://", str(request["delivery_url"])):
            return {}, "delivery_url must be an http(s) URL"
        events = request.get("events", [])
        if not isinstance(events, list) or not all(isinstance(e, str) and _EVENT_TYPE.match(e) for e in events):
            return {}, "events must be a list of hris.* / vault.* event types (or *)"
        return request, None

    def _validate_delivery(self, hook: dict[str, Any], key: str) -> None:
        """Apideck checks a delivery URL with a signed POST; a failure disables the subscription."""
        if hook["status"] != "enabled":
            return
        try:
            response = httpx.post(hook["delivery_url"], content=b"{ }", timeout=DELIVERY_TIMEOUT_SECONDS,
                                  headers={"content-type": "application/json", "x-apideck-signature": sign_event({}, key)})
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError:
            ok = False
        if not ok:
            hook.update(status="disabled", disabled_reason="delivery_url_validation_failed")

    # -- emitting events ------------------------------------------------------------------------

    def advance_day(self, day: int, consumer_ids: list[str]) -> dict[str, Any]:
        """Serve churn day `day` from now on and emit the employee events of each company's change
        from the day served before."""
        previous = self.server.config.day
        self.server.config.day = day
        emitted = delivered = 0
        for consumer_id in consumer_ids:
            size = self.server.config.company_size(consumer_id)
            changes = employee_changes(generate_company(consumer_id, size, day=previous),
                                       generate_company(consumer_id, size, day=day))
            counts = self.emit_employee_events(consumer_id, changes)
            emitted, delivered = emitted + counts[0], delivered + counts[1]
        return {"day": day, "previous_day": previous, "events": emitted, "delivered": delivered}

    def emit_employee_events(self, consumer_id: str, changes: list[tuple[str, str]]) -> tuple[int, int]:
        """(events, deliveries accepted) for `changes` = [(event type, employee id)]."""
        delivered = 0
        for event_type, employee_id in changes:
            payload = {
                "event_type": event_type,
                "unified_api": "hris",
                "service_id": "personio",
                "consumer_id": consumer_id,
                "event_id": str(uuid.uuid4()),
                "entity_id": employee_id,
                "entity_url": f"{self.server.url}/hris/employees/{employee_id}",
                "entity_type": "employee",
                "occurred_at": _now(),
            }
            delivered += self._deliver(event_type, payload)
        return len(changes), delivered

    def connection_changed(self, connection: "SandboxConnection") -> int:
        """The Vault event for a connection now in `connection.state`."""
        if connection.state == "revoked":
            event_type = "vault.connection.revoked"
        elif not connection.enabled:
            event_type = "vault.connection.disabled"
        elif connection.state == "callable":
            event_type = "vault.connection.callable"
        else:
            event_type = "vault.connection.updated"
        entity = {**connection.resource(), "consumer_id": connection.consumer_id}
        payload = {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "service_id": "apideck-vault",
            "entity_id": f"{entity['id']}+{connection.consumer_id}",
            "entity_type": "Connection",
            "entity": entity,
            "execution_attempt": 1,
            "occurred_at": _now(),
        }
        return self._deliver(event_type, payload)

    def _targets(self, event_type: str) -> list[tuple[str, str]]:
        """(delivery URL, signing key) of every enabled subscription to `event_type`."""
        config = self.server.config
        with self._lock:
            targets = [
                (hook["delivery_url"], self._keys[hook_id])
                for hook_id, hook in self._subscriptions.items()
                if hook["status"] == "enabled" and ("*" in hook["events"] or event_type in hook["events"])
            ]
        if config.webhook_url:
            targets.append((config.webhook_url, config.api_key or DEFAULT_SIGNING_KEY))
        return targets

    def _deliver(self, event_type: str, payload: dict[str, Any]) -> int:
        document = {"payload": payload}
        body = delivery_body(document)
        accepted = 0
        for url, key in self._targets(event_type):
            headers = {
                "content-type": "application/json",
                "x-apideck-event-type": event_type,
                "x-apideck-idempotency-key": payload["event_id"],
                "x-apideck-signature": sign_event(document, key),
            }
            status = 0
            for attempt in range(DELIVERY_ATTEMPTS):
                try:
                    status = httpx.post(url, content=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS).status_code
                except httpx.HTTPError:
                    status = 0
                if 200 <= status < 300 or 400 <= status < 500:
                    break
                time.sleep(0.2 * 2**attempt)
            with self._lock:
                self.deliveries.append({"url": url, "event_type": event_type, "consumer_id": payload.get("consumer_id")
                                        or payload.get("entity", {}).get("consumer_id"), "status": status,
                                        "at": time.time()})
            accepted += 200 <= status < 300
        return accepted

    def control(self, method: str, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """`/_sandbox/day` (advance the churn day and emit) and `/_sandbox/webhooks/deliveries`."""
        if (method, path) == ("POST", "/_sandbox/day"):
            return 200, self.advance_day(int(payload["day"]), list(payload["companies"]))
        if (method, path) == ("GET", "/_sandbox/webhooks/deliveries"):
            with self._lock:
                return 200, {"deliveries": list(self.deliveries)}
        return None
