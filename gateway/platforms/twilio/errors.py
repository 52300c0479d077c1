"""Twilio's error answers, read and mapped to the project's error dictionary (`gateway.domain.errors`).

Guarantees: `read_error` never raises, whatever the body (JSON, HTML from a proxy, nothing); `error_for` maps every
answer to one `SyncError` whose detail names Twilio's code and message and, for a configuration problem, the
variable to fix — never a credential. The transient codes (`rate-limited`, `platform-unavailable`) are exactly
the answers Twilio documents as safe to retry (429/20429) and server or transport failures.

Twilio's error body (REST API 2010, docs/platforms/twilio.md §Errors): `{"code": 21211, "message": "…",
"more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`, sometimes with `detail`/`details`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.domain.errors import SyncError, SyncErrorCode

UNSUBSCRIBED_RECIPIENT = 21610  # "Attempt to send to unsubscribed recipient": the person replied STOP
TOO_MANY_REQUESTS = 20429
AUTHENTICATION = 20003
NOT_FOUND = 20404
INVALID_TO = 21211
UNVERIFIED_TO = 21608  # trial accounts text verified numbers only

#: Codes that mean "this person may not be texted from this sender": the gateway records them as opted out.
OPT_OUT_CODES = frozenset({UNSUBSCRIBED_RECIPIENT})


@dataclass(frozen=True, slots=True)
class TwilioError:
    """One error answer: the HTTP status, Twilio's numeric code (None when the body had none) and its message."""

    status: int
    code: int | None
    message: str
    more_info: str | None = None

    @property
    def blocks_recipient(self) -> bool:
        """True when Twilio refuses the recipient because they opted out (21610)."""
        return self.code in OPT_OUT_CODES


def read_error(status: int, body: bytes | str) -> TwilioError:
    """The error in an answer with HTTP `status` (`body` as received)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        parsed = json.loads(text) if text.strip() else {}
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    code = parsed.get("code")
    try:
        numeric = int(code) if code is not None and not isinstance(code, bool) else None
    except (TypeError, ValueError):
        numeric = None
    message = parsed.get("message")
    more_info = parsed.get("more_info")
    return TwilioError(
        status=status,
        code=numeric,
        message=str(message).strip() if message else f"HTTP {status}",
        more_info=str(more_info) if more_info else None,
    )


def error_for(error: TwilioError, *, credentials: str = "TWILIO_AUTH_TOKEN") -> SyncError:
    """The dictionary error for a Twilio answer. `credentials` names the variables holding the REST credentials
    in use (`TWILIO_AUTH_TOKEN`, or `TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET`)."""
    label = f"Twilio error {error.code}" if error.code is not None else f"Twilio answered HTTP {error.status}"
    detail = f"{label}: {error.message.rstrip('.')}."
    if error.code == UNSUBSCRIBED_RECIPIENT:
        return SyncError(
            SyncErrorCode.INVALID_MESSAGING_STATUS,
            f"{detail} The person replied STOP to this sender; the gateway records them as opted out.",
        )
    if error.code == TOO_MANY_REQUESTS or error.status == 429:
        return SyncError(SyncErrorCode.RATE_LIMITED, detail)
    if error.code == AUTHENTICATION or error.status == 401:
        return SyncError(
            SyncErrorCode.CONFIGURATION,
            f"{detail} Twilio refused the credentials: check TWILIO_ACCOUNT_SID and {credentials}.",
        )
    if error.code == UNVERIFIED_TO:
        return SyncError(SyncErrorCode.CONFIGURATION, f"{detail} A trial account texts verified numbers only.")
    if error.code == INVALID_TO:
        return SyncError(SyncErrorCode.INVALID_PHONE, detail, ("phone",))
    if error.code == NOT_FOUND or error.status == 404:
        return SyncError(SyncErrorCode.NOT_FOUND, detail)
    if error.status >= 500:
        return SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, detail)
    return SyncError(SyncErrorCode.PLATFORM_REJECTED, detail)


def unreachable(reason: str) -> SyncError:
    """Twilio could not be reached at all (connection refused, timeout, TLS)."""
    return SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, f"Twilio could not be reached ({reason}).")


__all__ = [
    "AUTHENTICATION",
    "INVALID_TO",
    "NOT_FOUND",
    "OPT_OUT_CODES",
    "TOO_MANY_REQUESTS",
    "UNSUBSCRIBED_RECIPIENT",
    "UNVERIFIED_TO",
    "TwilioError",
    "error_for",
    "read_error",
    "unreachable",
]
