"""`GET /api/v1/setup-check`: what the Salesforce package's Setup section asks this gateway.

Guarantees: the answer names the gateway's version, the messaging platform it is configured for (null when none),
the OAuth client that called with the scopes its token holds, and which of the scopes the package needs that client
lacks. It is built from the already-verified token's claims and the settings only, with no I/O, so the call is
cheap; readiness of the gateway's dependencies is `/readyz`'s answer, not this one's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config import Settings

# The scopes the org's Named Credential client needs: the relay posts events, record pages read conversations.
# The admin scope (console status and resend) is reported separately: only the GatewayAdmin principal's client needs it.
PACKAGE_SCOPES = ("conversations:read", "events:write")
ADMIN_SCOPE = "admin"


def setup_check(claims: Mapping[str, Any], settings: Settings, version: str) -> dict[str, Any]:
    """The answer for the client whose token carried `claims` (RFC 9068: `client_id`, space-separated `scope`)."""
    granted = sorted(set(str(claims.get("scope") or "").split()))
    return {
        "version": version,
        "platform": {"name": settings.messaging_platform},
        "client": {"id": claims.get("client_id"), "scopes": granted},
        "requiredScopes": list(PACKAGE_SCOPES),
        "missingScopes": [scope for scope in PACKAGE_SCOPES if scope not in granted],
        "admin": ADMIN_SCOPE in granted,
    }
