"""The application's Apideck webhook subscription (Webhook API, `/webhook/webhooks`): created or
brought in line with the wanted delivery URL and events, idempotently. The pipeline's own
subscription is recognised by its description, so other subscriptions of the application are
left alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from personio_pipeline.apideck.http import ApideckClient
from personio_pipeline.webhooks.events import SUBSCRIBED_EVENTS

DESCRIPTION = "personio_pipeline: Personio changes to Teammeter"
ACCOUNT = "(webhook subscription)"  # what Apideck errors name instead of a company
MAX_PAGES = 50


@dataclass(frozen=True)
class Subscription:
    id: str
    delivery_url: str
    status: str
    events: tuple[str, ...]
    disabled_reason: str | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "Subscription":
        return cls(str(data.get("id")), str(data.get("delivery_url")), str(data.get("status")),
                   tuple(data.get("events") or ()), data.get("disabled_reason"))

    @property
    def problem(self) -> str | None:
        """Why Apideck delivers nothing to it, with the remedy; None when enabled."""
        if self.status == "enabled":
            return None
        reason = self.disabled_reason or "unknown"
        remedy = {
            "delivery_url_validation_failed": "the receiver did not answer Apideck's signed check: make sure "
            "`personio-pipeline webhooks serve` is reachable at the URL with the same APIDECK_API_KEY, then register again",
            "retry_limit": "deliveries kept failing: check the receiver's logs and health, then register again",
            "usage_limit": "the Apideck account is over its usage limit: check billing",
        }.get(reason, "register again")
        return f"the subscription is disabled ({reason}); remedy: {remedy}"


class ApideckWebhookClient(ApideckClient):
    """Lists, creates and updates webhook subscriptions of the Apideck application."""

    def list(self) -> list[Subscription]:
        """The pipeline's own subscriptions (by description), every page."""
        found, cursor = [], None
        for _ in range(MAX_PAGES):
            response = self._api.request_json(
                "GET", "/webhook/webhooks", ACCOUNT, params={"limit": 200, **({"cursor": cursor} if cursor else {})},
                valid=lambda b: isinstance(b, dict) and isinstance(b.get("data"), list), what="the webhook list",
            )
            found += [Subscription.from_api(item) for item in response["data"]
                      if isinstance(item, dict) and item.get("description") == DESCRIPTION]
            cursor = ((response.get("meta") or {}).get("cursors") or {}).get("next")
            if not cursor:
                break
        return found

    def create(self, delivery_url: str, events: tuple[str, ...]) -> Subscription:
        body = {"description": DESCRIPTION, "unified_api": "hris", "status": "enabled",
                "delivery_url": delivery_url, "events": list(events)}
        response = self._api.request_json("POST", "/webhook/webhooks", ACCOUNT, json=body,
                                          valid=_has_data, what="a webhook subscription")
        return Subscription.from_api(response["data"])

    def update(self, subscription_id: str, delivery_url: str, events: tuple[str, ...]) -> Subscription:
        body = {"status": "enabled", "delivery_url": delivery_url, "events": list(events)}
        response = self._api.request_json("PATCH", f"/webhook/webhooks/{subscription_id}", ACCOUNT, json=body,
                                          valid=_has_data, what="the webhook subscription")
        return Subscription.from_api(response["data"])


def _has_data(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("data"), dict)


def ensure(client: ApideckWebhookClient, delivery_url: str,
           events: tuple[str, ...] = SUBSCRIBED_EVENTS) -> tuple[str, Subscription]:
    """('created' | 'updated' | 'unchanged', the subscription) for `delivery_url` and `events`."""
    ours = client.list()
    if not ours:
        return "created", client.create(delivery_url, events)
    current = ours[0]
    if current.status == "enabled" and current.delivery_url == delivery_url and set(current.events) == set(events):
        return "unchanged", current
    return "updated", client.update(current.id, delivery_url, events)
