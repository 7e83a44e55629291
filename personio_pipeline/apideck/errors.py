"""Errors raised while talking to Apideck, each naming the company and what the operator should do."""

from __future__ import annotations

REMEDIES: dict[int, str] = {
    400: "the request was rejected as invalid; check the service id and parameters, and report it "
    "to the data team if it persists",
    401: "re-authorise the Personio connection in Apideck Vault (or check APIDECK_API_KEY and "
    "APIDECK_APP_ID)",
    402: "the Apideck plan's limit is reached; check billing in the Apideck dashboard",
    403: "the connection lacks permission to read employees; ask the customer's admin to grant "
    "the Personio API credentials access to employee attributes, then re-authorise in Apideck Vault",
    404: "no HRIS connection was found for this company and service; check the consumer id and the "
    "service id, and that Personio is connected in Apideck Vault (`personio-pipeline connect`)",
    422: "Apideck could not process the request for this connection; open the connection in Apideck "
    "Vault and check its settings",
}


class ApideckError(Exception):
    """Base class: every Apideck failure names the company it happened for."""

    def __init__(self, consumer_id: str, message: str):
        self.consumer_id = consumer_id
        super().__init__(message)


class ApideckRequestError(ApideckError):
    """Apideck refused the request (4xx that retrying cannot fix)."""

    def __init__(
        self,
        consumer_id: str,
        status_code: int,
        type_name: str | None,
        api_message: str | None,
        detail: str | None = None,
        what: str = "the employee list",
    ):
        self.status_code = status_code
        self.type_name = type_name or "UnknownError"
        self.api_message = api_message or ""
        self.remedy = REMEDIES.get(status_code, "check the connection in Apideck Vault")
        text = (
            f"Apideck refused {what} for company '{consumer_id}': HTTP {status_code} "
            f"{self.type_name}: {self.api_message or 'no message'}"
        )
        if detail:
            text += f" ({detail})"
        text += f". Remedy: {self.remedy}."
        super().__init__(consumer_id, text)


class ApideckUnavailableError(ApideckError):
    """Apideck kept failing (429, 5xx, timeouts) until the retry budget ran out."""


class ApideckProtocolError(ApideckError):
    """Apideck answered with something the contract does not allow (e.g. a cursor loop)."""
