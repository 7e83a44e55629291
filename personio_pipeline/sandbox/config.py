"""How a sandbox behaves: company sizes, the churn day it serves, Vault connection states, and the
failures it injects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from personio_pipeline.sandbox.catalogue import DEFAULT_PROFILE, PROFILES
from personio_pipeline.sandbox.vault_state import check_state


@dataclass
class SandboxConfig:
    """Everything is off by default: a well-behaved Apideck serving 120-person companies of the
    diverse profile (see `generate_company`)."""

    default_company_size: int = 120
    company_sizes: dict[str, int] = field(default_factory=dict)  # consumer id → employees
    day: int = 0  # churn day served (see `generate_company`)
    latency_seconds: float = 0.0  # added to every response except the /_sandbox controls
    rate_limit_every: int = 0  # every Nth /hris request answers 429 (0 = never)
    retry_after_seconds: float = 1.0  # the 429's Retry-After
    error_rate: float = 0.0  # share of /hris requests answering 503, drawn from `seed`
    reject_fields: bool = False  # behave like a connector that rejects `fields=`
    ignore_fields: bool = False  # behave like a connector that ignores `fields=` (serves every attribute)
    profile: str = DEFAULT_PROFILE  # "diverse" (as varied as real HR data) or "standard"
    shared_active_addresses: bool = False  # diverse: ~1 % of active people share their team's mailbox
    api_key: str | None = None  # when set, `Authorization: Bearer <key>` must match
    app_id: str | None = None  # when set, `x-apideck-app-id` must match
    seed: int = 0
    strict: bool = False  # validate every /hris and /vault response against hris.yml / vault.yml before sending it
    # Vault state reported for consumers whose connection nobody set; "available" for connect-flow
    # tests. /hris refuses only consumers whose state was set or moved by a Vault session.
    default_connection_state: str = "callable"
    webhook_url: str | None = None  # also deliver every signed webhook event here (sandbox/webhooks.py)
    # Companies with history (sandbox/history.py): pre-hires, leaves, a rehire, a recycled address.
    history_companies: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        check_state(self.default_connection_state)
        if self.profile not in PROFILES:
            raise ValueError(f"unknown sandbox profile {self.profile!r}; use one of {', '.join(PROFILES)}")

    def company_size(self, consumer_id: str) -> int:
        return self.company_sizes.get(consumer_id, self.default_company_size)


class SandboxHost(Protocol):
    """What the sandbox's webhook side (`webhooks.py`) gets of its server: the URL its events point
    at, and the configuration it reads (signing key, extra delivery URL, company sizes) and whose
    churn day `POST /_sandbox/day` moves. The server satisfies it; the webhooks never import it."""

    config: SandboxConfig

    @property
    def url(self) -> str: ...
