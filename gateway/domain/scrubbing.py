"""Secrets scrubbing for what the sync log stores (`Sync_Result__c.Request_Body__c`, "secrets removed").

Guarantees: `scrub_secrets` returns a copy in which the value of every key that looks secret
(password, secret, token, authorization, api key, private key, credential, cookie, signature,
session id, client secret — any case, any separator) is replaced by `[REDACTED]`, at any depth of
dicts and lists; JSON text and form-encoded text are scrubbed the same way; in any other text,
`Bearer …`/`Basic …` credentials, `key=value` / `key: value` pairs with a secret-looking key and the
password of a URL (`https://user:pw@host`) are replaced. Other values, and the input, are left untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

REDACTED = "[REDACTED]"

_SECRET_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "apikey",
    "privatekey",
    "credential",
    "cookie",
    "signature",
    "sessionid",
    "accesskey",
    "assertion",
)
_KEY = (
    r"[A-Za-z0-9_.\-]*(?:"
    + "|".join("[_.\\-]?".join(re.escape(c) for c in word) for word in _SECRET_WORDS)
    + r")[A-Za-z0-9_.\-]*"
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}")
_PAIR = re.compile(r"(?i)(\b" + _KEY + r"\b\"?\s*[=:]\s*\"?)([^\s\"&,;]+)")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)([^\s@/]+)(@)")


def is_secret_key(key: str) -> bool:
    """True when a key names a secret (`api_key`, `X-Api-Key`, `clientSecret`, `Authorization`, …)."""
    squashed = re.sub(r"[^a-z0-9]", "", key.casefold())
    return any(word in squashed for word in _SECRET_WORDS)


def scrub_secrets(value: object) -> object:
    """`value` (dict, list, str or scalar) with every secret value replaced by `[REDACTED]`."""
    if isinstance(value, Mapping):
        return {k: REDACTED if isinstance(k, str) and is_secret_key(k) else scrub_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_secrets(v) for v in value]
    if isinstance(value, bytes):
        return scrub_secrets(value.decode("utf-8", errors="replace"))
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def _scrub_text(text: str) -> str:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            pass
        else:
            return json.dumps(scrub_secrets(parsed), ensure_ascii=False)
    if "=" in text and not any(c.isspace() for c in stripped) and "://" not in stripped:
        pairs = parse_qsl(stripped, keep_blank_values=True)
        if pairs:
            return urlencode([(k, REDACTED if is_secret_key(k) else v) for k, v in pairs], safe="[]")
    scrubbed = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    scrubbed = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", scrubbed)
    return _PAIR.sub(_redact_pair, scrubbed)


def _redact_pair(match: re.Match[str]) -> str:
    if match.group(2).casefold() in ("bearer", "basic", "token"):  # already handled: `Authorization: Bearer [REDACTED]`
        return match.group(0)
    return f"{match.group(1)}{REDACTED}"
