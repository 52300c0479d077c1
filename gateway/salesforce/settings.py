"""How the gateway reaches the org: the settings the Salesforce client and its auth are built from.

`gateway.config` reads the `SALESFORCE_*` variables and builds these; nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.settings_base import Secret


@dataclass(frozen=True)
class SalesforceSettings:
    """How the gateway reaches the org. Auth mode follows from what is set: a private key → JWT bearer,
    a refresh token → refresh-token grant, otherwise client credentials."""

    login_url: str
    client_id: str
    username: str | None = None
    private_key: Secret | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    ca_bundle: str | None = None
    api_version: str = "62.0"
    budget_share: float = 0.8
    daily_budget: int | None = None
    opt_out_reserve: float = 0.1  # share of the budget only opt-outs may spend (`usage.Lane`)
    bulk_query_threshold: int = 10_000
    bulk_ingest_threshold: int = 2_000

    @property
    def auth_mode(self) -> str:
        if self.private_key and self.username:
            return "jwt-bearer"
        if self.refresh_token:
            return "refresh-token"
        return "client-credentials"
