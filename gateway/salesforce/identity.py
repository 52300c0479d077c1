"""Which org the gateway serves, as Salesforce itself says when the gateway logs in — shared through Redis.

Salesforce's token response carries `id`, the identity URL `https://<host>/id/<orgId18>/<userId18>` (Salesforce
REST API, OAuth token responses for the JWT bearer, refresh-token and client-credentials flows; docs/
trust-boundaries.md), and the access token itself starts with the 15-character org id and `!`. The org id is taken
from the identity URL, else from the token's prefix; when neither holds one, it stays unknown (nothing is guessed).

Guarantees: `remember_org_id` is called by whichever process logs in (`SalesforceClient`), so the web tier can
check a webhook's `orgId` without logging in itself; the key is per login (login URL, client id, username), so
pointing the gateway at another org never reuses the old org's id; it lives a week past the last login.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from gateway.salesforce.settings import SalesforceSettings

ORG_ID_KEY = "gateway:salesforce:org-id:{}"
ORG_ID_TTL = 7 * 24 * 3600
_IDENTITY_URL = re.compile(r"/id/(00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)/[A-Za-z0-9]{15,18}/?\Z")
_TOKEN_PREFIX = re.compile(r"\A(00D[A-Za-z0-9]{12})!")


def org_id_from_token_response(raw: Mapping[str, Any]) -> str | None:
    """The org id in a token response: the identity URL's, else the access token's 15-character prefix."""
    identity = raw.get("id")
    if isinstance(identity, str) and (match := _IDENTITY_URL.search(identity)):
        return match.group(1)
    token = raw.get("access_token")
    if isinstance(token, str) and (match := _TOKEN_PREFIX.match(token)):
        return match.group(1)
    return None


def org_id_key(settings: SalesforceSettings) -> str:
    login = f"{settings.login_url.rstrip('/').lower()}|{settings.client_id}|{settings.username or ''}"
    return ORG_ID_KEY.format(hashlib.sha256(login.encode()).hexdigest()[:24])


def remember_org_id(redis: Any, settings: SalesforceSettings, org_id: str) -> None:
    redis.set(org_id_key(settings), org_id, ex=ORG_ID_TTL)


def known_org_id(redis: Any, settings: SalesforceSettings) -> str | None:
    value = redis.get(org_id_key(settings))
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
